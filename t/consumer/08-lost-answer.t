# A batch whose apply ran in Redis but whose answer never reached the consumer is not published
# to nchan again: the script that applies a round also writes it into nchan's storage, and a
# redelivered copy finds the version applied and published. Two ways to lose the answer: the
# connection is cut as Redis answers (the message is retried), and the process is killed while
# it waits (another process gets the message again from JetStream). Each channel must hold
# every round exactly once; NATS gets it once.
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
$s->start_all;
my $network = DataStream::Proxy->new(target => $s->port('redis'));
my %env = (REDIS_URL => 'redis://127.0.0.1:' . $network->port . '/0', PUBLICATION_LEASE_MS => 1000,
           NAK_DELAY_BASE_MS => 100);
$s->start_consumer('first', %env);
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('registry', 10, sub { ($s->redis('HLEN', rkey('games')) // 0) == 1 });

my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.>');
my %crash = (slug => 'crash', type => 'multiplier');
my $drained = sub { $s->consumer_lag('cdc-public-rounds') == 0 };
my $applied = sub { defined $s->redis('HGET', rkey('round_version', $_[0]), 'lsn') };

# Published once to NATS, with each of its two subjects; nothing more within a second.
sub nats_once {
    my ($json, $what) = @_;
    my @got = $watch->messages($sid, 2, 10);
    push @got, $watch->messages($sid, 1, 1);
    is_deeply [ sort map { "$_->{subject} $_->{data}" } @got ],
        [ "rounds.game.crash $json", "rounds.type.multiplier $json" ], "$what: NATS got it once per subject";
}

# Round $id (its version at $lsn) settled with each channel holding rounds 1 .. $id once.
sub settled_once {
    my ($what, $id, $lsn) = @_;
    is $s->nchan_rounds('game.crash'), $id, "$what: game.crash holds each round once";
    is $s->nchan_rounds('type.multiplier'), $id, "$what: type.multiplier holds each round once";
    is $s->redis('HGET', rkey('round_version', $id), 'pub'), sprintf('%020d', $lsn), "$what: publication recorded";
    nats_once(round_json(id => $id, lsn => $lsn, %crash), $what);
}

# ------------------------------------------------------------------ the answer cut
$network->answers('cut');
$s->publish_rounds(round_event(op => 'c', id => 1, lsn => 10));
ConsumerTest::Stack::wait_until('round 1 applied', 10, sub { $applied->(1) });
$network->answers('pass');
ConsumerTest::Stack::wait_until('round 1 settled', 20, $drained);
cmp_ok $s->metric('first', 'datastream_messages_processed_total{op="c",result="retried"}'), '>=', 1,
    'cut answer: the message was retried';
settled_once('cut answer', 1, 10);

# ------------------------------------------------------------------ killed while waiting
$network->answers('hold');
$s->publish_rounds(round_event(op => 'c', id => 2, lsn => 11));
ConsumerTest::Stack::wait_until('round 2 applied', 10, sub { $applied->(2) });
$s->stop('first', 'KILL');
$network->answers('pass');
# JetStream gives the unacknowledged message to the next process after ACK_WAIT; by then the
# killed process's publication lease has run out.
$s->start_consumer('second', %env);
ConsumerTest::Stack::wait_until('round 2 settled', 40, $drained);
settled_once('killed while waiting', 2, 11);

# ------------------------------------------------------------------ nothing lost
$s->publish_rounds(round_event(op => 'c', id => 3, lsn => 12));
ConsumerTest::Stack::wait_until('round 3 settled', 20, $drained);
settled_once('a new round', 3, 12);

is $s->stop('second', 'TERM'), 0, 'clean exit';
done_testing;
