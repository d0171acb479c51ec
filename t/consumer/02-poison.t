# Poison messages go to the dead-letter stream with a reason and do not block the stream;
# a round whose game is unknown waits for it, and is dead-lettered if it never comes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event round_json);

my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer(undef, UNKNOWN_GAME_MAX_DELIVERIES => 3);
my $dlq = ConsumerTest::Nats->new($s->port('nats'));
my $dlq_sid = $dlq->subscribe('dlq.>');

$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('game', 10, sub { $s->redis('HGET', rkey('game_ids'), 1) eq 'crash' });

my $poison = '{"op":"c","after":{"game_id":1},"source":{"ts_ms":1,"lsn":5}}';
$s->publish_rounds($poison);
$s->publish_rounds(round_event(op => 'c', id => 200, lsn => 6));

my ($dead) = $dlq->messages($dlq_sid, 1, 10);
ok $dead, 'poison message dead-lettered';
is $dead->{subject}, 'dlq.datastream.public.rounds', 'dead-letter subject';
is $dead->{data}, $poison, 'original bytes kept';
is $dead->{headers}{'Datastream-Dlq-Reason'}, 'after.id: missing', 'reason header';
is $dead->{headers}{'Datastream-Dlq-Subject'}, 'datastream.public.rounds', 'original subject header';
is $dead->{headers}{'Datastream-Dlq-Stream-Seq'}, 2, 'stream sequence header';
is $dead->{headers}{'Datastream-Dlq-Deliveries'}, 1, 'deliveries header';
ConsumerTest::Stack::wait_until('next message', 10, sub { $s->redis('ZCARD', rkey('history_game', 'crash')) == 1 });
is $s->redis('ZRANGE', rkey('history_game', 'crash'), 0, -1), round_json(id => 200, lsn => 6, slug => 'crash', type => 'multiplier'),
    'the message after the poison one is processed';
my $stream = $s->nats->js_api('STREAM.INFO.DataStreamDeadLetters');
is $stream->{state}{messages}, 1, 'dead letter stored in DataStreamDeadLetters';

$s->publish_rounds('not json at all');
my ($bad) = $dlq->messages($dlq_sid, 1, 10);
like $bad->{headers}{'Datastream-Dlq-Reason'}, qr/^message: invalid JSON at position \d+: /, 'invalid JSON reason';

# unknown game: retried until the game arrives
$s->publish_rounds(round_event(op => 'c', id => 300, game_id => 2, lsn => 10));
ConsumerTest::Stack::wait_until('retry', 10, sub {
    ($s->metric('consumer', 'datastream_messages_processed_total{op="c",result="retried"}') // 0) >= 1 });
$s->publish_games(game_event(op => 'c', id => 2, slug => 'double', type => 'color', lsn => 11));
ConsumerTest::Stack::wait_until('late game', 20, sub { $s->redis('ZCARD', rkey('history_game', 'double')) == 1 });
is $s->redis('ZRANGE', rkey('history_type', 'color'), 0, -1), round_json(id => 300, game_id => 2, lsn => 10, slug => 'double', type => 'color'),
    'round applied once its game arrived';
cmp_ok $s->metric('consumer', 'datastream_redeliveries_total'), '>=', 1, 'redelivery counted';

# a game that never comes: dead-lettered after UNKNOWN_GAME_MAX_DELIVERIES
$s->publish_rounds(round_event(op => 'c', id => 400, game_id => 99, lsn => 20));
my ($orphan) = $dlq->messages($dlq_sid, 1, 20);
is $orphan->{headers}{'Datastream-Dlq-Reason'}, 'after.game_id: unknown game 99', 'unknown game dead-lettered';
is $orphan->{headers}{'Datastream-Dlq-Deliveries'}, 3, 'after UNKNOWN_GAME_MAX_DELIVERIES deliveries';

# a game with an invalid slug is poison for the games durable
$s->publish_games(game_event(op => 'c', id => 5, slug => 'Bad Slug', type => 'x', lsn => 30));
my ($badgame) = $dlq->messages($dlq_sid, 1, 10);
is $badgame->{subject}, 'dlq.datastream.public.games', 'games dead-letter subject';
is $badgame->{headers}{'Datastream-Dlq-Reason'}, 'after.slug: not a valid name', 'games reason';

ConsumerTest::Stack::wait_until('metrics', 10, sub { ($s->metric('consumer', 'datastream_dead_letters_total') // 0) == 4 });
is $s->metric('consumer', 'datastream_dead_letters_total'), 4, 'dead letters counted';
is $s->metric('consumer', 'datastream_messages_processed_total{op="unknown",result="dead_lettered"}'), 3,
    'undecodable messages counted with op unknown';
is $s->stop('consumer', 'TERM'), 0, 'clean exit';
done_testing;
