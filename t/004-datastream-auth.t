# ngx_http_datastream_module: API keys on the REST API
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;
use Digest::SHA qw(sha256_hex);

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");
add_block_preprocessor(\&datastream_defaults);

our $SK = key_for('sk', 'server');
our $PK = key_for('pk', 'browser');
our $LATEST = '{"round_id":512,"game_id":1,"game_slug":"crash","game_type":"multiplier","finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"11.72\"}","timestamp":1768621542123,"value":"11.72"}';
seed_reference();
run_tests();

__DATA__

=== TEST 1: no credentials
--- request
GET /api/latest/crash
--- error_code: 401
--- response_headers
!X-Ratelimit-Limit
--- response_body chomp
{"error":"Missing API key","success":false}



=== TEST 2: malformed key
--- request
GET /api/latest/crash
--- more_headers
X-API-Key: sk_live_1234
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 3: key with uppercase hex is malformed
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: " . uc($main::SK)
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 4: well-formed but unknown key
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: " . DataStream::Redis::key_for('sk', 'nobody')
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 5: revoked key
--- init
main::seed_reference();
main::redis('DEL', DataStream::Keys::rkey('apikey', main::sha256_hex($main::SK)));
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 6: secret key in X-API-Key
--- init
main::seed_reference();
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::SK"
--- response_headers
!Access-Control-Allow-Origin
--- response_body eval
$main::LATEST



=== TEST 7: secret key as a Bearer credential
--- request
GET /api/latest/crash
--- more_headers eval
"Authorization: Bearer $main::SK"
--- response_body eval
$main::LATEST



=== TEST 8: another Authorization scheme is not a key
--- request
GET /api/latest/crash
--- more_headers
Authorization: Basic dXNlcjpwYXNz
--- error_code: 401
--- response_body chomp
{"error":"Invalid API key","success":false}



=== TEST 9: publishable key from an allowed Origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nOrigin: https://b.example"
--- response_headers
Access-Control-Allow-Origin: https://b.example
Vary: Origin
--- response_body eval
$main::LATEST



=== TEST 10: publishable key from another Origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nOrigin: https://evil.example"
--- error_code: 403
--- response_headers
!Access-Control-Allow-Origin
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}



=== TEST 11: publishable key without Origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK"
--- error_code: 403
--- response_body chomp
{"error":"Origin header required for this API key","success":false}



=== TEST 12: secret key ignores Origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::SK\nOrigin: https://evil.example"
--- response_body eval
$main::LATEST



=== TEST 13: a token is refused on the REST API
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: " . DataStream::Redis::mint_token(key => $main::SK, expiry => time + 3600)
--- error_code: 401
--- response_body chomp
{"error":"Tokens are only accepted on streaming endpoints","success":false}



=== TEST 14: a Bearer token is refused on the REST API
--- request
GET /api/games
--- more_headers eval
"Authorization: Bearer " . DataStream::Redis::mint_token(key => $main::SK, expiry => time + 3600)
--- error_code: 401
--- response_body chomp
{"error":"Tokens are only accepted on streaming endpoints","success":false}



=== TEST 15: a key record that is not a hash is a Redis failure, not a 401
--- init
main::seed_reference();
main::redis('DEL', DataStream::Keys::rkey('apikey', main::sha256_hex($main::SK)));
main::redis('SET', DataStream::Keys::rkey('apikey', main::sha256_hex($main::SK)), 'junk');
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 503
--- response_body chomp
{"error":"Redis unavailable","success":false}
--- error_log
datastream: redis error: WRONGTYPE



=== TEST 16: authentication switched off
--- init
main::seed_reference();
--- config
    location /api/ { datastream_auth off; datastream_api; }
--- request
GET /api/latest/crash
--- response_headers
!X-Ratelimit-Limit
--- response_body eval
$main::LATEST



=== TEST 17: no token minting when authentication is off
--- config
    location /api/ { datastream_auth off; datastream_api; }
--- request
POST /api/auth/token
--- error_code: 400
--- response_body chomp
{"error":"Authentication is disabled: no token needed","success":false}



=== TEST 18: publishable key, same-origin request without Origin: the Referer's origin counts
--- init
main::seed_reference();
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nSec-Fetch-Site: same-origin\nReferer: https://a.example/dashboard/index.html?x=1#top"
--- error_code: 200
--- response_body eval
$main::LATEST



=== TEST 19: a Referer with a port keeps it
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nSec-Fetch-Site: same-origin\nReferer: https://a.example:8443/"
--- error_code: 403
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}



=== TEST 20: same-origin without Referer and without Origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nSec-Fetch-Site: same-origin"
--- error_code: 403
--- response_body chomp
{"error":"Origin header required for this API key","success":false}



=== TEST 21: same-origin with the Referer of another origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nSec-Fetch-Site: same-origin\nReferer: https://evil.example/a.example"
--- error_code: 403
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}



=== TEST 22: a Referer alone, without Sec-Fetch-Site: same-origin, is no Origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nSec-Fetch-Site: cross-site\nReferer: https://a.example/"
--- error_code: 403
--- response_body chomp
{"error":"Origin header required for this API key","success":false}



=== TEST 23: a Referer with user information is no origin
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::PK\nSec-Fetch-Site: same-origin\nReferer: https://a.example\@evil.example/"
--- error_code: 403
--- response_body chomp
{"error":"Origin header required for this API key","success":false}



=== TEST 24: a publishable key with a long origins list, the Origin its last entry
--- init
main::seed_reference();
my $origins = join(' ', map { "https://tenant$_.example.com" } 1 .. 137) . ' https://last.example';
die 'origins list of ' . length($origins) . ' bytes' if length($origins) < 3900 || length($origins) > 4095;
main::add_key(kind => 'pk', name => 'tenants', origins => $origins);
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: " . DataStream::Redis::key_for('pk', 'tenants') . "\nOrigin: https://last.example"
--- response_headers
Access-Control-Allow-Origin: https://last.example
--- response_body eval
$main::LATEST



=== TEST 25: a publishable key with a long origins list, the Origin not in it
--- init
main::seed_reference();
my $origins = join(' ', map { "https://tenant$_.example.com" } 1 .. 137) . ' https://last.example';
main::add_key(kind => 'pk', name => 'tenants', origins => $origins);
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: " . DataStream::Redis::key_for('pk', 'tenants') . "\nOrigin: https://tenant138.example.com"
--- error_code: 403
--- response_body chomp
{"error":"Origin not allowed for this API key","success":false}
