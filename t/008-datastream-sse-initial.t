# ngx_http_datastream_module: the SSE "initial" event (datastream_sse_initial)
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;
use IO::Socket::INET;
use POSIX ();

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");

our $SK = key_for('sk', 'server');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'CONFIG') unless defined $block->config;
    location = /_auth { internal; datastream_subscriber_auth; }
    location ~ ^/pub/(.+)$ { nchan_publisher; nchan_channel_id $1; }
    location ~ ^/sse/type/([a-z0-9_-]+)$ {
        nchan_subscriber eventsource; nchan_channel_id type.$1;
        nchan_authorize_request /_auth; nchan_subscriber_timeout 1s;
        datastream_sse_initial on;
    }
    location ~ ^/sse/([a-z0-9_-]+)$ {
        nchan_subscriber eventsource; nchan_channel_id game.$1;
        nchan_authorize_request /_auth; nchan_subscriber_timeout 1s;
        datastream_sse_initial on;
    }
    location ~ ^/plain/([a-z0-9_-]+)$ {
        nchan_subscriber eventsource; nchan_channel_id game.$1;
        nchan_authorize_request /_auth; nchan_subscriber_timeout 1s;
    }
    location ~ ^/ws/([a-z0-9_-]+)$ {
        nchan_subscriber websocket; nchan_channel_id game.$1;
        nchan_authorize_request /_auth;
        datastream_sse_initial on;
    }
CONFIG
    datastream_defaults($block);
});

# publishes to nginx's nchan publisher from a child process after a delay,
# while the test's subscriber request is open
sub publish_later {
    my ($delay, $channel, @messages) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $pid = fork() // die "fork: $!\n";
    return if $pid;
    select(undef, undef, undef, $delay);
    for my $m (@messages) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or POSIX::_exit(1);
        print $s "POST /pub/$channel HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
               . "Content-Length: " . length($m) . "\r\n\r\n$m";
        local $/;
        my $ignored = <$s>;
        close $s;
    }
    POSIX::_exit(0);
}

seed_reference();
run_tests();

__DATA__

=== TEST 1: the first event is "initial" with the latest round, then live messages
--- init
main::seed_reference();
main::publish_later(0.3, 'game.crash', 'live-1', 'live-2');
--- request eval
"GET /sse/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_headers
Content-Type: text/event-stream; charset=utf-8
--- response_body_like eval
qr/\Aevent: initial\ndata: \Q$DataStream::Redis::ROUND{crash}\E\n\n: hi\n\nid: \d+:0\ndata: live-1\n\nid: \d+:\d+\ndata: live-2\n\n/



=== TEST 2: a type channel starts with the newest round of that type
--- request eval
"GET /sse/type/multiplier?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_body eval
"event: initial\ndata: $DataStream::Redis::ROUND{limbo}\n\n: hi\n\n:408: 408 Request Timeout\n\n"



=== TEST 3: resuming with Last-Event-ID: no initial event
--- request eval
"GET /sse/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
Last-Event-ID: 1768621542:0
--- response_body eval
": hi\n\n:408: 408 Request Timeout\n\n"



=== TEST 4: resuming with ?last_event_id=: no initial event
--- request eval
"GET /sse/crash?last_event_id=1768621542:0&api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_body eval
": hi\n\n:408: 408 Request Timeout\n\n"



=== TEST 5: a known game without rounds: no initial event
--- request eval
"GET /sse/slot?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_body eval
": hi\n\n:408: 408 Request Timeout\n\n"



=== TEST 6: an unknown game is still refused, without an event
--- request eval
"GET /sse/nope?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- error_code: 404
--- response_body chomp
{"error":"Game not found","success":false}



=== TEST 7: refused credentials: no event
--- request
GET /sse/crash?api_key=sk_live_nothex
--- more_headers
Accept: text/event-stream
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 8: without datastream_sse_initial nothing changes
--- request eval
"GET /plain/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_body eval
": hi\n\n:408: 408 Request Timeout\n\n"



=== TEST 9: a round added later is the initial event of the next subscriber
--- init
main::seed_reference();
DataStream::Redis::add_round(round_id => 513, game_id => 1, slug => 'crash', type => 'multiplier',
    finished_at => '2026-01-17T03:45:50Z', extras => '{"point": "1.00"}', timestamp => 1768621550000);
--- request eval
"GET /sse/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_body eval
"event: initial\ndata: "
. DataStream::Redis::round_json(round_id => 513, game_id => 1, slug => 'crash', type => 'multiplier',
    finished_at => '2026-01-17T03:45:50Z', extras => '{"point": "1.00"}', timestamp => 1768621550000)
. "\n\n: hi\n\n:408: 408 Request Timeout\n\n"



=== TEST 10: with authentication off the initial event still comes
--- init
main::seed_reference();
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_auth off;
--- request
GET /sse/double
--- more_headers
Accept: text/event-stream
--- response_body eval
"event: initial\ndata: $DataStream::Redis::ROUND{double}\n\n: hi\n\n:408: 408 Request Timeout\n\n"



=== TEST 11: a subscriber that goes away while Redis is slow to answer
--- init
main::seed_reference();
# Redis stops answering for a while: the subscriber leaves meanwhile
my $redis = DataStream::Redis::redis_pid();
kill 'STOP', $redis or die "cannot stop redis: $!\n";
defined(my $pid = fork()) or die "fork: $!\n";
if ($pid == 0) {
    select(undef, undef, undef, 0.8);
    kill 'CONT', $redis;
    POSIX::_exit(0);
}
--- request eval
"GET /sse/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- timeout: 300ms
--- abort
--- wait: 1.5
--- error_code:
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 12: the next subscriber gets its initial event
--- request eval
"GET /sse/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_body eval
"event: initial\ndata: $DataStream::Redis::ROUND{crash}\n\n: hi\n\n:408: 408 Request Timeout\n\n"
