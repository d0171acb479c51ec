# ngx_http_datastream_module: Redis unreachable, too slow, and back again
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;
use POSIX ();
use Time::HiRes ();

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");
BEGIN { $ENV{TEST_DATASTREAM_REDIS_TIMEOUT} = '300ms' }
add_block_preprocessor(\&datastream_defaults);

our $SK = key_for('sk', 'server');
our $REDIS_PID = redis_pid();

# Freezes Redis: connections are accepted, commands get no answer.
sub freeze { kill 'STOP', $REDIS_PID or die "cannot stop redis: $!\n" }
sub thaw { kill 'CONT', $REDIS_PID }

# Thaws Redis as soon as nginx has logged that it gave up waiting, so the
# next request of the block finds Redis answering again.
sub thaw_after_timeout {
    my $pid = fork() // die "fork: $!\n";
    return if $pid;
    for (1 .. 2000) {
        if (open(my $fh, '<', server_root() . '/logs/error.log')) {
            local $/;
            my $log = <$fh> // '';
            if ($log =~ /datastream: redis \S+ timed out/) {
                thaw();
                POSIX::_exit(0);
            }
        }
        Time::HiRes::sleep(0.005);
    }
    thaw();
    POSIX::_exit(1);
}

END { thaw() }

seed_reference();
run_tests();

__DATA__

=== TEST 1: Redis unreachable: 503 at once
--- http_config
    datastream_redis 127.0.0.1:1;
--- request
GET /api/games
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 503
--- response_body chomp
{"error":"Redis unavailable","success":false}
--- error_log
datastream: redis 127.0.0.1:1 lost: Connection refused



=== TEST 2: Redis not answering: 503 after datastream_redis_timeout
--- init
main::seed_reference();
main::freeze();
--- request
GET /api/games
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 503
--- response_body chomp
{"error":"Redis unavailable","success":false}
--- error_log
datastream: redis 127.0.0.1:
timed out after 300 ms



=== TEST 3: readyz while Redis is not answering
--- init
main::freeze();
--- request
GET /readyz
--- error_code: 503
--- response_body chomp
{"error":"Redis unavailable","success":false}



=== TEST 4: the same worker recovers once Redis answers again
--- init
main::thaw();
main::seed_reference();
main::freeze();
main::thaw_after_timeout();
--- request eval
["GET /api/latest/crash", "GET /api/latest/crash"]
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code eval
[503, 200]
--- response_body eval
['{"error":"Redis unavailable","success":false}',
 '{"round_id":512,"game_id":1,"game_slug":"crash","game_type":"multiplier","finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"11.72\"}","timestamp":1768621542123,"value":"11.72"}']
--- no_error_log
[alert]
[crit]
