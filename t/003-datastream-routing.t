# ngx_http_datastream_module: routing, methods, CORS preflight, strict parameters
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");
add_block_preprocessor(sub {
    my $block = shift;
    datastream_defaults($block);
    $block->set_value('more_headers', "X-API-Key: " . key_for('sk', 'server'))
        unless defined $block->more_headers;
});

seed_reference();
run_tests();

__DATA__

=== TEST 1: unknown path under /api/
--- request
GET /api/nothing
--- error_code: 404
--- response_body chomp
{"error":"Not found","success":false}



=== TEST 2: a trailing slash is another path
--- request
GET /api/games/
--- error_code: 404
--- response_body chomp
{"error":"Not found","success":false}



=== TEST 3: wrong method on a GET route
--- request
POST /api/games
--- error_code: 405
--- response_headers
Allow: GET, OPTIONS
--- response_body chomp
{"error":"Method not allowed","success":false}



=== TEST 4: wrong method on the token route
--- request
GET /api/auth/token
--- error_code: 405
--- response_headers
Allow: POST, OPTIONS
--- response_body chomp
{"error":"Method not allowed","success":false}



=== TEST 5: CORS preflight needs no key
--- request
OPTIONS /api/latest/crash
--- more_headers
Origin: https://a.example
Access-Control-Request-Method: GET
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: https://a.example
Access-Control-Allow-Methods: GET, POST, OPTIONS
Access-Control-Allow-Headers: X-API-Key, Authorization, Content-Type
Vary: Origin
--- response_body



=== TEST 6: invalid slug syntax is an unknown game
--- request
GET /api/latest/Crash
--- error_code: 404
--- response_body chomp
{"error":"Game not found","success":false}



=== TEST 7: a slug with a path separator
--- request
GET /api/history/crash/x
--- error_code: 404
--- response_body chomp
{"error":"Game not found","success":false}



=== TEST 8: invalid type syntax
--- request
GET /api/history/type/-multiplier
--- error_code: 404
--- response_body chomp
{"error":"Game type not found","success":false}



=== TEST 9: limit 0
--- request
GET /api/history/crash?limit=0
--- error_code: 400
--- response_body chomp
{"error":"Invalid limit: expected an integer from 1 to 1000","success":false}



=== TEST 10: limit above 1000
--- request
GET /api/history/crash?limit=1001
--- error_code: 400
--- response_body chomp
{"error":"Invalid limit: expected an integer from 1 to 1000","success":false}



=== TEST 11: limit with a sign
--- request
GET /api/history/crash?limit=+5
--- error_code: 400
--- response_body chomp
{"error":"Invalid limit: expected an integer from 1 to 1000","success":false}



=== TEST 12: limit with trailing junk
--- request
GET /api/history/crash?limit=5x
--- error_code: 400
--- response_body chomp
{"error":"Invalid limit: expected an integer from 1 to 1000","success":false}



=== TEST 13: limit with an encoded space
--- request
GET /api/history/crash?limit=%205
--- error_code: 400
--- response_body chomp
{"error":"Invalid limit: expected an integer from 1 to 1000","success":false}



=== TEST 14: limit that would overflow
--- request
GET /api/history/type/multiplier?limit=18446744073709551617
--- error_code: 400
--- response_body chomp
{"error":"Invalid limit: expected an integer from 1 to 1000","success":false}



=== TEST 15: empty limit
--- request
GET /api/history/crash?limit=
--- error_code: 400
--- response_body chomp
{"error":"Invalid limit: expected an integer from 1 to 1000","success":false}



=== TEST 16: parameters are checked only after authentication
--- request
GET /api/history/crash?limit=0
--- more_headers
X-Other: 1
--- error_code: 401
--- response_body chomp
{"error":"Missing API key","success":false}
