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

# Round $id (its version at $lsn) settled with each channel holding rounds 1 .. $id once, the
# process $name having found $stored channels in nchan's storage so far, and NATS once.
sub settled_once {
    my ($what, $id, $lsn, $name, $stored) = @_;
    is $s->nchan_rounds('game.crash'), $id, "$what: game.crash holds each round once";
    is $s->nchan_rounds('type.multiplier'), $id, "$what: type.multiplier holds each round once";
    is $s->metric($name, 'datastream_publications_already_stored_total'), $stored,
        "$what: $stored channels found stored so far, not published again";
    is $s->redis('HGET', rkey('round_version', $id), 'pub'), sprintf('%020d', $lsn), "$what: publication recorded";
    nats_once(round_json(id => $id, lsn => $lsn, %crash), $what);
}

# ------------------------------------------------------------------ the answer cut
$network->answers('cut');
$s->publish_rounds(round_event(op => 'c', id => 1, lsn => 10));
ConsumerTest::Stack::wait_until('round 1 settled', 20, $drained);
settled_once('cut answer', 1, 10, 'first', 2);

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
settled_once('killed while waiting', 2, 11, 'second', 2);

# ------------------------------------------------------------------ nothing lost
# A round whose attempt never reached nchan is published as usual after the check.
$s->publish_rounds(round_event(op => 'c', id => 3, lsn => 12));
ConsumerTest::Stack::wait_until('round 3 settled', 20, $drained);
settled_once('a new round, not looked up', 3, 12, 'second', 2);

# ------------------------------------------------------------------ cut on a used connection
# The connection has served rounds before: an answer cut there is not a connection the server
# had closed unseen, so the requests are not sent again at once; the retry looks them up.
$network->answers('cut');
$s->publish_rounds(round_event(op => 'c', id => 4, lsn => 13));
ConsumerTest::Stack::wait_until('round 4 settled', 20, $drained);
settled_once('cut answer on a used connection', 4, 13, 'second', 4);
$network->answers('pass');

is $s->stop('second', 'TERM'), 0, 'clean exit';
done_testing;
