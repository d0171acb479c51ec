# A burst of rounds reaches every subscriber location exactly once and in
# order: /ws/<slug> and /sse/<slug> get their game's rounds, /ws/type/<type>
# and /sse/type/<type> get the rounds of every game of that type (two games
# of type multiplier here), and nothing of other games. A sentinel round
# published after the burst proves that nothing extra (no duplicate, no
# foreign round) was delivered before it.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token);

my $N = 40;    # rounds per game in the burst

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;
# A second game of type multiplier, so the type channel has two sources.
$stack->seed_games(DataStream::Stack::game_envelope(5, 'crash-x', 'Crash X', 'multiplier'));
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels(nginx => $sk, qw(crash type/multiplier double));

# Subscribers open before any round exists: no `initial` event can apply.
my %ws = (
    crash      => ws_connect($port, '/ws/crash', protocol => mint_token($port, $sk)),
    multiplier => ws_connect($port, '/ws/type/multiplier', protocol => mint_token($port, $sk)),
    double     => ws_connect($port, '/ws/double', protocol => mint_token($port, $sk)),
);
my %sse = (
    crash      => sse_connect($port, "/sse/crash?api_key=$sk"),
    multiplier => sse_connect($port, "/sse/type/multiplier?api_key=$sk"),
    double     => sse_connect($port, "/sse/double?api_key=$sk"),
);
is $sse{$_}->status, 200, "SSE $_ open" for sort keys %sse;

# Interleaved burst: crash, crash-x, double, crash, crash-x, double, ...
my @order;
for my $i (0 .. $N - 1) {
    push @order, map { [$_, 1000 + 3 * $i + ($_ eq 'crash' ? 0 : $_ eq 'crash-x' ? 1 : 2)] } qw(crash crash-x double);
}
my @json = $stack->publish_rounds(@order);
my %want;
for my $k (0 .. $#order) {
    my $game = $order[$k][0];
    push @{ $want{$game eq 'double' ? 'double' : 'multiplier'} }, $json[$k] if $game ne 'double';
    push @{ $want{double} }, $json[$k] if $game eq 'double';
    push @{ $want{crash} }, $json[$k] if $game eq 'crash';
}
is scalar @{ $want{crash} }, $N, "$N crash rounds published";
is scalar @{ $want{multiplier} }, 2 * $N, 2 * $N . ' multiplier rounds published';

for my $ch (sort keys %want) {
    my $n = @{ $want{$ch} };
    my @got = $ws{$ch}->recv_n($n, 30);
    is_deeply \@got, $want{$ch}, "WebSocket $ch: $n rounds, each once, in order";
    my @ev = $sse{$ch}->events_n($n, 30);
    is_deeply [map { $_->{data} } @ev], $want{$ch}, "SSE $ch: $n rounds, each once, in order";
    is_deeply [map { $_->{event} } @ev], [('message') x $n], "SSE $ch: every event is a message";
    my %ids = map { ($_->{id} // '') => 1 } @ev;
    is scalar(grep { length } keys %ids), $n, "SSE $ch: $n distinct event ids";
}

# Sentinels: the next thing on every channel is its sentinel, nothing before it.
my ($s_crash, $s_double) = $stack->publish_rounds([crash => 9001], [double => 9002]);
my %sentinel = (crash => $s_crash, multiplier => $s_crash, double => $s_double);
for my $ch (sort keys %sentinel) {
    is $ws{$ch}->recv(10), $sentinel{$ch}, "WebSocket $ch: nothing extra before the sentinel";
    my $ev = $sse{$ch}->next_event(10);
    is $ev && $ev->{data}, $sentinel{$ch}, "SSE $ch: nothing extra before the sentinel";
}

$_->close for values %ws, values %sse;
$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
