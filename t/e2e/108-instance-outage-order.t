# Rounds published while one backend instance is down (a restart, a rollout)
# reach subscribers on the other instance exactly once and in order: the
# consumer writes them into nchan's storage in Redis itself, so no instance
# stands between it and the channels, and none of them holds rounds back.
#
# (Before, the consumer POSTed to one instance's publisher: it held and
# retried the rounds while that instance was down, and a POST stored just as
# the instance quit was at times stored twice.)
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(sse_connect);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
$stack->start_nginx;                          # A
my $port_b = $stack->start_nginx(name => 'nginx2');
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels(nginx2 => $sk, 'crash');

my $sse = sse_connect($port_b, "/sse/crash?api_key=$sk");
is $sse->status, 200, 'subscriber on B';

my @want = $stack->publish_rounds(1 .. 3);    # in JetStream; A goes away right after
$stack->stop_nginx('nginx');
push @want, $stack->publish_rounds($_) for 4 .. 23;   # while A is down, one batch each
$stack->start_nginx;

my @got = map { $_->{data} } $sse->events_n(scalar @want, 60);
my $id = sub { map { /^\{"round_id":(\d+),/ ? $1 : '?' } @_ };
# A repeated round takes the place of the last one: read on until every round has come.
my %seen = map { $_ => 1 } $id->(@got);
while (keys %seen < @want and my $ev = $sse->next_event(10)) {
    push @got, $ev->{data};
    $seen{$_} = 1 for $id->($ev->{data});
}
my @ids = $id->(@got);
my @first = do { my %s; grep { !$s{$_}++ } @ids };
is "@first", "@{[ $id->(@want) ]}", 'in publication order';
ok !(grep { $ids[$_ - 1] eq '?' || $ids[$_] eq '?' || $ids[$_] < $ids[$_ - 1] } 1 .. $#ids),
    'no round after a newer one' or diag "got: @ids";
is_deeply \@ids, [$id->(@want)], 'every round arrives exactly once';

$sse->close;
$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
