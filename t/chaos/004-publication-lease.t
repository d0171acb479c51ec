# Two consumer replicas on one durable, the interleaving that once put a round's versions out
# of order forced step by step: replica A applies version 1 of round 7 and cannot publish it
# (its nchan publisher is down), replica B applies version 2. B must not publish version 2
# before A has published version 1: A holds the round's publication lease (and renews it for
# as long as its retries last), B waits for it. Once A's publisher is back, subscribers get
# version 1, then version 2, once each.
# Then the lease holder dies: A applies version 3, cannot publish it and is killed (-9) while
# B waits with version 4. The round is blocked only until A's lease runs out
# (PUBLICATION_LEASE_MS); then B publishes version 4, once. Version 3 is never published: it
# was overtaken while its publisher was dead (coalesced), which is what the consumer promises
# after a crash (consumer/README.md, "Delivery guarantees").
# Last, a holder that loses its lease while it retries (removed here, as a Redis that lost the
# key would) re-validates before its next attempt: B publishes version 6, and A drops version 5
# instead of publishing it after version 6.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../consumer/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use DataStream::Stack;
use DataStream::Keys;
use DataStream::Client qw(http_request sse_connect);
use ConsumerTest::Nats;
use ConsumerTest::Events qw(round_event round_json);

my $LEASE_MS = 3000;
# One round per fetch, so that a known number of rounds fills what may queue behind a
# publication in progress (below).
my %env = (PUBLICATION_LEASE_MS => $LEASE_MS, ACK_WAIT => 5, NAK_DELAY_MAX_MS => 1000,
           FETCH_TIMEOUT_MS => 300, LOG_LEVEL => 'info', BATCH_SIZE => 1);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
$stack->start_nginx;                      # A's publisher
$stack->start_nginx(name => 'nginx2');    # B's publisher; subscribers are on it
$stack->start_consumer(name => 'a', nginx => 'nginx', env => \%env);
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels(nginx2 => $sk, 'crash');

my $sse = sse_connect($stack->http_port('nginx2'), "/sse/crash?api_key=$sk");
is $sse->status, 200, 'subscriber on the instance B publishes to';
my $watch = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('operator'));
my $sid = $watch->subscribe('rounds.game.crash');
my $feed = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('operator'));

