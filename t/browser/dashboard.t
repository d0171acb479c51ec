# The live dashboard in headless Chromium against the whole stack: every game
# shows rounds over WebSocket, SSE and REST, live rounds arrive on all three,
# the three agree once the feed stops, and the WebSocket handshake carries the
# short-lived token as its subprotocol. The page is driven by dashboard.mjs
# (playwright-core); a screenshot is kept as a test artifact.
use strict;
use warnings;
use Test::More;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use JSON::PP qw(encode_json decode_json);

use FindBin;
use lib "$FindBin::Bin/../lib";
use DataStream::Stack;
use DataStream::Client qw(http_request);

my $HERE     = abs_path(dirname(__FILE__));
my $CHROMIUM = $ENV{DS_CHROMIUM} || '/usr/bin/chromium';
my @GAMES    = qw(crash double slot wall-street);

plan skip_all => "Chromium is not installed ($CHROMIUM; Debian package chromium)" unless -x $CHROMIUM;

# A signal must still run the stack's destructor, and stop the browser side,
# or servers and Chromium outlive the test.
my $node_pid;
$SIG{$_} = sub { kill 'TERM', $node_pid if $node_pid; die "killed by SIG$_[0]\n" } for qw(INT TERM HUP);

# ---------------------------------------------------------------- node side

sub give_up { fail $_[0]; done_testing; exit }

my ($node) = grep { -x } map { "$_/node" } split /:/, $ENV{PATH} // '';
give_up('node is not installed (Node.js 20 or newer runs playwright-core)') unless $node;
my ($node_major) = `'$node' --version` =~ /^v(\d+)/;
give_up('node 20 or newer is needed, found ' . `'$node' --version`) unless ($node_major // 0) >= 20;
unless (-f "$HERE/node_modules/playwright-core/package.json") {
    note 'installing t/browser/node_modules with npm ci';
    system("cd '$HERE' && npm ci --no-audit --no-fund --loglevel=error >&2") == 0
        or give_up('npm ci in t/browser failed (is the npm registry reachable?)');
}

# ---------------------------------------------------------------- stack

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;
my $base   = "http://127.0.0.1:$port";
my $origin = $base;
my $feed   = $stack->build . '/bin/datastream-feed';

# The page polls /api/latest for four games every second and fetches a token
# per WebSocket (re)connect: well above the pk_ default of 100 a minute.
my $pk = $stack->api_key(kind => 'pk', name => 'dashboard-test', origins => $origin, rate_limit => 2000);
like $pk, qr/^pk_live_[0-9a-f]{64}$/, 'pk key created for the page origin';
my $sk = $stack->api_key(kind => 'sk', name => 'dashboard-test-server');

my $config = $stack->dir . '/nginx/dashboard-config.js';
open my $cfg, '>', $config or die "$config: $!";
print $cfg qq{window.DATASTREAM_CONFIG = { apiKey: "$pk" };\n};
close $cfg or die "$config: $!";
my $res = http_request(GET => "$base/dashboard-config.js");
like $res->{content}, qr/\Q$pk\E/, 'nginx serves the dashboard config';

# Reference games, then two rounds per game before the page opens.
$stack->publish('datastream.public.games', split /\n/, `'$feed' gen games`);
my $ROUNDS = 8;
$stack->publish('datastream.public.rounds', split /\n/, `'$feed' gen rounds --count $ROUNDS --start-id 1`);
my $ready = eval {
    DataStream::Stack::wait_until('latest round of every game', sub {
        for my $g (@GAMES) {
            my $r = http_request(GET => "$base/api/latest/$g", headers => { 'X-API-Key' => $sk });
            return 0 unless $r->{status} == 200 && $r->{content} =~ /"round_id":\d+/;
        }
        return 1;
    }, 20);
};
ok $ready, 'REST has a latest round for every game' or diag $@;

# The live phase: the demo feed continues after the generated ids.
my $state_file = $stack->dir . '/feed-last-round-id';
open my $sf, '>', $state_file or die "$state_file: $!";
print $sf "$ROUNDS\n";
close $sf or die "$state_file: $!";
my @feed_cmd = ($feed, 'demo', '--url', $stack->nats_url('debezium'), '--speed', '20', '--state-file', $state_file);

# ---------------------------------------------------------------- browser

# build/test-artifacts for the release pass, build/asan/test-artifacts for the sanitizer pass.
my $artifacts = $ENV{DS_ARTIFACT_DIR} || $stack->build . '/test-artifacts';
make_path($artifacts);
my $shot = "$artifacts/dashboard.png";
unlink $shot;

{
    local $ENV{DS_DASHBOARD_URL} = "$base/";
    local $ENV{DS_SCREENSHOT}    = $shot;
    local $ENV{DS_FEED_CMD}      = encode_json(\@feed_cmd);
    local $ENV{DS_GAMES}         = join ',', @GAMES;
    local $ENV{DS_CHROMIUM}      = $CHROMIUM;
    $node_pid = open my $out, '-|', $node, "$HERE/dashboard.mjs" or die "node: $!";
    while (my $line = <$out>) {
        chomp $line;
        my $msg = eval { decode_json($line) };
        if (!$msg)                  { note $line }
        elsif (exists $msg->{diag}) { diag $msg->{diag} }
        else {
            our $TODO;
            local $TODO = $msg->{todo};
            ok $msg->{ok}, $msg->{name};
        }
    }
    close $out;
    $node_pid = undef;
    is $? >> 8, 0, 'dashboard.mjs ran to the end';
}
ok -s $shot, "screenshot saved ($shot)";

if (!Test::More->builder->is_passing) {
    # Whatever the browser saw is explained by the server side's logs.
    for my $log ('nginx/error.log', 'consumer.log') {
        my $text = do { open my $fh, '<', $stack->dir . "/$log" or next; local $/; <$fh> };
        my @lines = grep { !/setrlimit/ } split /\n/, $text;
        diag "--- $log (last lines)";
        diag $_ for @lines[ -(@lines < 30 ? @lines : 30) .. -1 ];
    }
}

done_testing;
