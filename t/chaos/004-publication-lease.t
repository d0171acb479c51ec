# Two consumer replicas on one durable publish a round's versions to NATS in LSN order: a version
# is published there only by the holder of the round's publication lease, taken where the
# version is applied. nchan needs no lease: the script that applies a version writes it into
# nchan's storage in the same run, so nchan gets every version, in the order Redis applied them.
#
# Replica A is played by this test through the consumer's own scripts (rounds_apply.lua,
# rounds_published.lua, rounds_lease.lua), so that it stops exactly between applying a version
# and publishing it on NATS; replica B is a real consumer.
#   - A slow holder: A applied version 1 and has not published it; B applies version 2 and
#     waits. Once A published version 1 (and released the lease), B publishes version 2.
#   - A dead holder: A applied version 3 and never publishes it; B, with version 4, waits only
#     until A's lease runs out (PUBLICATION_LEASE_MS), then publishes version 4 once. Version 3
#     never reaches NATS (coalesced, consumer/README.md "Delivery guarantees"); nchan has it.
#   - A holder that lost its lease (removed here, as a Redis that lost the key would): B
#     publishes version 6, and A, checking before its next attempt, must drop version 5.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../consumer/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use DataStream::Stack;
use DataStream::Keys;
use DataStream::ConsumerScript qw(consumer_script);
use DataStream::Client qw(http_request sse_connect);
use ConsumerTest::Nats;
use ConsumerTest::Events qw(round_event round_json);

my $LEASE_MS = 3000;
my %env = (PUBLICATION_LEASE_MS => $LEASE_MS, ACK_WAIT => 5, NAK_DELAY_MAX_MS => 1000,
           FETCH_TIMEOUT_MS => 300, LOG_LEVEL => 'info');

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
$stack->start_nginx;
$stack->start_consumer(name => 'b', env => \%env);
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels(nginx => $sk, 'crash');

my $sse = sse_connect($stack->http_port('nginx'), "/sse/crash?api_key=$sk");
is $sse->status, 200, 'subscriber connected';
my $watch = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('operator'));
my $sid = $watch->subscribe('rounds.game.crash');
my $feed = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('operator'));
my $a_nats = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('consumer'));

my %rj = (slug => 'crash', type => 'multiplier');
my (%event, %json, %lsn);
for my $v (1 .. 6) {
    $lsn{$v} = 5_000_000 + $v;
    $event{$v} = round_event(op => $v == 1 ? 'c' : 'u', id => 7, lsn => $lsn{$v}, extras => qq({"v": $v}));
    $json{$v} = round_json(id => 7, lsn => $lsn{$v}, %rj, extras => qq({"v": $v}));
}
my %version_of = reverse %json;
sub publish { $feed->js_publish('datastream.public.rounds', $_) for @_ }
sub rv_lsn { $stack->redis_cli('HGET', rkey('round_version', $_[0]), 'lsn') =~ s/^0+|\s+\z//gr }
sub lease { $stack->redis_cli('HGET', rkey('round_version', 7), 'lease') =~ s/\s+\z//r }
sub wait_until { DataStream::Stack::wait_until(@_) }

# Replica A, through the consumer's scripts, with the consumer's arguments.
my $A = 'replica-a:1:test';
my %script = map { $_ => consumer_script($_) } qw(rounds_apply rounds_published rounds_lease);
sub run_script { my ($name, @args) = @_; return $stack->redis_cli('EVAL', $script{$name}, 0, 'ds:', @args) }
sub a_applies {
    my ($v) = @_;
    run_script('rounds_apply', 1000, 604800, $A, $LEASE_MS, '*', '{channel:/', 1000, 3600,
               $v == 1 ? 'c' : 'u', 1, 7, sprintf('%020d', $lsn{$v}), 'crash', 'multiplier', $json{$v});
}
sub a_publishes {
    my ($v) = @_;
    $a_nats->publish("rounds.$_", $json{$v}) for 'game.crash', 'type.multiplier';
    run_script('rounds_published', $A, 7, sprintf('%020d', $lsn{$v}));
}
sub a_may_publish { run_script('rounds_lease', $A, $LEASE_MS, 7, sprintf('%020d', $lsn{$_[0]})) =~ s/\s+\z//r }

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
sub metric {
    my ($series) = @_;
    my $res = http_request(GET => 'http://127.0.0.1:' . $stack->port('b_metrics') . '/metrics');
    return ($res->{content} // '') =~ /^\Q$series\E (\S+)$/m ? $1 : undef;
}

# ------------------------------------------------ a slow lease holder

a_applies(1);
like lease(), qr/\Q$A\E$/, 'A holds the publication lease of round 7';
publish($event{2});
wait_until('B applied version 2', sub { rv_lsn(7) eq $lsn{2} }, 10);
wait_until('B waits for the lease', sub { (metric('datastream_publication_lease_waits_total') // 0) >= 1 }, 10);
sleep $LEASE_MS / 2000;
is_deeply [ versions() ], [], 'B did not publish version 2 while A had not published version 1';
a_publishes(1);
is_deeply [ wait_versions(2, 20) ], [ 1, 2 ], 'once A published version 1, version 2 follows';
wait_until('the lease is free', sub { lease() eq '' }, 10);

# ------------------------------------------------ a dead lease holder

a_applies(3);
like lease(), qr/\Q$A\E$/, 'A holds the lease for version 3';
my $dead = time;
publish($event{4});
wait_until('B applied version 4', sub { rv_lsn(7) eq $lsn{4} }, 10);
my @seen = wait_versions(3, 4 * $LEASE_MS / 1000 + 10);
my $blocked = time - $dead;
is_deeply \@seen, [ 1, 2, 4 ], 'after the holder died, B published the newest version';
cmp_ok $blocked, '<=', $LEASE_MS / 1000 + 3, sprintf 'the round was blocked about one lease lifetime (%.1fs, lease %.1fs)',
    $blocked, $LEASE_MS / 1000;
cmp_ok $blocked, '>=', $LEASE_MS / 1000 - 0.5, 'and not before the lease ran out';
is_deeply [ versions(2) ], [ 1, 2, 4 ], 'version 3 never published, version 4 once';

# ------------------------------------------------ a holder that lost its lease

wait_until('the lease is free', sub { lease() eq '' }, 10);
a_applies(5);
publish($event{6});
wait_until('B applied version 6', sub { rv_lsn(7) eq $lsn{6} }, 10);
like lease(), qr/\Q$A\E$/, 'A holds the lease for version 5 while B waits with version 6';
$stack->redis_cli('HDEL', rkey('round_version', 7), 'lease', 'until');
is_deeply [ wait_versions(4, 10) ], [ 1, 2, 4, 6 ], 'B published version 6 once the lease was gone';
is a_may_publish(5), 0, 'A, checking before its next attempt, drops version 5';

my @sse = map { $version_of{ $_->{data} } // () } $sse->events_n(20, 3);
is_deeply \@sse, [ 1 .. 6 ], 'nchan: every version once, in LSN order (published where each was applied)';

my $pid = delete $stack->{procs}{b};
kill 'TERM', $pid;
waitpid $pid, 0;
is $?, 0, 'B exits 0 on SIGTERM';

$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
