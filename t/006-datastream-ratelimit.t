# ngx_http_datastream_module: per-key rate limit shared through Redis
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;
use Digest::SHA qw(sha256_hex);

repeat_each(1);
no_shuffle();
master_on();
workers(2);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");
add_block_preprocessor(\&datastream_defaults);

our $SK = key_for('sk', 'server');
our $PK = key_for('pk', 'browser');
our $TINY = key_for('sk', 'tiny');
our $WS = "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Version: 13\n"
        . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
our $STREAMS = <<'CONFIG';
    location /api/ { datastream_api; }
    location = /_auth { internal; datastream_subscriber_auth; }
    location ~ ^/ws/([a-z0-9_-]+)$ {
        nchan_subscriber websocket; nchan_channel_id game.$1;
        nchan_authorize_request /_auth;
    }
    location ~ ^/sse/([a-z0-9_-]+)$ {
        nchan_subscriber eventsource; nchan_channel_id game.$1;
        nchan_authorize_request /_auth; nchan_subscriber_timeout 1s;
    }
CONFIG

# fills the window of this minute and of the next (in case the minute turns
# during the test) up to the key's limit
sub exhaust {
    my ($key, $count) = @_;
    my $id = substr(sha256_hex($key), 0, 16);
    my $minute = int(time / 60);
    redis('SET', DataStream::Keys::rkey('rate', $id, $_), $count, 'EX', 120) for $minute, $minute + 1;
}

# a test that counts several requests in one window starts with time to
# spare before the minute turns (an SSE request alone lasts a second)
sub clear_of_minute_end {
    sleep 1 while time % 60 > 55;
}

seed_reference();
run_tests();

__DATA__

=== TEST 1: every answer carries the limit headers
--- init
main::seed_reference();
--- request
GET /api/games
--- more_headers eval
"X-API-Key: $main::SK"
--- response_headers_like
X-Ratelimit-Limit: 1000
X-Ratelimit-Remaining: 999
X-Ratelimit-Reset: ([1-9]|[1-5][0-9]|60)



=== TEST 2: publishable keys default to 100 per minute
--- init
main::seed_reference();
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nOrigin: https://a.example"
--- response_headers
X-Ratelimit-Limit: 100
X-Ratelimit-Remaining: 99



=== TEST 3: the key's own limit wins, counted across workers
--- init
main::seed_reference();
main::clear_of_minute_end();
--- request eval
["GET /api/history/crash?limit=1", "GET /api/history/crash?limit=1"]
--- more_headers eval
"X-API-Key: $main::TINY"
--- response_headers eval
["X-Ratelimit-Limit: 2\nX-Ratelimit-Remaining: 1", "X-Ratelimit-Limit: 2\nX-Ratelimit-Remaining: 0"]
--- response_body eval
["[$DataStream::Redis::ROUND{crash}]", "[$DataStream::Redis::ROUND{crash}]"]



=== TEST 4: over the limit
--- init
main::seed_reference();
main::exhaust($main::TINY, 2);
--- request
GET /api/games
--- more_headers eval
"X-API-Key: $main::TINY"
--- error_code: 429
--- response_headers
X-Ratelimit-Limit: 2
X-Ratelimit-Remaining: 0
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"error":"Too many requests, please slow down","success":false}



=== TEST 5: errors count and carry the headers too
--- init
main::seed_reference();
--- request
GET /api/latest/nope
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 404
--- response_headers
X-Ratelimit-Limit: 1000
X-Ratelimit-Remaining: 999



=== TEST 6: minting a token counts against the key
--- init
main::seed_reference();
main::exhaust($main::SK, 1000);
--- request
POST /api/auth/token
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 429
--- response_body chomp
{"error":"Too many requests, please slow down","success":false}



=== TEST 7: the default limits are configurable
--- init
main::seed_reference();
--- config
    location /api/ { datastream_rate_limit_sk 5; datastream_api; }
--- request
GET /api/games
--- more_headers eval
"X-API-Key: $main::SK"
--- response_headers
X-Ratelimit-Limit: 5
X-Ratelimit-Remaining: 4



=== TEST 8: an SSE handshake counts as a request of the key
--- init
main::seed_reference();
main::clear_of_minute_end();
--- config eval
$main::STREAMS
--- request eval
["GET /sse/crash?api_key=$main::TINY", "GET /api/games"]
--- more_headers eval
["Accept: text/event-stream", "X-API-Key: $main::TINY"]
--- error_code eval
[200, 200]
--- response_headers eval
["!X-Ratelimit-Limit", "X-Ratelimit-Limit: 2\nX-Ratelimit-Remaining: 0"]



=== TEST 9: an SSE handshake over the limit
--- init
main::seed_reference();
main::exhaust($main::TINY, 2);
--- config eval
$main::STREAMS
--- request eval
"GET /sse/crash?api_key=$main::TINY"
--- more_headers
Accept: text/event-stream
--- error_code: 429
--- response_headers_like
Content-Type: application/json; charset=utf-8
X-Ratelimit-Limit: 2
X-Ratelimit-Remaining: 0
X-Ratelimit-Reset: ([1-9]|[1-5][0-9]|60)
--- response_body chomp
{"error":"Too many requests, please slow down","success":false}



=== TEST 10: a WebSocket handshake with a token over its key's limit
--- init
main::seed_reference();
main::exhaust($main::TINY, 2);
--- config eval
$main::STREAMS
--- request
GET /ws/crash
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: "
. DataStream::Redis::mint_token(key => $main::TINY, expiry => time + 3600)
--- error_code: 429
--- response_headers
X-Ratelimit-Limit: 2
X-Ratelimit-Remaining: 0
--- response_body chomp
{"error":"Too many requests, please slow down","success":false}



=== TEST 11: a WebSocket handshake within the limit is admitted and counted
--- init
main::seed_reference();
main::exhaust($main::TINY, 1);
--- config eval
$main::STREAMS
--- request
GET /ws/crash
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: "
. DataStream::Redis::mint_token(key => $main::TINY, expiry => time + 3600)
--- error_code: 101
--- response_body:



=== TEST 12: the limit comes before parameters: an invalid game name over the limit is 429
--- init
main::seed_reference();
main::exhaust($main::TINY, 2);
--- config eval
$main::STREAMS
--- request eval
"GET /sse/-bad?api_key=$main::TINY"
--- more_headers
Accept: text/event-stream
--- error_code: 429
--- response_body chomp
{"error":"Too many requests, please slow down","success":false}
