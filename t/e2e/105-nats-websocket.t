# The NATS WebSocket listener (conf/nats/nats-server.conf, `websocket {}`), as
# a browser using nats.ws reaches it: a WebSocket client speaks the NATS text
# protocol over it (CONNECT, SUB, PING/PONG) and receives the rounds the
# consumer publishes to rounds.game.<slug> and rounds.type.<type>, as the same
# round object the other surfaces carry, in order.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP qw(decode_json);
use Time::HiRes qw(time);

use DataStream::Stack;
use DataStream::Client qw(ws_connect);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $http = $stack->start_nginx;
$stack->start_consumer;
$stack->seed_games;

my $ws = ws_connect($stack->port('nats_ws'), '/');

# A minimal NATS protocol reader over the WebSocket byte stream: operations
# may be split across frames or share one.
my $in = '';
sub next_op {
    my ($timeout) = @_;
    my $deadline = time + $timeout;
    while (1) {
        if ($in =~ /^(INFO|PING|PONG|\+OK|-ERR)\b([^\r]*)\r\n/) {
            my ($op, $arg) = ($1, $2);
            substr($in, 0, length $&) = '';
            return { op => $op, arg => $arg };
        }
        if ($in =~ /^MSG (\S+) (\S+) (?:(\S+) )?(\d+)\r\n/) {
            my ($subject, $sid, $reply, $len) = ($1, $2, $3, $4);
            my $hl = length $&;
            if (length($in) >= $hl + $len + 2) {
                my $data = substr($in, $hl, $len);
                substr($in, 0, $hl + $len + 2) = '';
                return { op => 'MSG', subject => $subject, sid => $sid, data => $data };
            }
        }
        my $left = $deadline - time;
        return undef if $left <= 0;
        my $frame = $ws->recv($left);
        return undef unless defined $frame;
        $in .= $frame;
    }
}

my $info = next_op(5);
is $info && $info->{op}, 'INFO', 'the server greets with INFO';
like $info && $info->{arg}, qr/"server_name":"datastream-test"/, 'INFO of the project NATS server';

$ws->send_frame(qq(CONNECT {"verbose":false,"pedantic":false,"protocol":1,"name":"e2e-ws","lang":"perl","version":"0"}\r\n)
              . "SUB rounds.game.crash 1\r\nSUB rounds.type.multiplier 2\r\nPING\r\n");
my $pong = next_op(5);
$pong = next_op(5) while $pong && $pong->{op} eq 'PING' && $ws->send_frame("PONG\r\n");
is $pong && $pong->{op}, 'PONG', 'PONG: connected, both subscriptions registered';

my @want = $stack->publish_rounds(801 .. 805);
my (@game, @type);
while (@game < 5 || @type < 5) {
    my $op = next_op(15) or last;
    if ($op->{op} eq 'PING') { $ws->send_frame("PONG\r\n"); next }
    next unless $op->{op} eq 'MSG';
    push @game, $op if $op->{sid} eq '1';
    push @type, $op if $op->{sid} eq '2';
}
is_deeply [map { $_->{data} } @game], \@want, 'rounds.game.crash: the 5 rounds, in order, as round objects';
is_deeply [map { $_->{subject} } @game], [('rounds.game.crash') x 5], '... on subject rounds.game.crash';
is_deeply [map { $_->{data} } @type], \@want, 'rounds.type.multiplier: the same 5 rounds, in order';
is_deeply [map { $_->{subject} } @type], [('rounds.type.multiplier') x 5], '... on subject rounds.type.multiplier';

# Rounds of other games stay off these subjects.
my ($double) = $stack->publish_rounds([double => 806]);
my ($crash) = $stack->publish_rounds(807);
my $op = next_op(15);
$op = next_op(15) while $op && $op->{op} ne 'MSG';
is $op && $op->{data}, $crash, 'a double round is not delivered; the next message is the crash round';

# The listener's only identity is the read-only subscriber: a browser can
# neither write a change event (a fake round, served to every client as real)
# nor read more than rounds.
my $rounds_in_stream = sub {
    my $jsz = decode_json(HTTP::Tiny->new(timeout => 5)
        ->get('http://127.0.0.1:' . $stack->port('nats_monitor') . '/jsz?streams=true')->{content});
    my ($s) = grep { $_->{name} eq 'DebeziumStream' } map { @{ $_->{stream_detail} // [] } } @{ $jsz->{account_details} };
    return $s->{state}{messages};
};
my $before = $rounds_in_stream->();
my ($fake) = DataStream::Stack::round_pair(round_id => 808);
$ws->send_frame('PUB datastream.public.rounds _INBOX.fake.1 ' . length($fake) . "\r\n$fake\r\n"
              . "SUB datastream.> 3\r\nSUB dlq.> 4\r\nPING\r\n");
my @errors;
while (my $op = next_op(5)) {
    last if $op->{op} eq 'PONG';
    push @errors, "$op->{op}$op->{arg}" if $op->{op} eq '-ERR';
}
is_deeply \@errors, [q(-ERR 'Permissions Violation for Publish to "datastream.public.rounds"'),
                     q(-ERR 'Permissions Violation for Subscription to "datastream.>"'),
                     q(-ERR 'Permissions Violation for Subscription to "dlq.>"')],
    'a browser publishing a change event or subscribing beyond rounds.> is refused';
my ($real) = $stack->publish_rounds(809);
$op = next_op(15);
$op = next_op(15) while $op && $op->{op} ne 'MSG';
is $op && $op->{data}, $real, 'the next round on rounds.game.crash is the real one';
is $rounds_in_stream->(), $before + 1, 'the stream holds only the real round';
my $history = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$http/api/history/crash?limit=100",
    { headers => { 'X-API-Key' => $stack->api_key(kind => 'sk') } });
is $history->{status}, 200, 'history of crash answers';
my @ids = $history->{content} =~ /"round_id":(\d+)/g;
is_deeply [grep { $_ == 808 || $_ == 809 } @ids], [809], 'the read model has the real round and not the fake one';

$ws->close;
$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
