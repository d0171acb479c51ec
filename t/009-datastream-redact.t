# ngx_http_datastream_module: credentials in the query never reach the logs
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");

our $SK = key_for('sk', 'server');
sub token { DataStream::Redis::mint_token(key => $SK, expiry => time + 3600) }

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'CONFIG') unless defined $block->config;
    # a location that fails with an error log line carrying the request line
    location /missing/ { root nonexistent; }
    location = /_auth { internal; datastream_subscriber_auth; }
    location ~ ^/sse/([a-z0-9_-]+)$ {
        nchan_subscriber eventsource; nchan_channel_id game.$1;
        nchan_authorize_request /_auth; nchan_subscriber_timeout 1s;
        access_log logs/ds-access.log ds_access;
    }
    location = /access-log {
        default_type text/plain;
        alias logs/ds-access.log;
    }
CONFIG
    $block->set_value('http_config', <<'HTTP') unless defined $block->http_config;
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
    log_format ds_access escape=json '{"request":"$request","uri":"$uri","status":$status}';
HTTP
    datastream_defaults($block);
});

seed_reference();
run_tests();

__DATA__

=== TEST 1: api_key= and token= values are redacted from the request line in the error log
--- request eval
"GET /missing/crash?x=1&api_key=$main::SK&token=" . main::token() . "&last_event_id=5"
--- error_code: 404
--- error_log
request: "GET /missing/crash?x=1&api_key=[redacted]&token=[redacted]&last_event_id=5 HTTP/1.1"
--- no_error_log
sk_live_
tok_



=== TEST 2: names are matched as nginx matches arguments, without case; other arguments stay
--- request eval
"GET /missing/crash?API_Key=$main::SK&tokens=1&my_token=2&Token="
--- error_code: 404
--- error_log
request: "GET /missing/crash?API_Key=[redacted]&tokens=1&my_token=2&Token=[redacted] HTTP/1.1"
--- no_error_log
sk_live_



=== TEST 3: a request line without credentials is left alone
--- request
GET /missing/crash?api_keys=1&a=b
--- error_code: 404
--- error_log
request: "GET /missing/crash?api_keys=1&a=b HTTP/1.1"



=== TEST 4: the subscriber is still authenticated with the real values; the access log has none
--- request eval
["GET /sse/crash?api_key=$main::SK", "GET /sse/double?token=" . main::token(), "GET /access-log"]
--- more_headers eval
["Accept: text/event-stream", "Accept: text/event-stream", ""]
--- error_code eval
[200, 200, 200]
--- response_body eval
[": hi\n\n:408: 408 Request Timeout\n\n", ": hi\n\n:408: 408 Request Timeout\n\n",
 qq({"request":"GET /sse/crash?api_key=[redacted] HTTP/1.1","uri":"/sse/crash","status":408}\n)
 . qq({"request":"GET /sse/double?token=[redacted] HTTP/1.1","uri":"/sse/double","status":408}\n)]
--- no_error_log
sk_live_
tok_
