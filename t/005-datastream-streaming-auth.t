# ngx_http_datastream_module: tokens and nchan subscriber authorization
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;
use Digest::SHA qw(sha256_hex);
use POSIX ();

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");

our $SK = key_for('sk', 'server');
our $PK = key_for('pk', 'browser');
our $WS = "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Version: 13\n"
        . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

# valid for an hour: eval sections are computed before the first block runs
sub token { DataStream::Redis::mint_token(key => $SK, expiry => time + 3600) }

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'CONFIG') unless defined $block->config;
    location /api/ { datastream_api; }
    location = /_auth { internal; datastream_subscriber_auth; }
    location ~ ^/ws/type/([a-z0-9_-]+)$ {
        nchan_subscriber websocket; nchan_channel_id type.$1;
        nchan_authorize_request /_auth;
    }
    location ~ ^/ws/([a-z0-9_-]+)$ {
        nchan_subscriber websocket; nchan_channel_id game.$1;
        nchan_authorize_request /_auth;
    }
    location ~ ^/sse/type/([a-z0-9_-]+)$ {
        nchan_subscriber eventsource; nchan_channel_id type.$1;
        nchan_authorize_request /_auth; nchan_subscriber_timeout 1s;
    }
    location ~ ^/sse/([a-z0-9_-]+)$ {
        nchan_subscriber eventsource; nchan_channel_id game.$1;
        nchan_authorize_request /_auth; nchan_subscriber_timeout 1s;
    }
CONFIG
    datastream_defaults($block);
});

# a secret file as a secret store would mount it, newline included
use File::Temp ();
our $SECRET_FILE = File::Temp->new;
print $SECRET_FILE "secret-from-file\n";
close $SECRET_FILE;
$ENV{TEST_NGINX_DS_SECRET_FILE} = $SECRET_FILE->filename;

seed_reference();
run_tests();

__DATA__

=== TEST 1: minting a token with a secret key
--- init
main::seed_reference();
--- request
POST /api/auth/token
--- more_headers eval
"X-API-Key: $main::SK"
--- response_headers
X-Ratelimit-Limit: 1000
--- response_body_like eval
qr/^\{"token":"tok_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}","expires_in":30\}$/



=== TEST 2: the minted token is the documented format
--- request
POST /api/auth/token
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body_like eval
my $id = substr(Digest::SHA::sha256_hex($main::SK), 0, 16);
my $p = MIME::Base64::encode_base64url("$id.sk.");
$p = substr($p, 0, 20);
qr/^\{"token":"tok_\Q$p\E/



=== TEST 3: minting with a publishable key needs its Origin
--- request
POST /api/auth/token
--- more_headers eval
"X-API-Key: $main::PK\nOrigin: https://evil.example"
--- error_code: 403
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}



=== TEST 4: minting with a token is refused
--- request
POST /api/auth/token
--- more_headers eval
"X-API-Key: " . main::token()
--- error_code: 401
--- response_body chomp
{"error":"Tokens are only accepted on streaming endpoints","success":false}



=== TEST 5: WebSocket with a token as subprotocol; the answer echoes it
--- request
GET /ws/crash
--- more_headers eval
$main::TOK = main::token();
"$main::WS\nSec-WebSocket-Protocol: $main::TOK"
--- error_code: 101
--- response_headers eval
"Sec-WebSocket-Protocol: $main::TOK\nUpgrade: websocket"



=== TEST 6: among several subprotocols the token is chosen and echoed
--- request
GET /ws/type/multiplier
--- more_headers eval
$main::TOK = main::token();
"$main::WS\nSec-WebSocket-Protocol: chat, $main::TOK"
--- error_code: 101
--- response_headers eval
"Sec-WebSocket-Protocol: $main::TOK"



=== TEST 7: WebSocket with an expired token
--- request
GET /ws/crash
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: "
. DataStream::Redis::mint_token(key => $main::SK, expiry => time - 1)
--- error_code: 401
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"error":"Token expired","success":false}



