# The streaming issue's done-criterion, end to end: a browser (headless
# Chromium, EventSource + WebSocket, t/browser/streams.mjs) on instance A, and
# a WebSocket client and an SSE client (Perl) on instance B, both instances
# sharing one Redis, all receive every round published during the test,
# each once and in order - across a graceful restart of A and then of B,
# with rounds published while the instance is down.
#
# The consumer writes the rounds into nchan's storage in Redis: they keep
# flowing whichever instance is down.
use strict;
use warnings;
use Test::More;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Open2 qw(open2);
use JSON::PP qw(decode_json encode_json);

use DataStream::Stack;
use DataStream::Client qw(http_request ws_connect sse_connect mint_token);

my $BROWSER_DIR = abs_path(dirname(__FILE__) . '/../browser');
my $CHROMIUM = $ENV{DS_CHROMIUM} || '/usr/bin/chromium';
my ($node) = grep { -x } map { "$_/node" } split /:/, $ENV{PATH} // '';
plan skip_all => "Chromium is not installed ($CHROMIUM)" unless -x $CHROMIUM;
plan skip_all => 'node is not installed' unless $node;
plan skip_all => 'playwright-core missing: run npm ci in t/browser'
    unless -f "$BROWSER_DIR/node_modules/playwright-core/package.json";

my $node_pid;
$SIG{$_} = sub { kill 'TERM', $node_pid if $node_pid; die "killed by SIG$_[0]\n" } for qw(INT TERM HUP);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $a = $stack->start_nginx;
my $b = $stack->start_nginx(name => 'nginx2');
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk', name => 'server');
my $pk = $stack->api_key(kind => 'pk', name => 'browser', rate_limit => 5000,
                         origins => "http://127.0.0.1:$a http://127.0.0.1:$b");
$stack->hold_channels($_ => $sk, 'crash') for qw(nginx nginx2);

my $next_id = 1001;
my @all;    # every round published during the test, in order
sub rounds {
    my ($n) = @_;
    my @r = $stack->publish_rounds(map { $next_id++ } 1 .. $n);
    push @all, @r;
    return @r;
}
sub round_id { ($_[0] // '') =~ /^\{"round_id":(\d+),/ ? $1 : undef }

# ---------------------------------------------------------------- browser on A

local $ENV{DS_PAGE_URL} = "http://127.0.0.1:$a/healthz";   # any page of A's origin
local $ENV{DS_API_KEY}  = $pk;
local $ENV{DS_CHROMIUM} = $CHROMIUM;
my ($from_node, $to_node);
$node_pid = open2($from_node, $to_node, $node, "$BROWSER_DIR/streams.mjs");
$to_node->autoflush(1);
sub node_line {
    while (my $line = <$from_node>) {
        chomp $line;
        my $msg = eval { decode_json($line) } or do { note $line; next };
        if (exists $msg->{diag}) { diag $msg->{diag}; next }
        return $msg;
    }
    return undef;
}
my $ready = node_line();
ok $ready && $ready->{ready}, 'browser: EventSource and WebSocket open on A' or BAIL_OUT('browser did not start');

# ---------------------------------------------------------------- Perl clients on B

my (@ws_got, @sse_got);
my ($ws, $sse, $last_sse_id);
sub read_b {
    my ($n) = @_;
    push @ws_got, $ws->recv_n($n, 20);
    my @ev = $sse->events_n($n, 20);
    push @sse_got, map { $_->{data} } @ev;
    $last_sse_id = ($ev[-1] // {})->{id} if @ev;
}
$ws  = ws_connect($b, '/ws/crash', protocol => mint_token($b, $sk));
$sse = sse_connect($b, "/sse/crash?api_key=$sk");
is $sse->status, 200, 'SSE client open on B';

# ---------------------------------------------------------------- phase 1: all up

read_b(scalar rounds(5));

# ---------------------------------------------------------------- phase 2: restart A

$stack->stop_nginx('nginx');
rounds(5);                                    # A is down
read_b(5);
$stack->start_nginx;
rounds(5);
read_b(5);

# ---------------------------------------------------------------- phase 3: restart B

read_b(scalar rounds(3));

$stack->stop_nginx('nginx2');
is $ws->recv(5), undef, 'WebSocket client on B: closed by the shutdown';
is $ws->close_code, 1001, '... with 1001';
is $sse->next_event(5), undef, 'SSE client on B: stream ended by the shutdown';
my $last_round = round_id($ws_got[-1]);
rounds(5);                                    # B is down
$stack->start_nginx(name => 'nginx2');
$stack->wait_subscribable(nginx2 => $sk);

# Reconnect: SSE resumes by id; WebSocket reconnects, then fills the gap from REST.
$sse = sse_connect($b, "/sse/crash?api_key=$sk", headers => { 'Last-Event-ID' => $last_sse_id });
is $sse->status, 200, 'SSE client resumed on the restarted B';
$ws = ws_connect($b, '/ws/crash', protocol => mint_token($b, $sk));
# The first subscriber of a channel on an instance may be live only some ms
# after the handshake (docs/streaming.md): read the history a moment later.
select undef, undef, undef, 1;
my $res = http_request(GET => "http://127.0.0.1:$b/api/history/crash?limit=100", headers => { 'X-API-Key' => $sk });
(my $body = $res->{content}) =~ s/^\[|\]$//g;
my @gap = reverse grep { round_id($_) > $last_round } split /(?<=\}),(?=\{"round_id":)/, $body;
push @ws_got, @gap;
my @ev = $sse->events_n(5, 20);
push @sse_got, map { $_->{data} } @ev;

my @tail = rounds(4);
my %seen = map { round_id($_) => 1 } @ws_got;
push @ws_got, grep { !$seen{ round_id($_) }++ } $ws->recv_n(4, 20);
push @sse_got, map { $_->{data} } $sse->events_n(4, 20);

# ---------------------------------------------------------------- compare

my $n = @all;
is_deeply \@ws_got, \@all, "WebSocket client on B: all $n rounds, once, in order";
is_deeply \@sse_got, \@all, "SSE client on B: all $n rounds, once, in order";

print $to_node encode_json({ until => 0 + round_id($all[-1]) }) . "\n";
my $result = node_line();
close $to_node;
waitpid $node_pid, 0;
$node_pid = undef;
is $? >> 8, 0, 'streams.mjs ran to the end';
my $r = $result && $result->{result} || {};
is_deeply $r->{sse}, \@all, "browser EventSource on A: all $n rounds, once, in order";
is_deeply $r->{ws}, \@all, "browser WebSocket on A: all $n rounds, once, in order";
diag "browser: $_" for @{ $r->{log} // [] };

$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
