# Rounds and games flow end to end: insert, update, delete, truncate, snapshot, both
# envelope forms; read model in Redis, live publications on nchan and NATS.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event truncate_event wrap_schema round_json);

my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer;

my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $game_sid = $watch->subscribe('rounds.game.crash');
my $type_sid = $watch->subscribe('rounds.type.multiplier');

$s->publish_games(game_event(op => 'r', id => 1, slug => 'crash', name => 'Crash', type => 'multiplier', lsn => 5));
ConsumerTest::Stack::wait_until('game registry', 10, sub { $s->redis('HGET', rkey('game_ids'), 1) eq 'crash' });
is $s->redis('HGET', rkey('games'), 'crash'), '{"id":1,"slug":"crash","name":"Crash","type":"multiplier"}',
    'games registry entry';

# snapshot read: history only, no live publication
$s->publish_rounds(round_event(op => 'r', id => 100, lsn => 10));
# insert (bare envelope) and insert (schema wrapper)
$s->publish_rounds(round_event(op => 'c', id => 101, lsn => 20));
$s->publish_rounds(wrap_schema(round_event(op => 'c', id => 102, lsn => 30, finished_at => undef, extras => undef)));

my @want = (
    round_json(id => 100, lsn => 10, slug => 'crash', type => 'multiplier'),
    round_json(id => 101, lsn => 20, slug => 'crash', type => 'multiplier'),
    round_json(id => 102, lsn => 30, slug => 'crash', type => 'multiplier', finished_at => undef, extras => undef),
);
ConsumerTest::Stack::wait_until('three rounds', 10, sub { $s->redis('ZCARD', rkey('history_game', 'crash')) == 3 });
is_deeply [ $s->redis_list('ZRANGE', rkey('history_game', 'crash'), 0, -1) ], \@want, 'game history holds the exact round objects';
is_deeply [ $s->redis_list('ZRANGE', rkey('history_type', 'multiplier'), 0, -1) ], \@want, 'type history too';
is $s->redis('ZREVRANGE', rkey('history_game', 'crash'), 0, 0), $want[2], 'latest is the highest round id';

my @game_msgs = $watch->messages($game_sid, 2, 10);
is_deeply [ map { $_->{data} } @game_msgs ], [ @want[1, 2] ], 'NATS rounds.game.crash got the inserts only, in order';
my @type_msgs = $watch->messages($type_sid, 2, 10);
is_deeply [ map { $_->{data} } @type_msgs ], [ @want[1, 2] ], 'NATS rounds.type.multiplier too';
ConsumerTest::Stack::wait_until('nchan', 10, sub { $s->nchan_rounds('game.crash') == 2 });
is $s->nchan_rounds('game.crash'), 2, 'nchan game channel got two messages';
is $s->nchan_rounds('type.multiplier'), 2, 'nchan type channel got two messages';
is $s->redis('HGET', rkey('round_version', 101), 'pub'), sprintf('%020d', 20), 'publication recorded in the version hash';

# update: replaces the member, published
$s->publish_rounds(round_event(op => 'u', id => 101, lsn => 40, extras => '{"point": "9.99"}'));
my $updated = round_json(id => 101, lsn => 40, slug => 'crash', type => 'multiplier', extras => '{"point": "9.99"}');
my ($u) = $watch->messages($game_sid, 1, 10);
is $u->{data}, $updated, 'update published';
is_deeply [ $s->redis_list('ZRANGEBYSCORE', rkey('history_game', 'crash'), 101, 101) ], [$updated], 'update replaced the round in history';
is $s->redis('ZCARD', rkey('history_game', 'crash')), 3, 'no duplicate member after update';

# delete newest: latest falls back
$s->publish_rounds(round_event(op => 'd', id => 102, lsn => 50));
ConsumerTest::Stack::wait_until('delete', 10, sub { $s->redis('ZCARD', rkey('history_game', 'crash')) == 2 });
is $s->redis('ZREVRANGE', rkey('history_game', 'crash'), 0, 0), $updated, 'latest falls back after delete';
is $s->redis('ZCARD', rkey('history_type', 'multiplier')), 2, 'deleted from the type history';
is $s->redis('HGET', rkey('round_version', 102), 'op'), 'd', 'version hash records the delete';

# logical decoding message: acked and ignored
$s->publish_rounds('{"op":"m","ts_ms":1,"message":{"prefix":"x","content":"eA=="}}');

