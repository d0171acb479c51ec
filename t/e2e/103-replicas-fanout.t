# Two nginx instances (replicas) sharing one Redis: a round the consumer
# publishes (into nchan's storage in Redis) reaches WebSocket and SSE
# subscribers of the game channel and of the type channel on A and on B, every
# round once and in order. A message posted to B's internal publisher reaches
# A's subscribers as well: nchan's Redis storage makes the channels common.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(http_request ws_connect sse_connect mint_token);

my $N = 30;

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my %port = (A => $stack->start_nginx, B => $stack->start_nginx(name => 'nginx2'));
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels($_ => $sk, qw(crash type/multiplier)) for qw(nginx nginx2);

my @subs;    # [label, client, kind]
for my $inst (qw(A B)) {
    my $p = $port{$inst};
    push @subs, ["$inst ws /ws/crash", ws_connect($p, '/ws/crash', protocol => mint_token($p, $sk)), 'ws'];
    push @subs, ["$inst ws /ws/type/multiplier", ws_connect($p, '/ws/type/multiplier', protocol => mint_token($p, $sk)), 'ws'];
    push @subs, ["$inst sse /sse/crash", sse_connect($p, "/sse/crash?api_key=$sk"), 'sse'];
    push @subs, ["$inst sse /sse/type/multiplier", sse_connect($p, "/sse/type/multiplier?api_key=$sk"), 'sse'];
}

my @want = $stack->publish_rounds(map { 500 + $_ } 1 .. $N);
for my $s (@subs) {
    my ($label, $c, $kind) = @$s;
    my @got = $kind eq 'ws' ? $c->recv_n($N, 30) : map { $_->{data} } $c->events_n($N, 30);
    is_deeply \@got, \@want, "$label: all $N rounds, once, in order";
}

# Posted to B's internal publisher by hand.
my ($env, $json) = DataStream::Stack::round_pair(round_id => 600, game => 'crash');
my $res = http_request(POST => 'http://127.0.0.1:' . $stack->port('nginx2_publish') . '/pub/game.crash,type.multiplier',
                       headers => { 'Content-Type' => 'application/json' }, body => $json);
like $res->{status}, qr/^20[12]$/, "B's publisher accepts the round ($res->{status})";
for my $s (@subs) {
    my ($label, $c, $kind) = @$s;
    my $got = $kind eq 'ws' ? $c->recv(10) : do { my $e = $c->next_event(10); $e && $e->{data} };
    is $got, $json, "$label: the round posted to B, next and alone";
}

# The public port has no publisher, on either instance.
for my $inst (qw(A B)) {
    my $r = http_request(POST => "http://127.0.0.1:$port{$inst}/pub/game.crash", body => $json,
                         headers => { 'Content-Type' => 'application/json' });
    isnt $r->{status}, 201, "$inst: no publishing through the public port ($r->{status})";
    isnt $r->{status}, 202, "$inst: ... not even stored";
}

$_->[1]->close for @subs;
$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
