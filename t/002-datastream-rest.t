# ngx_http_datastream_module: /api/games, /api/latest, /api/history
use Test::Nginx::Socket 'no_plan';
use DataStream::Redis;
use DataStream::Keys;

repeat_each(1);
no_shuffle();
master_on();
workers(1);
log_level('info');
env_to_nginx("DS_TOKEN_SECRET=$ENV{TEST_DATASTREAM_SECRET}");
add_block_preprocessor(\&datastream_defaults);

our $SK = key_for('sk', 'server');
seed_reference();
run_tests();

__DATA__

=== TEST 1: games, sorted by slug, with last round or null
--- init
main::seed_reference();
--- request
GET /api/games
--- more_headers eval
"X-API-Key: $main::SK"
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
[{"slug":"crash","name":"Crash","type":"multiplier","last_round":512,"last_update":"2026-01-17T03:45:42.735266Z"},{"slug":"double","name":"Double","type":"color","last_round":600,"last_update":"2026-01-17T03:46:00Z"},{"slug":"limbo","name":"Limbo","type":"multiplier","last_round":800,"last_update":null},{"slug":"mines","name":"Mines","type":"grid","last_round":900,"last_update":"2026-01-17T03:49:00Z"},{"slug":"slot","name":"Slot Machine","type":"slots","last_round":null,"last_update":null},{"slug":"wall-street","name":"Wall Street","type":"trending","last_round":700,"last_update":"2026-01-17T03:47:00Z"}]



=== TEST 2: games on an empty registry
--- init
main::redis_flush(); main::add_key(kind => 'sk', name => 'server');
--- request
GET /api/games
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body chomp
[]



=== TEST 3: latest of a multiplier game: value is extras.point
--- init
main::seed_reference();
--- request
GET /api/latest/crash
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":512,"game_id":1,"game_slug":"crash","game_type":"multiplier","finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"11.72\"}","timestamp":1768621542123,"value":"11.72"}'



=== TEST 4: latest of another type: value is extras.result before color
--- request
GET /api/latest/double
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":600,"game_id":2,"game_slug":"double","game_type":"color","finished_at":"2026-01-17T03:46:00Z","extras":"{\"color\": \"red\", \"result\": 7}","timestamp":1768621560000,"value":7}'



=== TEST 5: latest falls back to extras.color
--- request
GET /api/latest/wall-street
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":700,"game_id":4,"game_slug":"wall-street","game_type":"trending","finished_at":"2026-01-17T03:47:00Z","extras":"{\"color\": \"green\"}","timestamp":1768621620000,"value":"green"}'



=== TEST 6: multiplier game without point falls back to result, copied as-is
--- request
GET /api/latest/limbo
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":800,"game_id":5,"game_slug":"limbo","game_type":"multiplier","finished_at":null,"extras":"{\"result\": 1.50}","timestamp":1768621680000,"value":1.50}'



=== TEST 7: latest without any headline value: null
--- request
GET /api/latest/mines
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":900,"game_id":6,"game_slug":"mines","game_type":"grid","finished_at":"2026-01-17T03:49:00Z","extras":"{}","timestamp":1768621740000,"value":null}'



=== TEST 8: latest of a known game without rounds
--- request
GET /api/latest/slot
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 404
--- response_body chomp
{"error":"No rounds yet for game slot","success":false}



=== TEST 9: latest of an unknown game
--- request
GET /api/latest/nope
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 404
--- response_body chomp
{"error":"Game not found","success":false}



=== TEST 10: history newest first, default limit
--- request
GET /api/history/crash
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
"[$DataStream::Redis::ROUND{crash},$DataStream::Redis::ROUND{crash_old}]"



=== TEST 11: history with limit
--- request
GET /api/history/crash?limit=1
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
"[$DataStream::Redis::ROUND{crash}]"



=== TEST 12: history with the largest limit
--- request
GET /api/history/crash?limit=1000
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
"[$DataStream::Redis::ROUND{crash},$DataStream::Redis::ROUND{crash_old}]"



=== TEST 13: history of a known game without rounds
--- request
GET /api/history/slot
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body chomp
[]



=== TEST 14: history of an unknown game
--- request
GET /api/history/nope
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 404
--- response_body chomp
{"error":"Game not found","success":false}



