# ngx_http_datastream_module: /healthz, /readyz, /metrics
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;

repeat_each(1);
no_shuffle();
master_on();
workers(2);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");
add_block_preprocessor(\&datastream_defaults);

seed_reference();
run_tests();

__DATA__

=== TEST 1: healthz answers without dependencies
--- http_config
    datastream_redis 127.0.0.1:1;
--- request
GET /healthz
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"status":"ok"}



=== TEST 2: readyz is 200 when Redis answers PING
--- request
GET /readyz
--- response_body chomp
{"status":"ready"}



=== TEST 3: readyz is 503 when Redis is unreachable
--- http_config
    datastream_redis 127.0.0.1:1;
--- request
GET /readyz
--- error_code: 503
--- response_body chomp
{"error":"Redis unavailable","success":false}



=== TEST 4: metrics count answers by route and status, across workers
--- request eval
["GET /healthz", "GET /healthz", "GET /api/games", "GET /metrics"]
--- response_body_like eval
[qr/ok/, qr/ok/, qr/Missing API key/,
 qr/^# HELP datastream_http_requests_total .*
datastream_http_requests_total\{route="games",status="401"\} 1
datastream_http_requests_total\{route="healthz",status="200"\} 2
datastream_http_requests_total\{route="metrics",status="200"\} 1
.*datastream_http_request_duration_seconds_bucket\{route="healthz",le="\+Inf"\} 2
datastream_http_request_duration_seconds_sum\{route="healthz"\} \d+\.\d{3}
datastream_http_request_duration_seconds_count\{route="healthz"\} 2
.*# TYPE datastream_redis_errors_total counter
datastream_redis_errors_total 0
$/s]
--- error_code eval
[200, 200, 401, 200]



=== TEST 5: metrics have the Prometheus content type
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8



=== TEST 6: Redis errors are counted
--- http_config
    datastream_redis 127.0.0.1:1;
--- request eval
["GET /readyz", "GET /metrics"]
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/Redis unavailable/, qr/datastream_redis_errors_total [1-9]\d*\n$/]



=== TEST 7: nchan's figures join the metrics
--- config
    location = /metrics {
        datastream_metrics;
        datastream_metrics_nchan_status /_nchan_status;
    }
    location = /_nchan_status { internal; nchan_stub_status; }
    location ~ ^/pub/(.+)$ { nchan_publisher; nchan_channel_id $1; }
--- request eval
["POST /pub/game.crash\nhello", "GET /metrics"]
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/queued messages: 1/, qr/
# TYPE datastream_nchan_published_messages_total counter
datastream_nchan_published_messages_total 1
.*# TYPE datastream_nchan_channels gauge
datastream_nchan_channels 1
# HELP datastream_nchan_subscribers Connected WebSocket and SSE subscribers.
# TYPE datastream_nchan_subscribers gauge
datastream_nchan_subscribers 0
$/s]