=== TEST 8: WebSocket with a token signed by another secret
--- request
GET /ws/crash
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: "
. DataStream::Redis::mint_token(key => $main::SK, expiry => time + 30, secret => 'other')
--- error_code: 401
--- response_body chomp
{"error":"Invalid token","success":false}



=== TEST 9: WebSocket with a tampered payload
--- request
GET /ws/crash
--- more_headers eval
my $t = main::token();
$t =~ s/^tok_(.)/'tok_' . ($1 eq 'A' ? 'B' : 'A')/e;
"$main::WS\nSec-WebSocket-Protocol: $t"
--- error_code: 401
--- response_body chomp
{"error":"Invalid token","success":false}



=== TEST 10: WebSocket without credentials
--- request
GET /ws/crash
--- more_headers eval
$main::WS
--- error_code: 401
--- response_body chomp
{"error":"Missing API key","success":false}



=== TEST 11: WebSocket for an unknown game fails at once
--- request
GET /ws/nope
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: " . main::token()
--- error_code: 404
--- response_body chomp
{"error":"Game not found","success":false}



=== TEST 12: WebSocket for an unknown type
--- request
GET /ws/type/nope
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: " . main::token()
--- error_code: 404
--- response_body chomp
{"error":"Game type not found","success":false}



=== TEST 13: SSE with ?api_key=
--- request eval
"GET /sse/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- response_headers
Content-Type: text/event-stream; charset=utf-8
--- response_body_like
^: hi



=== TEST 14: SSE with ?token=
--- request eval
"GET /sse/type/color?token=" . main::token()
--- more_headers
Accept: text/event-stream
--- response_body_like
^: hi



=== TEST 15: SSE with a Bearer token
--- request
GET /sse/double
--- more_headers eval
"Accept: text/event-stream\nAuthorization: Bearer " . main::token()
--- response_body_like
^: hi



=== TEST 16: SSE with a publishable key from its Origin
--- request eval
"GET /sse/crash?api_key=$main::PK"
--- more_headers
Accept: text/event-stream
Origin: https://a.example
--- response_body_like
^: hi



=== TEST 17: SSE with a publishable key from another Origin
--- request eval
"GET /sse/crash?api_key=$main::PK"
--- more_headers
Accept: text/event-stream
Origin: https://evil.example
--- error_code: 403
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}



=== TEST 18: SSE with a revoked key
--- init
main::seed_reference();
main::redis('DEL', DataStream::Keys::rkey('apikey', main::sha256_hex($main::SK)));
--- request eval
"GET /sse/crash?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 19: SSE for an unknown game
--- init
main::seed_reference();
--- request eval
"GET /sse/nope?api_key=$main::SK"
--- more_headers
Accept: text/event-stream
--- error_code: 404
--- response_body chomp
{"error":"Game not found","success":false}



=== TEST 20: SSE with a malformed key
--- request
GET /sse/crash?api_key=pk_live_nothex
--- more_headers
Accept: text/event-stream
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 21: the token secret may come from a file
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_file $TEST_NGINX_DS_SECRET_FILE;
--- request
GET /sse/crash
--- more_headers eval
"Accept: text/event-stream\nAuthorization: Bearer "
. DataStream::Redis::mint_token(key => $main::SK, expiry => time + 3600, secret => 'secret-from-file')
--- response_body_like
^: hi



=== TEST 22: a token signed with the environment secret fails against the file secret
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_file $TEST_NGINX_DS_SECRET_FILE;
--- request
GET /sse/crash
--- more_headers eval
"Accept: text/event-stream\nAuthorization: Bearer " . main::token()
--- error_code: 401
--- response_body chomp
{"error":"Invalid token","success":false}



=== TEST 23: an application subprotocol is no credential; ?api_key= still works
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
--- request eval
"GET /ws/crash?api_key=$main::SK"
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: chat"
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat



