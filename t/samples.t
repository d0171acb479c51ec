# The client samples (samples/) against the whole stack: the C samples build
# warning-free, each of the four prints the rounds published while it runs,
# every line is a round object, each one reconnects by itself after the
# backend restarts (the WebSocket ones with a fresh token, the SSE ones
# resuming with Last-Event-ID), and each stops cleanly on SIGTERM.
use strict;
use warnings;
use Test::More;

use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use FindBin;
use lib "$FindBin::Bin/lib";
use DataStream::Stack;
use DataStream::Client qw(http_request);

my $REPO = DataStream::Stack::repo();

# A signal must still run the destructors, or servers and samples outlive the test.
$SIG{$_} = sub { die "killed by SIG$_[0]\n" } for qw(INT TERM HUP);

# ---------------------------------------------------------------- stack

# The samples are only as good as the stack they talk to: without one there
# is nothing to check them against.
my $stack = DataStream::Stack->new;
my ($port, $sk);
my $feed = $stack->build . '/bin/datastream-feed';
my $why = do {
    local $@;
    eval {
        $stack->start_redis;
        $stack->start_nats;
        $port = $stack->start_nginx;
        $stack->start_consumer;
        $stack->publish('datastream.public.games', split /\n/, `'$feed' gen games`);
        $sk = $stack->api_key(kind => 'sk', name => 'samples');
        $stack->publish('datastream.public.rounds', split /\n/, `'$feed' gen rounds --count 1 --start-id 1`);
        DataStream::Stack::wait_until('a round over REST', sub {
            my $r = http_request(GET => "http://127.0.0.1:$port/api/latest/crash", headers => { 'X-API-Key' => $sk });
            $r->{status} == 200;
        }, 20);
        1;
    } ? undef : $@;
};
if ($why) {
    ($why) = split /\n/, $why;
    if (!$ENV{DS_SAMPLES_REQUIRE_STACK}) {
        plan skip_all => "the stack does not work yet: $why";
    }
    plan tests => 1;
    fail "stack: $why";
    exit;
}

# ---------------------------------------------------------------- build

my $bin = tempdir('datastream-samples-XXXXXX', TMPDIR => 1, CLEANUP => 1);
# In the sanitizer pass (ASAN_OPTIONS set) the C samples are instrumented
# too: a leak or memory error then makes them exit non-zero below.
my $cflags = $ENV{ASAN_OPTIONS} ? q{CFLAGS='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined'} : '';
my $make = `make -s -C '$REPO/samples/c' O='$bin' $cflags 2>&1`;
is $?, 0, 'C samples build with -Wall -Wextra -Werror' . ($cflags ? ' (ASan + UBSan)' : '') or diag $make;

my ($node) = grep { -x } map { "$_/node" } split /:/, $ENV{PATH} // '';
my ($node_major) = $node ? `'$node' --version` =~ /^v(\d+)/ : (0);

# channel => what the sample subscribes to; crash is the only multiplier game.
my @samples = (
    { name => 'js websocket', cmd => [$node, "$REPO/samples/js/websocket.mjs", 'crash'], node => 1 },
    { name => 'js sse',       cmd => [$node, "$REPO/samples/js/sse.mjs", 'crash'], node => 1 },
    { name => 'c ws_client',  cmd => ["$bin/ws_client", 'type/multiplier'] },
    { name => 'c sse_client', cmd => ["$bin/sse_client", 'type/multiplier'] },
);
if (($node_major // 0) < 20) {
    diag 'node 20 or newer not found: the JavaScript samples are not run';
    @samples = grep { !$_->{node} } @samples;
}

my $dir = $stack->dir;
my $n = 0;
for my $s (@samples) {
    $s->{out} = "$dir/sample-$n.out";
    $s->{err} = "$dir/sample-" . $n++ . '.err';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $s->{out} or die;
        open STDERR, '>', $s->{err} or die;
        $ENV{DATASTREAM_URL} = "http://127.0.0.1:$port";
        $ENV{DATASTREAM_API_KEY} = $sk;
        exec @{ $s->{cmd} } or die "exec: $!";
    }
    $s->{pid} = $pid;
}

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