# truncate empties everything; older events afterwards are ignored
$s->publish_rounds(truncate_event(lsn => 60));
ConsumerTest::Stack::wait_until('truncate', 10, sub { $s->redis('EXISTS', rkey('history_game', 'crash')) == 0 });
is $s->redis('EXISTS', rkey('history_type', 'multiplier')), 0, 'type history emptied';
is $s->redis('GET', rkey('truncated_lsn')), sprintf('%020d', 60), 'truncate LSN recorded';
$s->publish_rounds(round_event(op => 'c', id => 103, lsn => 55));
$s->publish_rounds(round_event(op => 'c', id => 104, lsn => 70));
ConsumerTest::Stack::wait_until('after truncate', 10, sub { $s->redis('ZCARD', rkey('history_game', 'crash')) == 1 });
is_deeply [ $s->redis_list('ZRANGE', rkey('history_game', 'crash'), 0, -1) ],
    [ round_json(id => 104, lsn => 70, slug => 'crash', type => 'multiplier') ], 'only the post-truncate round exists';

# games update with a new slug moves the registry entry
$s->publish_games(game_event(op => 'u', id => 1, slug => 'crash-x', name => 'Crash X', type => 'multiplier', lsn => 80));
ConsumerTest::Stack::wait_until('slug change', 10, sub { $s->redis('HGET', rkey('game_ids'), 1) eq 'crash-x' });
is $s->redis('HEXISTS', rkey('games'), 'crash'), 0, 'old slug removed from registry';
# A round of the renamed game while the consumer still holds the old name from round 104: the
# apply refuses the batch (the registry's revision moved on) and the names are read again.
$s->publish_rounds(round_event(op => 'c', id => 105, lsn => 85));
ConsumerTest::Stack::wait_until('round of the renamed game', 10,
    sub { ($s->redis('ZCARD', rkey('history_game', 'crash-x')) // 0) == 1 });
is_deeply [ $s->redis_list('ZRANGE', rkey('history_game', 'crash-x'), 0, -1) ],
    [ round_json(id => 105, lsn => 85, slug => 'crash-x', type => 'multiplier') ], 'a round after the rename carries the new slug';
like $s->log_of('consumer'), qr/"msg":"games registry changed during the batch, names read again"/,
    'the cached name was refused by the apply and read again';
$s->publish_games(game_event(op => 'd', id => 1, lsn => 90));
ConsumerTest::Stack::wait_until('game delete', 10, sub { $s->redis('HLEN', rkey('games')) == 0 });
is $s->redis('HEXISTS', rkey('game_ids'), 1), 0, 'game delete clears the registry';

ConsumerTest::Stack::wait_until('metrics', 10, sub {
    ($s->metric('consumer', 'datastream_messages_processed_total{op="m",result="ignored"}') // 0) == 1 });
is $s->metric('consumer', 'datastream_messages_processed_total{op="c",result="applied"}'), 4, 'inserts counted';
is $s->metric('consumer', 'datastream_messages_processed_total{op="c",result="skipped"}'), 1, 'pre-truncate insert skipped';
is $s->metric('consumer', 'datastream_messages_processed_total{op="t",result="applied"}'), 1, 'truncate counted';
ConsumerTest::Stack::wait_until('lag', 10, sub { defined $s->metric('consumer', 'datastream_consumer_lag') && $s->metric('consumer', 'datastream_consumer_lag') == 0 });
is $s->metric('consumer', 'datastream_consumer_lag'), 0, 'lag gauge drained';
is $s->http_get('consumer', '/readyz')->{status}, 200, 'ready';

# Redis memory gauges (alerting before a noeviction Redis refuses writes): the
# probe reads INFO memory every 2 s.
$s->redis(qw(CONFIG SET maxmemory 987654321));
ConsumerTest::Stack::wait_until('maxmemory gauge', 10,
    sub { ($s->metric('consumer', 'datastream_redis_maxmemory_bytes') // 0) == 987654321 });
is $s->metric('consumer', 'datastream_redis_maxmemory_bytes'), 987654321, 'maxmemory gauge is Redis maxmemory';
my ($used) = ($s->redis(qw(INFO memory)) // "") =~ /^used_memory:(\d+)/m;
cmp_ok abs($s->metric('consumer', 'datastream_redis_used_memory_bytes') - $used), '<', $used / 2,
    "used memory gauge is near Redis used_memory ($used)";
$s->redis(qw(CONFIG SET maxmemory 0));
like $s->http_get('consumer', '/metrics')->{content},
    qr/^datastream_processing_latency_seconds_bucket\{le="0\.001"\} \d+$/m, 'latency histogram exposed';

is $s->stop('consumer', 'TERM'), 0, 'SIGTERM exits 0';
my $info = $s->nats->js_api('CONSUMER.INFO.DebeziumStream.cdc-public-rounds');
is $info->{name}, 'cdc-public-rounds', 'durable survives the consumer';

done_testing;
