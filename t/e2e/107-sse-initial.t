# The SSE `initial` event of the contract ("first event `initial` (latest
# round, where nchan allows)"), through the whole pipeline: a fresh SSE
# stream starts with `event: initial` carrying the newest round of its game
# (or of its type) as the read model has it, without an id (so it is never a
# resume point), then the live rounds as `message` events. A resuming stream
# (Last-Event-ID or ?last_event_id=) gets no `initial`, nor does a WebSocket,
# nor a game without rounds. Both replicas behave the same.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my %port = (A => $stack->start_nginx, B => $stack->start_nginx(name => 'nginx2'));
$stack->start_consumer;
$stack->seed_games(DataStream::Stack::game_envelope(5, 'crash-x', 'Crash X', 'multiplier'));
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels($_ => $sk, qw(slot crash type/multiplier)) for qw(nginx nginx2);

subtest 'no rounds yet: no initial event' => sub {
    my $sse = sse_connect($port{A}, "/sse/slot?api_key=$sk");
    my ($r) = $stack->publish_rounds([slot => 10]);
    my $ev = $sse->next_event(10);
    is $ev && $ev->{event}, 'message', 'the first event is the first live round';
    is $ev && $ev->{data}, $r, '... with its round object';
    $sse->close;
};

my @crash = $stack->publish_rounds(map { [crash => $_] } 20 .. 22);
my ($newest_type) = $stack->publish_rounds(['crash-x' => 23]);
# Wait until the read model has them (the initial event reads it).
my $probe = sse_connect($port{A}, "/sse/crash?api_key=$sk");
$probe->events_n(1, 10);
$probe->close;

for my $inst (qw(A B)) {
    subtest "fresh streams on $inst start with the newest round" => sub {
        my $sse = sse_connect($port{$inst}, "/sse/crash?api_key=$sk");
        my $ev = $sse->next_event(10);
        is $ev && $ev->{event}, 'initial', '/sse/crash: first event is initial';
        is $ev && $ev->{data}, $crash[-1], '... carrying the newest crash round';
        is $ev && $ev->{id}, undef, '... without an id';

        my $type = sse_connect($port{$inst}, "/sse/type/multiplier?api_key=$sk");
        $ev = $type->next_event(10);
        is $ev && $ev->{event}, 'initial', '/sse/type/multiplier: first event is initial';
        is $ev && $ev->{data}, $newest_type, '... carrying the newest round of the type (any multiplier game)';

        my ($live) = $stack->publish_rounds([crash => 30 + ($inst eq 'B')]);
        $ev = $sse->next_event(10);
        is_deeply [$ev && $ev->{event}, $ev && $ev->{data}], ['message', $live], '/sse/crash: then the live round';
        ok $ev && $ev->{id}, '... with an id';
        $ev = $type->next_event(10);
        is_deeply [$ev && $ev->{event}, $ev && $ev->{data}], ['message', $live], '/sse/type/multiplier: then the live round';
        push @crash, $live;
        $newest_type = $live;
        $_->close for $sse, $type;
    };
}

subtest 'resumed streams and WebSockets get no initial event' => sub {
    my $sse = sse_connect($port{A}, "/sse/crash?api_key=$sk");
    my ($init, $first) = $sse->events_n(1, 10);
    my ($r1) = $stack->publish_rounds([crash => 40]);
    my $ev = $sse->next_event(10);
    is $ev && $ev->{data}, $r1, 'live round read';
    my $id = $ev && $ev->{id};
    $sse->close;

    my ($r2) = $stack->publish_rounds([crash => 41]);
    for my $how (['Last-Event-ID', "/sse/crash?api_key=$sk", { 'Last-Event-ID' => $id }],
                 ['?last_event_id=', "/sse/crash?api_key=$sk&last_event_id=$id", {}]) {
        my ($what, $path, $headers) = @$how;
        for my $inst (qw(A B)) {
            my $s = sse_connect($port{$inst}, $path, headers => $headers);
            my $e = $s->next_event(10);
            is_deeply [$e && $e->{event}, $e && $e->{data}], ['message', $r2],
                "$what on $inst: the first event is the missed round, no initial";
            $s->close;
        }
    }

    my $ws = ws_connect($port{B}, '/ws/crash', protocol => mint_token($port{B}, $sk));
    my ($r3) = $stack->publish_rounds([crash => 42]);
    is $ws->recv(10), $r3, 'WebSocket: the first frame is the next live round';
    $ws->close;
};

$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
