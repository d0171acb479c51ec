# Rounds whose nchan publication fails because the instance behind the
# consumer's PUBLISH_URL is down (a restart, a rollout) are published once it
# is back: every round reaches subscribers on the other instance exactly once
# - and, what live clients rely on, in order.
#
# Known problems (TODO below): the consumer NAKs each failed publication with
# its own doubling delay, so rounds that failed more often come back after
# newer ones (a subscriber sees e.g. 4..23 and then 1 2 3); and a POST that
# nchan stored just as A quit, whose answer was lost, is published twice.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(sse_connect);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
$stack->start_nginx;                          # A: the consumer's publisher
my $port_b = $stack->start_nginx(name => 'nginx2');
$stack->start_consumer(nginx => 'nginx');
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
TODO: {
    # A POST nchan stored while A was quitting, but whose answer was lost, is
    # retried and stored again (seen once in a few runs: round 1 twice).
    local $TODO = 'consumer: a publication in flight when the publisher quits can be repeated';
    is_deeply [sort { $a <=> $b } $id->(@got)], [$id->(@want)], 'every round arrives exactly once';
}
TODO: {
    local $TODO = 'consumer: failed nchan publications are retried out of order';
    is "@{[ $id->(@got) ]}", "@{[ $id->(@want) ]}", 'in publication order';
}

$sse->close;
$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
