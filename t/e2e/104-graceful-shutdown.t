# Graceful shutdown (`nginx -s quit`, what a rolling update does) of the
# instance the clients are connected to, while rounds keep being published:
#   - WebSocket subscribers get a close frame with status 1001 (going away),
#     SSE subscribers see their stream end;
#   - each client reconnects to the other instance and resumes, missing no
#     round published meanwhile and getting none twice:
#       SSE: Last-Event-ID (what EventSource does by itself);
#       WebSocket with the ws+meta.nchan subprotocol (offered before the
#         token): frames carry nchan's message id, resume with ?last_event_id=;
#       plain WebSocket given an id it knows: ?last_event_id= as well;
#       plain WebSocket (frames carry only the round): remember the last
#         round_id, reconnect, then fill the gap from
#         GET /api/history/<game>?limit=N (rounds with a higher round_id),
#         dropping live frames already seen.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);

use DataStream::Stack;
use DataStream::Client qw(http_request ws_connect sse_connect mint_token ws_meta_split);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $a = $stack->start_nginx;
my $b = $stack->start_nginx(name => 'nginx2');
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels($_ => $sk, 'crash') for qw(nginx nginx2);

my $next_id = 700;
sub rounds { my ($n) = @_; return $stack->publish_rounds(map { $next_id++ } 1 .. $n) }
sub round_id { ($_[0] // '') =~ /^\{"round_id":(\d+),/ ? $1 : undef }

# ---------------------------------------------------------------- before

my $ws    = ws_connect($a, '/ws/crash', protocol => mint_token($a, $sk));
my $wsm   = ws_connect($a, '/ws/crash', protocol => 'ws+meta.nchan, ' . mint_token($a, $sk));
my $sse   = sse_connect($a, "/sse/crash?api_key=$sk");
is $wsm->header('sec-websocket-protocol'), 'ws+meta.nchan', 'ws+meta.nchan offered first is the echoed subprotocol';

my @before = rounds(3);
is_deeply [$ws->recv_n(3, 15)], \@before, 'plain WebSocket: rounds before the shutdown';
my @meta = map { [ws_meta_split($_)] } $wsm->recv_n(3, 15);
is_deeply [map { $_->[1] } @meta], \@before, 'ws+meta.nchan: the same rounds, after a header block';
my @ev = $sse->events_n(3, 15);
is_deeply [map { $_->{data} } @ev], \@before, 'SSE: rounds before the shutdown';

my $last_round = round_id($before[-1]);
my $last_meta_id = ($meta[-1] // [])->[0];
my $last_sse_id = ($ev[-1] // {})->{id};
like $last_meta_id // '', qr/^\d+:\d+$/, 'ws+meta.nchan: each frame carries the message id (' . ($last_meta_id // 'none') . ')';
is $last_sse_id, $last_meta_id, 'SSE and ws+meta.nchan see the same message id';

# ---------------------------------------------------------------- quit A

my $pid = do { open my $fh, '<', $stack->dir . '/nginx/nginx.pid' or die; local $/; <$fh> };
chomp $pid;
my $t0 = time;
kill 'QUIT', $pid or die "QUIT $pid: $!";

is $ws->recv(10), undef, 'plain WebSocket: no frame, the connection closes';
is $ws->close_code, 1001, 'plain WebSocket: close status 1001 (going away)';
is $wsm->recv(10), undef, 'ws+meta.nchan: closes as well';
is $wsm->close_code, 1001, 'ws+meta.nchan: close status 1001';
is $sse->next_event(10), undef, 'SSE: no further event';
ok $sse->ended, 'SSE: the stream ended';
diag sprintf 'subscribers closed %.2f s after QUIT; WebSocket reason "%s"', time - $t0, $ws->close_reason // '';
$stack->stop_nginx('nginx');    # waits for the master to exit
ok !kill(0, $pid), 'A has exited';

# ---------------------------------------------------------------- meanwhile

my @missed = rounds(5);

# ---------------------------------------------------------------- resume on B

subtest 'SSE resumes on B with Last-Event-ID' => sub {
    my $s = sse_connect($b, "/sse/crash?api_key=$sk", headers => { 'Last-Event-ID' => $last_sse_id });
    is $s->status, 200, 'admitted on B';
    my @got = $s->events_n(5, 15);
    is_deeply [map { $_->{data} } @got], \@missed, 'exactly the 5 rounds published meanwhile, in order';
    is_deeply [map { $_->{event} } @got], [('message') x 5], 'as message events';
    $sse = $s;
};

subtest 'ws+meta.nchan resumes on B with ?last_event_id=' => sub {
    my $w = ws_connect($b, "/ws/crash?last_event_id=$last_meta_id",
                       protocol => 'ws+meta.nchan, ' . mint_token($b, $sk));
    my @got = map { [ws_meta_split($_)] } $w->recv_n(5, 15);
    is_deeply [map { $_->[1] } @got], \@missed, 'exactly the 5 rounds published meanwhile, in order';
    ok !grep({ !defined $_->[0] } @got), 'every frame carries its id';
    $wsm = $w;
};

my $wsid;
subtest 'plain WebSocket with a known id resumes with ?last_event_id=' => sub {
    # Frames carry no id, but a client that has one (here: from SSE) can use it.
    $wsid = ws_connect($b, "/ws/crash?last_event_id=$last_sse_id", protocol => mint_token($b, $sk));
    is_deeply [$wsid->recv_n(5, 15)], \@missed, 'exactly the 5 rounds published meanwhile, in order, as plain frames';
};

my @plain;    # what the plain WebSocket client ends up with, in order
subtest 'plain WebSocket resumes on B and fills the gap from REST history' => sub {
    # 1. Reconnect first, so nothing published from now on can fall between.
    my $w = ws_connect($b, '/ws/crash', protocol => mint_token($b, $sk));
    # 2. The gap: rounds newer than the last one seen, oldest first.
    my $res = http_request(GET => "http://127.0.0.1:$b/api/history/crash?limit=100", headers => { 'X-API-Key' => $sk });
    is $res->{status}, 200, 'history answers';
    my $body = $res->{content};
    $body =~ s/^\[//;
    $body =~ s/\]$//;
    my @items = length $body ? split /(?<=\}),(?=\{"round_id":)/, $body : ();
    my @gap = reverse grep { round_id($_) > $last_round } @items;
    is_deeply \@gap, \@missed, 'history holds exactly the missed rounds, same bytes as the frames';
    push @plain, @gap;
    $ws = $w;
};

# ---------------------------------------------------------------- live again

my @live = rounds(3);
my %seen = map { round_id($_) => 1 } @plain;
for my $m ($ws->recv_n(3, 15)) {
    push @plain, $m unless $seen{ round_id($m) }++;
}
is_deeply \@plain, [@missed, @live], 'plain WebSocket: gap, then live rounds, each once, in order';
is_deeply [map { [ws_meta_split($_)]->[1] } $wsm->recv_n(3, 15)], \@live, 'ws+meta.nchan: then the live rounds';
is_deeply [map { $_->{data} } $sse->events_n(3, 15)], \@live, 'SSE: then the live rounds';
is_deeply [$wsid->recv_n(3, 15)], \@live, 'plain WebSocket resumed by id: then the live rounds';

$_->close for $ws, $wsm, $sse, $wsid;
$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
