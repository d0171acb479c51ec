# Many changes of the same rounds in one fetched batch (one script run for the whole batch):
# the result is that of applying them one by one, in stream order, and each live change is
# published once, in order, even when Debezium sends a record twice in a row.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event truncate_event round_json);

my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer;
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1),
                  game_event(op => 'c', id => 2, slug => 'double', type => 'color', lsn => 2));
ConsumerTest::Stack::wait_until('registry', 10, sub { ($s->redis('HLEN', rkey('games')) // 0) == 2 });
$s->stop('consumer', 'TERM');

my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.game.*');
my %crash = (slug => 'crash', type => 'multiplier');
my %double = (slug => 'double', type => 'color', game_id => 2);

# Written while the consumer is stopped, so that one fetch takes them all.
$s->publish_rounds(
    round_event(op => 'c', id => 1, lsn => 10),
    round_event(op => 'c', id => 2, lsn => 11),
    round_event(op => 'c', id => 2, lsn => 11),                                  # sent twice
    round_event(op => 'u', id => 1, lsn => 12, extras => '{"point": "2.00"}'),
    round_event(op => 'c', id => 3, game_id => 2, lsn => 13),
    round_event(op => 'd', id => 2, lsn => 14),
    round_event(op => 'u', id => 3, game_id => 1, lsn => 15),                    # moves to crash
    round_event(op => 'c', id => 4, game_id => 2, lsn => 16),
    round_event(op => 'u', id => 1, lsn => 11, extras => '{"point": "0.50"}'),   # stale
);
$s->start_consumer(undef, BATCH_SIZE => 100);
my @first = $watch->messages($sid, 6, 15);
is_deeply [ map { $_->{data} } @first ], [
    round_json(id => 1, lsn => 10, %crash),
    round_json(id => 2, lsn => 11, %crash),
    round_json(id => 1, lsn => 12, %crash, extras => '{"point": "2.00"}'),
    round_json(id => 3, lsn => 13, %double),
    round_json(id => 3, lsn => 15, %crash),
    round_json(id => 4, lsn => 16, %double),
], 'each live change published once, in stream order';
is scalar($watch->messages($sid, 1, 1)), 0, 'the repeated record and the stale update are not published';
is_deeply [ $s->redis_list('ZRANGE', rkey('history_game', 'crash'), 0, -1) ],
    [ round_json(id => 1, lsn => 12, %crash, extras => '{"point": "2.00"}'), round_json(id => 3, lsn => 15, %crash) ],
    'crash history: newest version of 1, 3 moved in, 2 deleted';
is_deeply [ $s->redis_list('ZRANGE', rkey('history_game', 'double'), 0, -1) ], [ round_json(id => 4, lsn => 16, %double) ],
    'double history: 3 moved out';
is_deeply [ $s->redis_list('ZRANGE', rkey('history_type', 'multiplier'), 0, -1) ],
    [ round_json(id => 1, lsn => 12, %crash, extras => '{"point": "2.00"}'), round_json(id => 3, lsn => 15, %crash) ],
    'type history follows';
is $s->redis('HGET', rkey('round_version', 3), 'g'), 'crash', 'version hash records the new game';
is $s->redis('HGET', rkey('round_version', 1), 'pub'), sprintf('%020d', 12), 'publication of the newest version recorded';
is $s->nchan_rounds('game.crash'), 4, 'nchan got the crash publications once each';
is $s->metric('consumer', 'datastream_messages_processed_total{op="c",result="skipped"}'), 1, 'repeat skipped';
is $s->metric('consumer', 'datastream_messages_processed_total{op="u",result="skipped"}'), 1, 'stale update skipped';

# A truncate inside a batch: what came before is gone, what comes after stays.
$s->stop('consumer', 'TERM');
$s->publish_rounds(
    round_event(op => 'c', id => 5, lsn => 20),
    truncate_event(lsn => 21),
    round_event(op => 'c', id => 6, lsn => 22),
    round_event(op => 'c', id => 7, lsn => 19),                                  # before the truncate
);
$s->start_consumer(undef, BATCH_SIZE => 100);
my @second = $watch->messages($sid, 2, 15);
is_deeply [ map { $_->{data} } @second ], [ round_json(id => 5, lsn => 20, %crash), round_json(id => 6, lsn => 22, %crash) ],
    'rounds applied before and after the truncate are published';
is_deeply [ $s->redis_list('ZRANGE', rkey('history_game', 'crash'), 0, -1) ], [ round_json(id => 6, lsn => 22, %crash) ],
    'only the round after the truncate is left';
is $s->redis('EXISTS', rkey('history_game', 'double')), 0, 'other histories emptied';
is_deeply [ sort $s->redis_list('SMEMBERS', rkey('histories')) ], [ rkey('history_game', 'crash'), rkey('history_type', 'multiplier') ],
    'history key set lists what exists';
is $s->stop('consumer', 'TERM'), 0, 'clean exit';
done_testing;
