# A publication that nchan stored but whose answer never reached the consumer is not made
# again: before repeating such an attempt, the consumer looks for the round in nchan's Redis
# storage and publishes only to a channel that does not hold it. Two ways to lose the answer:
# the connection is cut as nchan answers (the consumer retries in place), and the process is
# killed while it waits (another process gets the message again from JetStream). Each channel
# must hold every round exactly once; NATS gets it once, after nchan. The third way, an answer cut
# on a connection that served rounds before, must not be taken for a connection the server had
# closed unseen (which alone may be written to again at once).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use DataStream::Proxy;
use ConsumerTest::Events qw(round_event game_event round_json);

my $s = ConsumerTest::Stack->new;
$s->start_redis;
$s->start_nats;
$s->start_nginx(nchan_redis => 1);
my $network = DataStream::Proxy->new(target => $s->port('nginx'));
my %env = (PUBLISH_URL => 'http://127.0.0.1:' . $network->port . '/pub', PUBLICATION_LEASE_MS => 1000);
$s->start_consumer('first', %env);
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('registry', 10, sub { ($s->redis('HLEN', rkey('games')) // 0) == 1 });

my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.>');
my %crash = (slug => 'crash', type => 'multiplier');
my $drained = sub { $s->consumer_lag('cdc-public-rounds') == 0 };

# Published once to NATS, with each of its two subjects; nothing more within a second.
sub nats_once {
    my ($json, $what) = @_;
    my @got = $watch->messages($sid, 2, 10);
    push @got, $watch->messages($sid, 1, 1);
    is_deeply [ sort map { "$_->{subject} $_->{data}" } @got ],
        [ "rounds.game.crash $json", "rounds.type.multiplier $json" ], "$what: NATS got it once per subject";
}

# ------------------------------------------------------------------ the answer cut
$network->answers('cut');
$s->publish_rounds(round_event(op => 'c', id => 1, lsn => 10));
ConsumerTest::Stack::wait_until('round 1 settled', 20, $drained);
is $s->nchan_rounds('game.crash'), 1, 'cut answer: game.crash holds the round once';
is $s->nchan_rounds('type.multiplier'), 1, 'cut answer: type.multiplier holds the round once';
is $s->metric('first', 'datastream_publications_already_stored_total'), 2,
    'cut answer: both channels found stored, neither published again';
is $s->redis('HGET', rkey('round_version', 1), 'pub'), sprintf('%020d', 10), 'cut answer: publication recorded';
nats_once(round_json(id => 1, lsn => 10, %crash), 'cut answer');

# ------------------------------------------------------------------ killed while waiting
$network->answers('hold');
$s->publish_rounds(round_event(op => 'c', id => 2, lsn => 11));
ConsumerTest::Stack::wait_until('round 2 stored by nchan', 10,
    sub { $s->nchan_rounds('game.crash') == 2 && $s->nchan_rounds('type.multiplier') == 2 });
$s->stop('first', 'KILL');
$network->answers('pass');
# JetStream gives the unacknowledged message to the next process after ACK_WAIT; by then the
# killed process's publication lease has run out.
$s->start_consumer('second', %env);
ConsumerTest::Stack::wait_until('round 2 settled', 30, $drained);
is $s->nchan_rounds('game.crash'), 2, 'killed while waiting: game.crash holds each round once';
is $s->nchan_rounds('type.multiplier'), 2, 'killed while waiting: type.multiplier holds each round once';
is $s->metric('second', 'datastream_publications_already_stored_total'), 2,
    'killed while waiting: the next process found both channels stored';
is $s->redis('HGET', rkey('round_version', 2), 'pub'), sprintf('%020d', 11), 'killed while waiting: publication recorded';
nats_once(round_json(id => 2, lsn => 11, %crash), 'killed while waiting');

# ------------------------------------------------------------------ nothing lost
# A round whose attempt never reached nchan is published as usual after the check.
$s->publish_rounds(round_event(op => 'c', id => 3, lsn => 12));
ConsumerTest::Stack::wait_until('round 3 settled', 20, $drained);
is $s->nchan_rounds('game.crash'), 3, 'a new round reaches game.crash';
is $s->metric('second', 'datastream_publications_already_stored_total'), 2, 'a new round is not looked up';
nats_once(round_json(id => 3, lsn => 12, %crash), 'a new round');

# ------------------------------------------------------------------ cut on a used connection
# The connection has served rounds before: an answer cut there is not a connection the server
# had closed unseen, so the requests are not sent again at once; the retry looks them up.
$network->answers('cut');
$s->publish_rounds(round_event(op => 'c', id => 4, lsn => 13));
ConsumerTest::Stack::wait_until('round 4 settled', 20, $drained);
is $s->nchan_rounds('game.crash'), 4, 'cut answer on a used connection: game.crash holds each round once';
is $s->nchan_rounds('type.multiplier'), 4, 'cut answer on a used connection: type.multiplier holds each round once';
is $s->metric('second', 'datastream_publications_already_stored_total'), 4,
    'cut answer on a used connection: both channels found stored';
nats_once(round_json(id => 4, lsn => 13, %crash), 'cut answer on a used connection');
$network->answers('pass');

is $s->stop('second', 'TERM'), 0, 'clean exit';
done_testing;