my %rj = (slug => 'crash', type => 'multiplier');
my (%event, %json);
for my $v (1 .. 6) {
    my $lsn = 5_000_000 + $v;
    $event{$v} = round_event(op => $v == 1 ? 'c' : 'u', id => 7, lsn => $lsn, extras => qq({"v": $v}));
    $json{$v} = round_json(id => 7, lsn => $lsn, %rj, extras => qq({"v": $v}));
}
my %version_of = reverse %json;
sub publish { $feed->js_publish('datastream.public.rounds', $_) for @_ }
sub rv_lsn { $stack->redis_cli('HGET', rkey('round_version', $_[0]), 'lsn') =~ s/^0+|\s+\z//gr }
sub lease { $stack->redis_cli('HGET', rkey('round_version', 7), 'lease') =~ s/\s+\z//r }
sub held_by { my ($name) = @_; my $pid = $stack->{procs}{$name}; return lease() =~ /:$pid:[0-9a-f]+$/ }
sub metric {
    my ($name, $series) = @_;
    my $res = http_request(GET => 'http://127.0.0.1:' . $stack->port("${name}_metrics") . '/metrics');
    return ($res->{content} // '') =~ /^\Q$series\E (\S+)$/m ? $1 : undef;
}
sub wait_until { DataStream::Stack::wait_until(@_) }
# Every message of rounds.game.crash so far, in arrival order; versions: those of round 7.
my @published;
sub versions {
    my ($timeout) = @_;
    push @published, map { $_->{data} } $watch->messages($sid, 1000, $timeout // 0.2);
    return map { $version_of{$_} // () } @published;
}
sub wait_versions {
    my ($want, $timeout) = @_;
    my $deadline = time + $timeout;
    my @v = versions();
    @v = versions() while @v < $want && time < $deadline;
    return @v;
}
# Filler rounds keep A's fetch thread busy: four fetched batches queue behind the batch A
# cannot publish (consumer/README.md, "Pipeline stages"), the fifth waits for room once applied, so
# the next event goes to B. Rounds $first .. $first + 4.
sub block_fetching_of_a {
    my ($first) = @_;
    my @fillers = ($first .. $first + 4);
    publish(map { round_event(op => 'c', id => $_, lsn => 5_000_000 + $_) } @fillers);
    wait_until("A applied filler rounds @fillers", sub { !grep { rv_lsn($_) ne 5_000_000 + $_ } @fillers }, 10);
}

# ------------------------------------------------ a slow lease holder

$stack->stop_nginx('nginx');
publish($event{1});
wait_until('A applied version 1', sub { rv_lsn(7) eq 5_000_001 }, 10);
ok held_by('a'), 'A holds the publication lease of round 7';
block_fetching_of_a(80);
$stack->start_consumer(name => 'b', nginx => 'nginx2', env => \%env);
publish($event{2});
wait_until('B applied version 2', sub { rv_lsn(7) eq 5_000_002 }, 10);
wait_until('B waits for the lease', sub { (metric('b', 'datastream_publication_lease_waits_total') // 0) >= 1 }, 10);
sleep 2 * $LEASE_MS / 1000;
is_deeply [ versions() ], [], 'B did not publish version 2 while A could not publish version 1';
ok held_by('a'), 'A still holds the lease after twice its lifetime (renewed while retrying)';

$stack->start_nginx;
is_deeply [ wait_versions(2, 20) ], [ 1, 2 ], 'once A publishes version 1, version 2 follows';
wait_until('A released the lease', sub { lease() eq '' }, 10);

# ------------------------------------------------ a killed lease holder

$stack->stop_consumer('b');
$stack->stop_nginx('nginx');
publish($event{3});
wait_until('A applied version 3', sub { rv_lsn(7) eq 5_000_003 }, 10);
ok held_by('a'), 'A holds the lease for version 3';
block_fetching_of_a(90);
$stack->start_consumer(name => 'b', nginx => 'nginx2', env => \%env);
publish($event{4});
wait_until('B applied version 4', sub { rv_lsn(7) eq 5_000_004 }, 10);
sleep 1;
$stack->stop_consumer('a', 'KILL');
my $killed = time;
my @seen = wait_versions(3, 4 * $LEASE_MS / 1000 + 10);
my $blocked = time - $killed;
is_deeply \@seen, [ 1, 2, 4 ], 'after the holder was killed, B published the newest version';
cmp_ok $blocked, '<=', $LEASE_MS / 1000 + 3, sprintf 'the round was blocked about one lease lifetime (%.1fs, lease %.1fs)',
    $blocked, $LEASE_MS / 1000;

# A's unacknowledged messages come back to B after ACK_WAIT: version 3 is stale by then, the
# filler rounds are published.
wait_until('filler rounds 90-94 published', sub { versions(); 5 == grep { /"round_id":9\d,/ } @published }, 30);
my $js = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('operator'));
wait_until('drained', sub {
    my $i = $js->js_api('CONSUMER.INFO.DebeziumStream.cdc-public-rounds');
    $i->{num_pending} + $i->{num_ack_pending} == 0 }, 30);
is_deeply [ versions(2) ], [ 1, 2, 4 ], 'version 3 never published, version 4 once';

# ------------------------------------------------ a holder that lost its lease

$stack->stop_consumer('b');
$stack->start_consumer(name => 'a', nginx => 'nginx', env => \%env);    # its nginx is still down
publish($event{5});
wait_until('A applied version 5', sub { rv_lsn(7) eq 5_000_005 }, 10);
block_fetching_of_a(100);
$stack->start_consumer(name => 'b', nginx => 'nginx2', env => \%env);
publish($event{6});
wait_until('B applied version 6', sub { rv_lsn(7) eq 5_000_006 }, 10);
ok held_by('a'), 'A holds the lease for version 5 while B waits with version 6';
$stack->redis_cli('HDEL', rkey('round_version', 7), 'lease', 'until');
is_deeply [ wait_versions(4, 10) ], [ 1, 2, 4, 6 ], 'B published version 6 once the lease was gone';
wait_until('A dropped version 5', sub { (metric('a', 'datastream_publications_coalesced_total') // 0) == 1 }, 10);
$stack->start_nginx;
wait_until('filler rounds 100-104 published', sub { versions(); 5 == grep { /"round_id":10\d,/ } @published }, 30);
is_deeply [ versions(2) ], [ 1, 2, 4, 6 ], 'A did not publish version 5 after version 6';

my @sse = map { $version_of{ $_->{data} } // () } $sse->events_n(20, 3);
is_deeply \@sse, [ 1, 2, 4, 6 ], 'the SSE subscriber got the same versions in the same order';

for my $name (qw(a b)) {
    my $pid = delete $stack->{procs}{$name};
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is $?, 0, "$name exits 0 on SIGTERM";
}

$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
