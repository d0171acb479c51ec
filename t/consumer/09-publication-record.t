# The record of a batch's publications (field pub of the round's version hash, and the end of
# its publication lease) survives Redis dropping the consumer's connections between two batches
# (CLIENT KILL, as a failover or a proxy restart would): the connection Redis closed unseen is
# replaced and the record made on the new one. Every round is published once and recorded, its
# lease ended, and no Redis failure is counted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event round_json);

my $s = ConsumerTest::Stack->new;
$s->start_redis;
$s->start_nats;
# nchan's own memory storage: the consumer's are then the only Redis connections to cut.
$s->start_nginx;
$s->start_consumer;
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('registry', 10, sub { ($s->redis('HLEN', rkey('games')) // 0) == 1 });

my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.game.>');
my %crash = (slug => 'crash', type => 'multiplier');

# Round $id recorded as published at $lsn, with its lease ended.
sub recorded {
    my ($id, $lsn) = @_;
    my $rv = rkey('round_version', $id);
    return ($s->redis('HGET', $rv, 'pub') // '') eq sprintf('%020d', $lsn)
        && ($s->redis('HGET', $rv, 'lease') // 'none') eq '';
}

$s->publish_rounds(round_event(op => 'c', id => 1, lsn => 10));
ConsumerTest::Stack::wait_until('round 1 recorded', 10, sub { recorded(1, 10) });
pass 'round 1: publication recorded, lease ended';

my $killed = $s->redis('CLIENT', 'KILL', 'TYPE', 'normal');
cmp_ok $killed, '>=', 2, "Redis dropped the consumer's connections ($killed)";

$s->publish_rounds(round_event(op => 'c', id => 2, lsn => 11));
ConsumerTest::Stack::wait_until('round 2 recorded', 10, sub { recorded(2, 11) });
pass 'round 2, sent on a connection Redis had closed: publication recorded, lease ended';
ok recorded(1, 10), 'round 1 still recorded';

my @got = $watch->messages($sid, 2, 10);
push @got, $watch->messages($sid, 1, 1);
is_deeply [ map { $_->{data} } @got ], [ map { round_json(id => $_, lsn => 9 + $_, %crash) } 1, 2 ],
    'each round published once, in order';
is $s->nchan_rounds('game.crash'), 2, 'game.crash holds each round once';
is $s->metric('consumer', 'datastream_sink_errors_total{sink="redis"}'), 0,
    'no Redis failure counted: the closed connection was replaced';
done_testing;
