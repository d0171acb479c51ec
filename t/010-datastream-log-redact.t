# ngx_http_datastream_module: no key, token or secret in the error log at any
# level (the module's error log writer), nor in $request of a request nginx
# refuses before the module sees it (the LOG phase handler)
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;
use DataStream::Redis;

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('debug');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");

our $SK  = key_for('sk', 'server');
our $PK  = key_for('pk', 'browser');
our $TOK = DataStream::Redis::mint_token(key => $SK, expiry => time + 3600);

# an unredacted key, token or the secret, anywhere in a line
our $LEAK = qr/(?:sk|pk)_live_[0-9a-fA-F]|tok_[A-Za-z0-9_-]|\Q$ENV{TEST_DATASTREAM_SECRET}\E/;

# A body that matches $want (anything if absent) and holds no leak, as one
# --- response_body_like: Test::Nginx checks only one of response_body_like and
# response_body_unlike in a block.
sub clean_body { my ($want) = @_; $want //= qr//; return qr/\A(?!.*?$LEAK)(?=.*?$want)/s }

# a syslog server for the test of a syslog error log
my $syslog = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
    or die "udp socket: $!\n";
$ENV{TEST_NGINX_SYSLOG_PORT} = $syslog->sockport;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'CONFIG') unless defined $block->config;
    # fails with an error log line carrying the request line
    location /missing/ { root nonexistent; }
    location /own-log/ {
        error_log logs/own.log debug;
        root nonexistent;
    }
    location = /own-log-file { alias logs/own.log; }
    location = /access-log { alias logs/access.log; }
CONFIG
    $block->set_value('http_config', <<'HTTP') unless defined $block->http_config;
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
    large_client_header_buffers 2 1k;
HTTP
    $block->set_value('no_error_log', [$main::LEAK]) unless defined $block->no_error_log;
    datastream_defaults($block);
});

seed_reference();
run_tests();

# TEST 11 logged to the syslog server: its lines went through the writer too
my ($got, $buf) = ('', '');
$syslog->blocking(0);
$got .= $buf while defined $syslog->recv($buf, 65536) && length $buf;
like($got, qr/X-API-Key: \[redacted\]/, 'syslog error log: the header value is redacted');
unlike($got, $LEAK, 'syslog error log: no key, token or secret');

__DATA__

=== TEST 1: a request line nginx refuses (invalid method) is redacted in its info line
--- request eval
"G\@T /missing/crash?x=1&api_key=$main::SK&token=$main::TOK"
--- error_code: 400
--- error_log
client sent invalid method while reading client request line
request: "G@T /missing/crash?x=1&api_key=[redacted]&token=[redacted] HTTP/1.1"



=== TEST 2: a key outside any argument (in the path) is redacted, its prefix stays
--- request eval
"G\@T /missing/$main::SK"
--- error_code: 400
--- error_log
request: "G@T /missing/sk_live_[redacted] HTTP/1.1"



=== TEST 3: a request line too long for the header buffers is redacted
--- request eval
"GET /missing/crash?api_key=$main::SK&pad=" . ('x' x 1200)
--- error_code: 414
--- error_log
client sent too long URI
api_key=[redacted]&pad=



=== TEST 4: a duplicate Authorization header: both values are redacted, the scheme stays
--- request
GET /missing/crash
--- more_headers eval
"Authorization: Bearer $main::SK\nAuthorization: Bearer $main::PK"
--- error_code: 400
--- error_log
client sent duplicate header line: "Authorization: Bearer [redacted]", previous value: "Authorization: Bearer [redacted]"



=== TEST 5: a duplicate Host header carrying a key is redacted
--- request
GET /missing/crash
--- more_headers eval
"Host: $main::SK\nHost: $main::SK"
--- error_code: 400
--- error_log
client sent duplicate host header: "Host: sk_live_[redacted]", previous value: "Host: sk_live_[redacted]"



=== TEST 6: a header line too long for the header buffers is redacted
--- request
GET /missing/crash
--- more_headers eval
"X-API-Key: $main::SK" . ('a' x 1200)
--- error_code: 400
--- error_log
client sent too long header line: "X-API-Key: [redacted]



=== TEST 7: at debug level every header is logged; credential headers are redacted
--- request
GET /missing/crash
--- more_headers eval
"X-API-Key: $main::SK\nX-API-Key: $main::PK\nCookie: session=$main::SK"
--- error_code: 404
--- error_log
http header: "X-API-Key: [redacted]"
http header: "Cookie: [redacted]"



=== TEST 8: a token or a key as WebSocket subprotocol is redacted, other entries stay
--- request
GET /missing/crash
--- more_headers eval
"Sec-WebSocket-Protocol: $main::TOK, chat\nSec-WebSocket-Protocol: chat, $main::SK"
--- error_code: 404
--- error_log
http header: "Sec-WebSocket-Protocol: tok_[redacted], chat"
http header: "Sec-WebSocket-Protocol: chat, sk_live_[redacted]"



=== TEST 9: the error log of a location (a chain of its own) is redacted too
--- request eval
["GET /own-log/$main::SK", "GET /own-log-file"]
--- error_code eval
[404, 200]
--- response_body_like eval
[main::clean_body(), main::clean_body(qr{open\(\) "[^"]*/own-log/sk_live_\[redacted\]" failed})]



=== TEST 10: the access log line ($request) of a refused request is redacted
--- request eval
["G\@T /missing/crash?api_key=$main::SK&token=$main::TOK", "GET /access-log"]
--- error_code eval
[400, 200]
--- response_body_like eval
[main::clean_body(), main::clean_body(qr/"G\@T \/missing\/crash\?api_key=\[redacted\]&token=\[redacted\] HTTP\/1\.1" 400 /)]



=== TEST 11: also when nginx logged nothing about it (error_log at notice), and with a syslog error log
--- log_level: notice
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
    error_log syslog:server=127.0.0.1:$TEST_NGINX_SYSLOG_PORT debug;
--- request eval
["G\@T /missing/crash?api_key=$main::SK", "GET /access-log"]
--- more_headers eval
["", "X-API-Key: $main::SK"]
--- error_code eval
[400, 200]
--- response_body_like eval
[main::clean_body(), main::clean_body(qr/"G\@T \/missing\/crash\?api_key=\[redacted\] HTTP\/1\.1" 400 /)]



=== TEST 12: datastream_log_redact off: nginx's own lines are verbatim again
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
    datastream_log_redact off;
--- request
GET /missing/crash
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 404
--- error_log eval
"http header: \"X-API-Key: $main::SK\""
--- no_error_log
[redacted]"



=== TEST 13: a key sent as a path segment is redacted from $uri in the access log
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
    log_format uri_only '$uri';
    access_log logs/uri.log uri_only;
--- config
    location /missing/ { root nonexistent; }
    location = /uri-log { alias logs/uri.log; }
--- request eval
["GET /missing/$main::SK", "GET /uri-log"]
--- error_code eval
[404, 200]
--- response_body_like eval
[main::clean_body(), main::clean_body(qr{^/missing/sk_live_\[redacted\]$}m)]