sub connects { my @c = slurp($_[0]{err}) =~ /\bconnected\b/g; scalar @c }

# Waits until every sample satisfies $cond; returns the names of those that never did.
sub wait_all {
    my ($cond, $timeout) = @_;
    my $deadline = time + $timeout;
    my @left = @samples;
    while (@left && time < $deadline) {
        @left = grep { !$cond->($_) } @left;
        sleep 0.1 if @left;
    }
    return map { $_->{name} } @left;
}

sub explain_failures {
    for my $s (@samples) {
        diag "--- $s->{name}: stderr";
        diag $_ for grep { defined } (split /\n/, slurp($s->{err}))[-10 .. -1];
    }
}

my @late = wait_all(sub { connects($_[0]) >= 1 }, 20);
ok !@late, 'every sample connected' or diag "not connected: @late";

# Rounds 101.. cycle through the four reference games: crash gets 101 and 105.
$stack->publish('datastream.public.rounds', split /\n/, `'$feed' gen rounds --count 8 --start-id 101`);
@late = wait_all(sub { slurp($_[0]{out}) =~ /"round_id":105\b/ }, 20);
ok !@late, 'every sample printed the rounds published while it ran' or diag "missing: @late";

for my $s (@samples) {
    my @lines = grep { length } split /\n/, slurp($s->{out});
    my @bad = grep {
        my $r = eval { decode_json($_) };
        !($r && $r->{round_id} && $r->{game_slug} && $r->{game_type} eq 'multiplier' && exists $r->{extras} && $r->{timestamp});
    } @lines;
    ok @lines && !@bad, "$s->{name}: every line is a multiplier round object" or diag "bad: $bad[0]";
}

# The backend restarts: every sample must come back by itself.
$stack->stop_nginx;
$stack->start_nginx;
@late = wait_all(sub { connects($_[0]) >= 2 }, 30);
ok !@late, 'every sample reconnected after the backend restarted' or diag "not back: @late";
$stack->publish('datastream.public.rounds', split /\n/, `'$feed' gen rounds --count 8 --start-id 201`);
@late = wait_all(sub { slurp($_[0]{out}) =~ /"round_id":205\b/ }, 20);
ok !@late, 'every sample printed rounds published after the restart' or diag "missing: @late";

for my $s (grep { $_->{name} =~ /sse/ } @samples) {
    like slurp($s->{err}), qr/resuming after \S+/, "$s->{name} resumed with Last-Event-ID";
}

for my $s (@samples) {
    kill 'TERM', $s->{pid};
    my $deadline = time + 10;
    my $done;
    until (($done = waitpid($s->{pid}, WNOHANG)) == $s->{pid} || time > $deadline) { sleep 0.05 }
    if ($done == $s->{pid}) {
        is $? >> 8, 0, "$s->{name} exits 0 on SIGTERM";
    } else {
        kill 'KILL', $s->{pid};
        waitpid $s->{pid}, 0;
        fail "$s->{name} exits 0 on SIGTERM";
    }
    delete $s->{pid};
}

# A key the backend does not know: retrying cannot help, so each sample must
# say so and exit 1 instead of retrying forever.
for my $s (@samples) {
    my $err = $s->{err} . '.badkey';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null' or die;
        open STDERR, '>', $err or die;
        $ENV{DATASTREAM_URL} = "http://127.0.0.1:$port";
        $ENV{DATASTREAM_API_KEY} = 'sk_live_' . ('0' x 64);
        exec @{ $s->{cmd} } or die "exec: $!";
    }
    my $deadline = time + 10;
    my $done;
    until (($done = waitpid($pid, WNOHANG)) == $pid || time > $deadline) { sleep 0.05 }
    if ($done != $pid) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    is $done == $pid ? $? >> 8 : 'still running', 1, "$s->{name} exits 1 when the key is refused"
        or diag slurp($err);
}

explain_failures() unless Test::More->builder->is_passing;

END {
    # Samples still running (a test died halfway) must not outlive the test.
    for my $s (grep { $_->{pid} } @samples) {
        kill 'KILL', $s->{pid};
        waitpid $s->{pid}, 0;
    }
}

done_testing;