=== TEST 15: history by type, across games, newest first
--- request
GET /api/history/type/multiplier
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
"[$DataStream::Redis::ROUND{limbo},$DataStream::Redis::ROUND{crash},$DataStream::Redis::ROUND{crash_old}]"



=== TEST 16: history by type with limit
--- request
GET /api/history/type/multiplier?limit=2
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
"[$DataStream::Redis::ROUND{limbo},$DataStream::Redis::ROUND{crash}]"



=== TEST 17: history of an unknown type
--- request
GET /api/history/type/nope
--- more_headers eval
"X-API-Key: $main::SK"
--- error_code: 404
--- response_body chomp
{"error":"Game type not found","success":false}



=== TEST 18: history of a known type without rounds
--- request
GET /api/history/type/slots
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body chomp
[]



=== TEST 19: latest of a new type name with a point: value is the point
--- init
main::seed_reference();
main::redis('HSET', main::rkey('games'), 'rocket', '{"id":7,"slug":"rocket","name":"Rocket","type":"crash-x"}');
main::add_round(round_id => 1000, game_id => 7, slug => 'rocket', type => 'crash-x',
          finished_at => '2026-01-17T03:50:00Z', extras => '{"point": "3.40"}',
          timestamp => 1768621800000);
--- request
GET /api/latest/rocket
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":1000,"game_id":7,"game_slug":"rocket","game_type":"crash-x","finished_at":"2026-01-17T03:50:00Z","extras":"{\"point\": \"3.40\"}","timestamp":1768621800000,"value":"3.40"}'



=== TEST 20: latest with result only: value is the result
--- init
main::seed_reference();
main::redis('HSET', main::rkey('games'), 'rocket', '{"id":7,"slug":"rocket","name":"Rocket","type":"crash-x"}');
main::add_round(round_id => 1001, game_id => 7, slug => 'rocket', type => 'crash-x',
          finished_at => '2026-01-17T03:50:00Z', extras => '{"result": [1, 2]}',
          timestamp => 1768621800000);
--- request
GET /api/latest/rocket
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":1001,"game_id":7,"game_slug":"rocket","game_type":"crash-x","finished_at":"2026-01-17T03:50:00Z","extras":"{\"result\": [1, 2]}","timestamp":1768621800000,"value":[1, 2]}'



=== TEST 21: latest with color only: value is the color
--- init
main::seed_reference();
main::redis('HSET', main::rkey('games'), 'rocket', '{"id":7,"slug":"rocket","name":"Rocket","type":"crash-x"}');
main::add_round(round_id => 1002, game_id => 7, slug => 'rocket', type => 'crash-x',
          finished_at => '2026-01-17T03:50:00Z', extras => '{"color": "blue"}',
          timestamp => 1768621800000);
--- request
GET /api/latest/rocket
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":1002,"game_id":7,"game_slug":"rocket","game_type":"crash-x","finished_at":"2026-01-17T03:50:00Z","extras":"{\"color\": \"blue\"}","timestamp":1768621800000,"value":"blue"}'



=== TEST 22: latest of a color game with point and color: the point comes first
--- init
main::seed_reference();
main::add_round(round_id => 601, game_id => 2, slug => 'double', type => 'color',
          finished_at => '2026-01-17T03:46:30Z', extras => '{"color": "red", "point": 2}',
          timestamp => 1768621590000);
--- request
GET /api/latest/double
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":601,"game_id":2,"game_slug":"double","game_type":"color","finished_at":"2026-01-17T03:46:30Z","extras":"{\"color\": \"red\", \"point\": 2}","timestamp":1768621590000,"value":2}'



=== TEST 23: latest of a new type name without point, result or color: null
--- init
main::seed_reference();
main::redis('HSET', main::rkey('games'), 'rocket', '{"id":7,"slug":"rocket","name":"Rocket","type":"crash-x"}');
main::add_round(round_id => 1003, game_id => 7, slug => 'rocket', type => 'crash-x',
          finished_at => '2026-01-17T03:50:00Z', extras => '{"points": 1, "colour": "red"}',
          timestamp => 1768621800000);
--- request
GET /api/latest/rocket
--- more_headers eval
"X-API-Key: $main::SK"
--- response_body eval
'{"round_id":1003,"game_id":7,"game_slug":"rocket","game_type":"crash-x","finished_at":"2026-01-17T03:50:00Z","extras":"{\"points\": 1, \"colour\": \"red\"}","timestamp":1768621800000,"value":null}'
