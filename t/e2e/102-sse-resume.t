# SSE resume: a subscriber that disconnects and comes back with the id of the
# last event it saw (Last-Event-ID header, as EventSource sends it, or
# ?last_event_id=) gets exactly the rounds it missed, in order, as `message`
# events (no `initial` event on a resumed stream), then the live rounds.
# Resuming works on the same instance, on the same instance after it was
# restarted, and on another instance sharing the Redis: nchan keeps channels
# and their message buffers in Redis.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(sse_connect);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $a = $stack->start_nginx;                    # the instance clients use
my $b = $stack->start_nginx(name => 'nginx2');  # the other replica
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels(nginx => $sk, qw(crash type/multiplier));

my $next_id = 100;
sub rounds { my ($n) = @_; return $stack->publish_rounds(map { $next_id++ } 1 .. $n) }

# The first n message events of a fresh stream: an `initial` event (newest
# round at connect, sent by the server on fresh streams) is not a live round.
sub fresh_events {
    my ($sse, $n) = @_;
    my @e = $sse->events_n($n, 15);
    if (@e && $e[0]{event} eq 'initial') { shift @e; push @e, $sse->events_n(1, 15) }
    return @e;
}

# Connects, skips a leading `initial` event if the server sends one, and
# reads the given rounds; returns the client and the id of the last event.
sub follow {
    my ($port, $path, $want, %opt) = @_;
    my $sse = sse_connect($port, $path, %opt);
    is $sse->status, 200, "subscribed on port $port";
    return $sse unless $want;
    my @got = fresh_events($sse, scalar @$want);
    is_deeply [map { $_->{data} } @got], $want, scalar(@$want) . ' rounds read before the disconnect';
    return ($sse, ($got[-1] // {})->{id});
}

# Asserts that a resumed stream delivers exactly $missed, then the live rounds.
sub resumed_exactly {
    my ($sse, $missed, $what) = @_;
    my @got = $sse->events_n(scalar @$missed, 15);
    is_deeply [map { $_->{data} } @got], $missed, "$what: exactly the " . scalar(@$missed) . ' missed rounds, in order';
    is_deeply [map { $_->{event} } @got], [('message') x @$missed], "$what: as message events (no initial)";
    my @live = rounds(2);
    my @after = $sse->events_n(2, 15);
    is_deeply [map { $_->{data} } @after], \@live, "$what: then the live rounds, nothing in between";
    return $after[-1] && $after[-1]{id};
}

subtest 'Last-Event-ID after a disconnect, same instance' => sub {
    my $first = sse_connect($a, "/sse/crash?api_key=$sk");   # opened before any round
    my @before = rounds(3);
    my @got = fresh_events($first, 3);
    is_deeply [map { $_->{data} } @got], \@before, 'live rounds before the disconnect';
    my $last = ($got[-1] // {})->{id};
    like $last, qr/^\d+:\d+$/, "event id is nchan's <time>:<tag> ($last)";
    $first->close;

    my @missed = rounds(5);
    my $sse = sse_connect($a, "/sse/crash?api_key=$sk", headers => { 'Last-Event-ID' => $last });
    is $sse->status, 200, 'resumed with Last-Event-ID';
    resumed_exactly($sse, \@missed, 'Last-Event-ID');
    $sse->close;
};

subtest '?last_event_id= after a disconnect, same instance' => sub {
    my ($sse, $last) = follow($a, "/sse/crash?api_key=$sk", []);
    my @live = rounds(2);
    my @got = fresh_events($sse, 2);
    $last = ($got[-1] // {})->{id};
    is_deeply [map { $_->{data} } @got], \@live, 'live rounds';
    $sse->close;

    my @missed = rounds(4);
    $sse = sse_connect($a, "/sse/crash?api_key=$sk&last_event_id=" . $last);
    is $sse->status, 200, 'resumed with ?last_event_id=';
    resumed_exactly($sse, \@missed, '?last_event_id=');
    $sse->close;
};

subtest 'resume on the same instance after it was restarted' => sub {
    my ($sse) = follow($a, "/sse/type/multiplier?api_key=$sk", []);
    my @live = rounds(3);
    my @got = fresh_events($sse, 3);
    is_deeply [map { $_->{data} } @got], \@live, 'live rounds on A';
    my $last = ($got[-1] // {})->{id};
    $sse->close;

    my @missed = rounds(2);                      # while A still runs
    $stack->stop_nginx('nginx');
    push @missed, rounds(3);                     # while A is down
    $stack->start_nginx;                         # same ports, empty shared memory
    $stack->wait_subscribable(nginx => $sk);
    $stack->hold_channels(nginx => $sk, 'crash');     # for the next subtest's fresh subscriber
    $sse = sse_connect($a, "/sse/type/multiplier?api_key=$sk", headers => { 'Last-Event-ID' => $last });
    is $sse->status, 200, 'resumed on the restarted A';
    resumed_exactly($sse, \@missed, 'after restart');
    $sse->close;
};

subtest 'resume on another instance' => sub {
    my ($sse) = follow($a, "/sse/crash?api_key=$sk", []);
    my @live = rounds(2);
    my @got = fresh_events($sse, 2);
    is_deeply [map { $_->{data} } @got], \@live, 'live rounds on A';
    my $last = ($got[-1] // {})->{id};
    $sse->close;

    my @missed = rounds(4);
    $sse = sse_connect($b, "/sse/crash?api_key=$sk", headers => { 'Last-Event-ID' => $last });
    is $sse->status, 200, 'resumed on B with the id from A';
    my $id = resumed_exactly($sse, \@missed, 'on B');
    $sse->close;

    # And back again: ids from B are valid on A.
    @missed = rounds(2);
    $sse = sse_connect($a, "/sse/crash?api_key=$sk&last_event_id=$id");
    resumed_exactly($sse, \@missed, 'back on A with the id from B');
    $sse->close;
};

$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