=== TEST 24: SSE with a publishable key, same-origin without Origin (EventSource)
--- init
main::seed_reference();
--- request eval
"GET /sse/crash?api_key=$main::PK"
--- more_headers
Accept: text/event-stream
Sec-Fetch-Site: same-origin
Referer: https://b.example/
--- response_body_like
^: hi



=== TEST 25: SSE with a publishable key, same-origin Referer of another origin
--- request eval
"GET /sse/crash?api_key=$main::PK"
--- more_headers
Accept: text/event-stream
Sec-Fetch-Site: same-origin
Referer: https://evil.example/
--- error_code: 403
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}



=== TEST 26: the token of a revoked key is refused
--- init
main::seed_reference();
main::redis('DEL', DataStream::Keys::rkey('apikey', main::sha256_hex($main::SK)));
main::redis('SREM', DataStream::Keys::rkey('apikeys'), main::sha256_hex($main::SK));
--- request
GET /ws/crash
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: " . main::token()
--- error_code: 401
--- response_body chomp
{"error":"Invalid token","success":false}



=== TEST 27: a key revoked while cached: its tokens stop working after the key cache TTL
--- http_config
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
    datastream_key_cache_ttl 200ms;
--- init
main::seed_reference();
my $hash = main::sha256_hex($main::SK);
defined(my $pid = fork()) or die "fork: $!\n";
if ($pid == 0) {
    # the first subscriber (open for 1 s) is admitted first
    select(undef, undef, undef, 0.4);
    main::redis('DEL', DataStream::Keys::rkey('apikey', $hash));
    main::redis('SREM', DataStream::Keys::rkey('apikeys'), $hash);
    POSIX::_exit(0);
}
--- request eval
$main::TOK = main::token();
["GET /sse/crash?token=$main::TOK", "GET /sse/crash?token=$main::TOK"]
--- more_headers
Accept: text/event-stream
--- error_code eval
[200, 401]
--- response_body eval
[": hi\n\n:408: 408 Request Timeout\n\n", '{"error":"Invalid token","success":false}']



=== TEST 28: WebSocket with a publishable key's token from an allowed Origin
--- init
main::seed_reference();
--- request
GET /ws/crash
--- more_headers eval
$main::TOK = DataStream::Redis::mint_token(key => $main::PK, expiry => time + 3600);
"$main::WS\nOrigin: https://b.example\nSec-WebSocket-Protocol: $main::TOK"
--- error_code: 101
--- response_headers eval
"Sec-WebSocket-Protocol: $main::TOK"



=== TEST 29: WebSocket with a publishable key's token from another Origin
--- request
GET /ws/crash
--- more_headers eval
"$main::WS\nOrigin: https://evil.example\nSec-WebSocket-Protocol: "
. DataStream::Redis::mint_token(key => $main::PK, expiry => time + 3600)
--- error_code: 403
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}



=== TEST 30: WebSocket with a publishable key's token and no Origin
--- request
GET /ws/crash
--- more_headers eval
"$main::WS\nSec-WebSocket-Protocol: "
. DataStream::Redis::mint_token(key => $main::PK, expiry => time + 3600)
--- error_code: 403
--- response_body chomp
{"error":"Origin header required for this API key","success":false}



=== TEST 31: a token whose kind is not its key's is invalid
--- request
GET /ws/crash
--- more_headers eval
my $id = substr(Digest::SHA::sha256_hex($main::SK), 0, 16);
my $payload = MIME::Base64::encode_base64url("$id.pk." . (time + 3600));
"$main::WS\nOrigin: https://a.example\nSec-WebSocket-Protocol: tok_$payload."
. MIME::Base64::encode_base64url(Digest::SHA::hmac_sha256($payload, $ENV{TEST_DATASTREAM_SECRET}))
--- error_code: 401
--- response_body chomp
{"error":"Invalid token","success":false}
