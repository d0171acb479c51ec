#!/usr/bin/perl
# Data Stream benchmarks: every hot path measured beside its baseline, in the
# same run, on servers this script starts itself (t/lib/DataStream/Stack.pm).
# Usually called through bench/run.sh (./auto-build.sh bench [--quick]).
#
#   a  consumer throughput: drain a JetStream backlog; baseline: a consumer that only fetches and acks
#      then the same drain with 2 consumer replicas
#   b  end-to-end latency JetStream -> WebSocket / SSE at several rates; baseline: bare nchan,
#      and the peer product Pushpin fed the same messages (Data Stream / Pushpin in the notes)
#   c  fan-out to 1k..10k WebSocket subscribers; baseline: bare nchan (no module), and Pushpin
#   d  REST with wrk; baseline: nginx serving a static file with the same bytes
#   e  SVG plot of latency against rate
#   f  INSERT into PostgreSQL -> CDC bridge -> WebSocket / SSE; beside it: b's JetStream -> client
#
# Options: --quick, --only abcdef, --no-append (do not touch RESULTS.md), --out DIR
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";

use DataStream::BenchConf;
use DataStream::Stack;
use DataStream::Keys;
use DataStream::ConsumerStages qw(stage_seconds stages_used stages_note);
use File::Path qw(make_path);
use File::Spec;
use Getopt::Long;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h strftime);
use Time::HiRes qw(sleep time);

my $REPO  = DataStream::Stack::repo();
my $BENCH = "$REPO/bench";
my %opt   = (only => 'abcdef', append => 1);
GetOptions(
    'quick'     => \$opt{quick},
    'only=s'    => \$opt{only},
    'no-append' => sub { $opt{append} = 0 },
    'out=s'     => \$opt{out},
) or die "usage: bench.pl [--quick] [--only abcdef] [--no-append] [--out DIR]\n";

my $Q = $opt{quick};
my %P = $Q ? (
    backlog        => 50_000,
    rates          => [100, 1000, 5000, 10000],
    rate_seconds   => 3,
    latency_conns  => 5,
    fanout         => [1000, 10000],
    fanout_mix     => 10000,
    fanout_offered => 10000,
    fanout_seconds => 5,
    two_clients    => 0,
    wrk_seconds    => 3,
) : (
    backlog        => 200_000,
    rates          => [100, 1000, 5000, 10000],
    rate_seconds   => 10,
    latency_conns  => 5,
    fanout         => [1000, 5000, 10000],
    fanout_mix     => 10000,
    fanout_offered => 10000,
    fanout_seconds => 15,
    two_clients    => 1,
    wrk_seconds    => 5,
);
$P{ramp} = 2500;                    # connections per second
# Pushpin's WebSocket-over-HTTP answers 502 to most handshakes at 2500/s, and to some still
# at 500/s (each handshake is a request to the origin through zurl): its clients arrive
# as a real population would.
$P{pushpin_ramp} = 250;
$P{fanout_offered} = $ENV{DS_BENCH_FANOUT_DELIVERIES} if $ENV{DS_BENCH_FANOUT_DELIVERIES};
$P{rates} = [split /,/, $ENV{DS_BENCH_RATES}] if $ENV{DS_BENCH_RATES};
$P{insert_rates} = [split /,/, $ENV{DS_BENCH_INSERT_RATES} || '100,1000'];
$P{workers} = $ENV{DS_BENCH_WORKERS} // 1;

my $BUILD = $ENV{DS_BUILD_DIR} || "$REPO/build";
my $BIN   = "$BUILD/bin";
my %EXE = (
    consumer => "$BIN/datastream-consumer",
    feed     => "$BIN/datastream-feed",
    keys     => "$BIN/datastream-keys",
    load     => "$BIN/datastream-loadclient",
    pub      => "$BIN/datastream-bench-pub",
    noop     => "$BIN/datastream-bench-noop",
    insert   => "$BIN/datastream-bench-insert",
    cdc      => "$BIN/datastream-cdc",
    module   => "$BUILD/nginx/ngx_http_datastream_module.so",
);
my $CLK   = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
my $JSON  = JSON::PP->new->canonical;

my $started = time;
my $load_start = (split ' ', slurp('/proc/loadavg'))[0];
my (@rows, @skipped, %data);
my $stamp = strftime('%Y%m%d-%H%M%S', gmtime);
# A run that does not go into RESULTS.md keeps its files out of the tree too.
$opt{out} //= $opt{append} ? "$BENCH/results" : File::Spec->tmpdir . "/datastream-bench-$stamp";
make_path($opt{out});
my $raw_file = "$opt{out}/run-$stamp.jsonl";
open my $RAW, '>', $raw_file or die "$raw_file: $!";
$RAW->autoflush(1);

sub note { printf STDERR "[bench %6.1fs] %s\n", time - $started, join '', @_ }

sub raw {
    my ($what, $obj) = @_;
    print $RAW $JSON->encode({ part => $what, %$obj }), "\n";
}

sub skip {
    my ($part, $why) = @_;
    $why =~ s/\s+/ /g;
    $why =~ s/\s+$//;
    push @skipped, "$part: $why";
    print "skipped: $part: $why\n";
}

# A row of the final table: part, case, the measured figure and its baseline.
sub row { push @rows, {@_} }

# ---------------------------------------------------------------- processes

sub spawn_to {
    my ($out, $err, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out or die "$out: $!";
        open STDERR, '>>', $err or die "$err: $!";
        exec @cmd or die "exec $cmd[0]: $!";
    }
    return $pid;
}

sub wait_pid {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return $? >> 8 if $r == $pid;
        sleep 0.05;
    }
    kill 'TERM', $pid;
    sleep 1;
    kill 'KILL', $pid if waitpid($pid, WNOHANG) == 0;
    waitpid($pid, 0);
    return -1;
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub last_json {
    my ($text) = @_;
    my @lines = grep { /^\{/ } split /\n/, $text;
    return undef unless @lines;
    return eval { $JSON->decode($lines[-1]) };
}

sub run_json {
    my (@cmd) = @_;
    open my $fh, '-|', @cmd or die "$cmd[0]: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return last_json($out);
}

sub proc_cpu {
    my ($pid) = @_;
    my $s = slurp("/proc/$pid/stat") or return 0;
    $s =~ s/^.*\)\s//s;
    my @f = split ' ', $s;
    return ($f[11] + $f[12]) / $CLK;        # utime + stime
}

sub proc_status {
    my ($pid, $field) = @_;
    my ($v) = slurp("/proc/$pid/status") =~ /^$field:\s+(\d+)/m;
    return $v // 0;
}

sub children_of {
    my ($ppid) = @_;
    my @kids;
    for my $d (glob '/proc/[0-9]*') {
        my $s = slurp("$d/stat") or next;
        my ($pp) = $s =~ /\)\s+\S+\s+(\d+)/;
        push @kids, ($d =~ m{(\d+)$})[0] if defined $pp && $pp == $ppid;
    }
    return @kids;
}

# The master forks its workers after it listens: wait for all of them.
sub nginx_workers {
    my ($run) = @_;
    my $deadline = time + 10;
    my @w;
    while (time < $deadline) {
        my $master = slurp("$run/nginx.pid");
        chomp $master;
        @w = $master ? children_of($master) : ();
        return @w if @w >= $P{workers};
        sleep 0.05;
    }
    note "nginx in $run: only " . scalar(@w) . " worker(s) found";
    return @w;
}

# The whole machine's busy and stolen CPU so far, in seconds (/proc/stat's first line:
# user nice system idle iowait irq softirq steal).
sub machine_cpu {
    my ($line) = slurp('/proc/stat') =~ /^cpu\s+(.*)$/m;
    my @f = split ' ', $line // '';
    my $total = 0;
    $total += $_ // 0 for @f[0 .. 7];
    return { busy => ($total - ($f[3] // 0) - ($f[4] // 0)) / $CLK, steal => ($f[7] // 0) / $CLK };
}

# CPU seconds of the children this process has reaped so far (the publisher of a window, its
# load clients).
sub reaped_cpu { my (undef, undef, $cu, $cs) = times; return $cu + $cs }

# What a window's CPU is read from: the machine's, the reaped children's, each server's so far.
sub cpu_mark {
    my ($servers) = @_;
    return { machine => machine_cpu(), reaped => reaped_cpu(),
             servers => [map { sample_procs(@$_[1 .. $#$_])->{cpu} } @$servers] };
}

# CPU between the marks $m0 and $m2 per second of publishing, in % of one core: what runs after
# the publisher (the last deliveries, the clients' idle wait) is little, and the idle wait costs
# nothing. $m1 was taken once the publisher was reaped: children reaped after it are load clients.
sub cpu_used {
    my ($servers, $m0, $m1, $m2, $pub) = @_;
    return undef unless $pub && $pub->{seconds};
    my $pct = sub { 100 * $_[0] / $pub->{seconds} };
    my $clients = $m2->{reaped} - $m1->{reaped};
    return { machine => $pct->($m2->{machine}{busy} - $m0->{machine}{busy}),
             steal => $pct->($m2->{machine}{steal} - $m0->{machine}{steal}),
             parts => [['publisher', $pct->($m1->{reaped} - $m0->{reaped})],
                       (map { [$servers->[$_][0], $pct->($m2->{servers}[$_] - $m0->{servers}[$_])] } 0 .. $#$servers),
                       $clients > 0 ? ['load clients', $pct->($clients)] : ()] };
}

sub cores { return scalar(() = slurp('/proc/cpuinfo') =~ /^processor\s*:/mg) }

sub sample_procs {    # { cpu => seconds, rss_kb => KB } summed over pids
    my (@pids) = @_;
    my %s = (cpu => 0, rss_kb => 0);
    for (@pids) { $s{cpu} += proc_cpu($_); $s{rss_kb} += proc_status($_, 'VmRSS') }
    return \%s;
}

sub wait_file {
    my ($f, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) { return 1 if -s $f; sleep 0.05 }
    return 0;
}

# ---------------------------------------------------------------- servers

my $stack = DataStream::Stack->new;
my ($bare, $full, $module_why);     # the two backends: { name, run, http, pub }
my $dir = $stack->dir;

# Stop every server before File::Temp's own END block removes the directory
# holding nginx's pid files (END blocks run last-defined first; the stack's
# DESTROY would come after the removal and could no longer find nginx).
sub teardown {
    return unless $stack;
    my @masters;
    for my $run (values %{ $stack->{nginx} // {} }) {
        my $pid = slurp("$run/nginx.pid");
        chomp $pid;
        push @masters, $pid if $pid;
    }
    eval { $stack->stop_nginx($_) for keys %{ $stack->{nginx} // {} }; 1 } or warn $@;
    undef $stack;
    for my $pid (@masters) { kill 'KILL', $pid if kill 0, $pid }
}
END { teardown() }
$SIG{INT} = $SIG{TERM} = sub { teardown(); exit 130 };
note "work dir $dir";

sub start_bare_nginx {
    my ($name, %o) = @_;
    return DataStream::BenchConf::start_bare_nginx($stack, $name, workers => $P{workers}, %o);
}

# New ports on every restart: the old ones may meanwhile be the source port
# of one of the load client's many connections, which makes bind() fail.
sub restart_nginx {
    my ($srv) = @_;
    $stack->stop_nginx($srv->{name});
    delete @{ $stack->{ports} }{ "$srv->{name}_http", "$srv->{name}_publish" };
    if ($srv->{name} eq 'bare') { return $bare = start_bare_nginx('bare') }
    return $full = start_full_nginx();
}

# Pushpin, the peer product of parts b and c, from its runner (condure, zurl, proxy, handler)
# with bench/conf/pushpin.conf.template: its own run directory and free loopback ports,
# new ones on every start as in restart_nginx. Its origin is one more instance of the bare
# template ('grip'), whose /grip/ locations answer GRIP; the bare nchan's figures stay its own.
my @pushpin_missing = grep { system('sh', '-c', "command -v $_ >/dev/null") != 0 } qw(pushpin condure zurl);
my $pushpin_why = @pushpin_missing ? "not installed (no @pushpin_missing; apt-get install pushpin)" : undef;
my ($pushpin_version) = $pushpin_why ? () : `pushpin --version 2>&1` =~ /(\d+(?:\.\d+)+)/;
my $grip;
sub start_pushpin {
    $grip //= start_bare_nginx('grip');
    my $run = "$dir/pushpin";
    make_path("$run/run", "$run/log");
    my %port = map { $_ => DataStream::Stack::free_port() } qw(HTTP_PORT PUSH_PORT PUSH_SUB_PORT PUSH_HTTP_PORT COMMAND_PORT);
    DataStream::BenchConf::render('pushpin.conf.template', "$run/pushpin.conf", RUN => $run, %port);
    open my $fh, '>', "$run/routes" or die "$run/routes: $!";
    print $fh "* 127.0.0.1:$grip->{http},over_http\n";
    close $fh or die "$run/routes: $!";
    my $pid = $stack->spawn(pushpin => {}, 'pushpin', '--config', "$run/pushpin.conf");
    DataStream::Stack::wait_for_port($port{$_}, 'pushpin') for qw(HTTP_PORT PUSH_PORT);
    # Ready when a request goes through proxy and zurl to the origin and back.
    DataStream::Stack::wait_until('pushpin proxying to its origin', sub {
        HTTP::Tiny->new(timeout => 2)->get("http://127.0.0.1:$port{HTTP_PORT}/grip/ready")->{status} == 404 }, 20);
    return { name => 'pushpin', pid => $pid, http => $port{HTTP_PORT}, prefix => '/grip',
             zmq => "tcp://127.0.0.1:$port{PUSH_PORT}" };
}

sub stop_pushpin { $stack->kill_proc('pushpin') }

sub restart_pushpin { stop_pushpin(); return start_pushpin() }

# The runner and the services it started: what Pushpin costs.
sub pushpin_procs {
    my ($srv) = @_;
    return ($srv->{pid}, children_of($srv->{pid}));
}

sub pushpin_note {
    return sprintf 'Pushpin %s (WebSocket-over-HTTP / SSE held by GRIP, ZeroMQ publish)', $pushpin_version // '?';
}

# "Data Stream / <peer>" for each pair of figures.
sub ratio_note {
    my ($pairs, $peer) = @_;
    $peer //= 'Pushpin';
    my @r = map { my ($name, $ds, $pp) = @$_;
                  defined $ds && defined $pp && $pp > 0 ? sprintf('%s %.2f', $name, $ds / $pp) : () } @$pairs;
    return @r ? "Data Stream / $peer: " . join(', ', @r) : "no Data Stream / $peer ratio";
}

my $template_patched;
sub start_full_nginx {
    my $log_off = -s "$dir/nginx/error.log" // 0;
    my $http = eval { $stack->start_nginx(workers => $P{workers}) };
    if (!$http && $@ =~ /pcre2?_compile\(\) failed: missing closing parenthesis/) {
        # A regex with {m,n} must be quoted in nginx.conf. Until the template
        # quotes it, measure it with only that quoting added (nothing else changes).
        $template_patched = 1;
        $http = start_patched_template();
    }
    die $@ unless $http;
    # A worker that crashes at start leaves the master listening: ask a worker.
    my $ok;
    for (1 .. 20) {
        my $res = HTTP::Tiny->new(timeout => 2)->get("http://127.0.0.1:$http/healthz");
        $ok = 1, last if $res->{status} == 200;
        sleep 0.1;
    }
    my $crashes = () = substr(slurp("$dir/nginx/error.log"), $log_off) =~ /exited on signal/g;
    die "nginx workers crash at start ($crashes times, see its error.log)\n" if $crashes || !$ok;
    return { name => 'nginx', run => "$dir/nginx", http => $http, pub => $stack->port('nginx_publish') };
}

# What Stack::start_nginx does, with regex locations quoted.
sub start_patched_template {
    my $run  = "$dir/nginx";
    my $http = $stack->port('nginx_http');
    my %env = (
        DS_NGINX_RUN_DIR => $run, DS_HTTP_PORT => $http, DS_PUBLISH_PORT => $stack->port('nginx_publish'),
        DS_REDIS_PORT => $stack->port('redis'), DS_NGINX_WORKERS => $P{workers},
        DS_NGINX_ERROR_LOG => "$run/error.log", DS_NGINX_ACCESS_LOG => "$run/access.log",
        DS_NGINX_LOG_LEVEL => 'info', DS_AUTH => 'on', DS_DATASTREAM_MODULE => $EXE{module},
        DS_DASHBOARD_CONFIG => "$run/dashboard-config.js",
    );
    local @ENV{ keys %env } = values %env;
    local $ENV{DATASTREAM_TOKEN_SECRET} = $stack->token_secret;
    my $conf = `$REPO/conf/nginx/render.sh`;
    die "render.sh failed\n" if $?;
    $conf =~ s/^(\s*location\s+~\*?\s+)([^\s"]*\{[^\s"]*)(\s+\{)/$1"$2"$3/mg;
    open my $fh, '>', "$run/nginx.conf" or die;
    print $fh $conf;
    close $fh;
    system('nginx', '-p', $run, '-c', "$run/nginx.conf", '-e', "$run/error.log") == 0
        or die "nginx (patched template) did not start:\n" . `tail -5 $run/error.log`;
    $stack->{nginx}{nginx} = $run;
    DataStream::Stack::wait_for_port($http, 'nginx');
    return $http;
}

# The bench writes hours of production traffic into a young Redis within minutes. With Redis'
# default rewrite rule (at 100 % growth past 64 MB) its AOF would be rewritten every few
# seconds, each time a fork and a child serializing the data set on one of the two cores; a
# production read model, days of rounds, grows that much in hours. The bench's Redis rewrites
# at 1 GB instead, so a rewrite is as rare as there; one that still lands in a window of
# part b is reported in that row.
my @REDIS_AOF = ('--auto-aof-rewrite-min-size', '1gb');
my $redis_port = $stack->start_redis(args => \@REDIS_AOF);
my $nats_port  = $stack->start_nats;
my $nats_url   = $stack->nats_url('debezium');    # the publishers stand in for Debezium
my $mon_port   = $stack->port('nats_monitor');
note "redis :$redis_port, nats :$nats_port (monitor :$mon_port)";

my $have_module   = -f $EXE{module};
my $have_consumer = -x $EXE{consumer};
my $have_keys     = -x $EXE{keys};
for (qw(feed load pub noop)) { die "missing $EXE{$_}: build bench tools first (bench/run.sh does)\n" unless -x $EXE{$_} }

$bare = start_bare_nginx('bare');
note "bare nchan nginx :$bare->{http} (publisher :$bare->{pub})";
$module_why = "no $EXE{module}" unless $have_module;
if ($have_module) {
    $full = eval { start_full_nginx() };
    if (!$full) {
        ($module_why = "shipped nginx config does not start: $@") =~ s/\s+/ /g;
        $module_why = substr($module_why, 0, 300);
        note $module_why;
        $have_module = 0;
    }
    else { note "shipped nginx (module) :$full->{http} (publisher :$full->{pub})" }
}

my ($api_key, $key_error);
if ($have_module && $have_keys) {
    local $ENV{REDIS_URL} = "redis://127.0.0.1:$redis_port/0";
    my $k = `$EXE{keys} create --name bench --kind sk --rate-limit 100000000 2>&1`;
    if ($? == 0 && $k =~ /^(sk_live_[0-9a-f]{64})\s*$/m) { $api_key = $1 }
    else { $key_error = "datastream-keys create failed: " . substr($k, 0, 200) }
}

# The consumer publishes to the shipped backend, or to the bare nchan (same
# publisher location) while the module cannot run.
sub start_consumer {
    my ($name) = @_;
    return $stack->start_consumer(name => $name // 'consumer', env => { LOG_LEVEL => 'warn' },
                                  nginx => $have_module && $api_key ? 'nginx' : 'bare');
}

sub mint_token {
    my ($port) = @_;
    my $res = HTTP::Tiny->new(timeout => 5)->request(POST => "http://127.0.0.1:$port/api/auth/token",
        { headers => { 'X-API-Key' => $api_key } });
    return undef unless $res->{success};
    my ($tok) = $res->{content} =~ /"token":"(tok_[^"]+)"/;
    return $tok;
}

sub feed_publish {
    my ($subject, $gen_args) = @_;
    my $t0 = time;
    my $rc = system("$EXE{feed} gen $gen_args | $EXE{feed} pub --create-stream --url $nats_url --subject $subject 2>>$dir/feed.log");
    return $rc == 0 ? time - $t0 : undef;
}

# JetStream lag of one durable, as KEDA computes it (num_pending + num_ack_pending).
my $http = HTTP::Tiny->new(timeout => 2);
sub durable_lag {
    my ($durable) = @_;
    my $res = $http->get("http://127.0.0.1:$mon_port/jsz?consumers=true");
    return undef unless $res->{success};
    my $j = eval { $JSON->decode($res->{content}) } or return undef;
    for my $acc (@{ $j->{account_details} // [] }) {
        for my $s (@{ $acc->{stream_detail} // [] }) {
            for my $c (@{ $s->{consumer_detail} // [] }) {
                return $c->{num_pending} + $c->{num_ack_pending} if $c->{name} eq $durable;
            }
        }
    }
    return undef;
}

# The consumer's time per stage so far (datastream_stage_seconds_total).
sub consumer_stages {
    my ($name) = @_;
    my $port = $stack->{ports}{ ($name // 'consumer') . '_metrics' } or return {};
    return stage_seconds($http->get("http://127.0.0.1:$port/metrics")->{content});
}

# Polls until the durable's lag is 0; returns seconds from the first progress to 0.
sub time_drain {
    my ($durable, $total, $timeout, $pid) = @_;
    my $deadline = time + $timeout;
    my ($t_first, $t_end, $peak_rss, $last, $t_moved) = (undef, undef, 0, undef, time);
    my $stalled = 0;
    while (time < $deadline) {
        my $lag = durable_lag($durable);
        my $now = time;
        if ($pid) { my $r = proc_status($pid, 'VmRSS'); $peak_rss = $r if $r > $peak_rss }
        if (defined $lag) {
            $t_first //= $now if $lag < $total;
            if ($lag == 0) { $t_end = $now; last }
            $t_moved = $now if !defined $last || $lag != $last;
            $last = $lag;
        }
        # No progress for 30 s: something is broken, do not wait for the timeout.
        if ($now - $t_moved > 30) { $stalled = 1; last }
        sleep 0.02;
    }
    return { seconds => defined $t_end && defined $t_first ? $t_end - $t_first : undef,
             left => defined $t_end ? 0 : $last, stalled => $stalled, peak_rss_kb => $peak_rss };
}

# ---------------------------------------------------------------- a: consumer throughput

# CPU seconds the servers of the pipeline have used so far: where a drain's time went.
sub server_cpu {
    my @nginx = $full ? nginx_workers($full->{run}) : ();
    my $procs = $stack->{procs};
    return { redis => proc_cpu($procs->{redis}), nats => proc_cpu($procs->{nats}),
             nginx => sample_procs(@nginx)->{cpu} };
}

sub server_cpu_used {
    my ($before) = @_;
    my $now = server_cpu();
    return { map { $_ => $now->{$_} - $before->{$_} } qw(redis nats nginx) };
}

sub server_cpu_note {
    my ($used) = @_;
    return sprintf('Redis CPU %.1f s, NATS %.1f s, nginx %.1f s', @$used{qw(redis nats nginx)});
}

# Every backlog of part a is rounds never seen before, so each drain does the full work.
my $a_next_id = 1;
sub publish_backlog {
    my ($n) = @_;
    my $s = feed_publish('datastream.public.rounds', "rounds --count $n --start-id $a_next_id")
        // die "backlog publish failed: " . ((split /\n/, slurp("$dir/feed.log"))[-1] // '') . "\n";
    $a_next_id += $n;
    return $s;
}

# Drains the backlog with the named consumer processes on the one durable: the rate, what
# each process and each server spent.
sub drain {
    my ($n, @names) = @_;
    my @pids = map { start_consumer($_); $stack->{procs}{$_} } @names;
    my @cpu0 = map { proc_cpu($_) } @pids;
    my $servers0 = server_cpu();
    my $stages0 = consumer_stages($names[0]);
    my $cd = time_drain('cdc-public-rounds', $n, $Q ? 240 : 600, $pids[0]);
    my %d = (%$cd, cpu_s => [map { proc_cpu($pids[$_]) - $cpu0[$_] } 0 .. $#pids],
             servers => server_cpu_used($servers0), stages => stages_used($stages0, consumer_stages($names[0])),
             rss_kb => [map { proc_status($_, 'VmRSS') } @pids], vm_hwm_kb => [map { proc_status($_, 'VmHWM') } @pids]);
    $stack->stop_consumer($_) for @names;
    $d{rate} = $cd->{seconds} ? $n / $cd->{seconds} : undef;
    return \%d;
}

sub not_drained {
    my ($d) = @_;
    return '' unless $d->{left};
    return sprintf ', NOT DRAINED: %d left%s', $d->{left}, $d->{stalled} ? ' (no progress for 30 s)' : ' at timeout';
}

sub part_a {
    my $n = $P{backlog};
    note "a: games registry";
    defined feed_publish('datastream.public.games', 'games') or return skip('a', 'cannot publish to JetStream');
    if ($have_consumer) {
        # Let the consumer learn the games first, so the backlog drains without retries.
        eval {
            start_consumer();
            DataStream::Stack::wait_until('games registry', sub { $stack->redis_cli('HLEN', rkey('games')) >= 4 }, 20);
            $stack->stop_consumer;
            1;
        } or do { note "consumer start failed: $@"; $have_consumer = 0; $stack->stop_consumer };
    }
    note "a: backlog of $n round inserts";
    my $pub_s = publish_backlog($n);
    raw(a_publish => { messages => $n, seconds => $pub_s });

    # The baseline fetches batches of the consumer's own BATCH_SIZE.
    my $batch = $ENV{BATCH_SIZE};
    if (!$batch && $have_consumer) { ($batch) = `$EXE{consumer} --help 2>&1` =~ /^\s*BATCH_SIZE\s.*\[(\d+)\]/m }
    $batch ||= 64;
    note "a: baseline (fetch + ack only, batch $batch)";
    my $noop_pid = spawn_to("$dir/noop.out", "$dir/noop.log", $EXE{noop}, '--url', $stack->nats_url('consumer'),
                            '--durable', 'bench-noop', '--expect', $n, '--batch', $batch);
    my $nd = time_drain('bench-noop', $n, 300, $noop_pid);
    wait_pid($noop_pid, 30);
    my $noop = last_json(slurp("$dir/noop.out")) // {};
    raw(a_noop => { %$nd, batch => $batch, self => $noop });
    my $noop_rate = $nd->{seconds} ? $n / $nd->{seconds} : undef;
    $data{a}{noop} = { rate => $noop_rate, rss_kb => $noop->{rss_kb} };

    if (!$have_consumer) {
        row(part => 'a', case => "drain $n rounds", metric => 'events/s', value => undef,
            baseline => $noop_rate, note => 'consumer not run');
        return skip('a', "no $EXE{consumer}");
    }
    note "a: consumer";
    my $d = drain($n, 'consumer');
    my ($cpu, $rss, $hwm) = map { $d->{$_}[0] } qw(cpu_s rss_kb vm_hwm_kb);
    raw(a_consumer => { %$d, cpu_s => $cpu, vm_hwm_kb => $hwm, rss_kb => $rss });
    my $rate = $d->{rate};
    $data{a}{consumer} = { rate => $rate, rss_kb => $rss, hwm_kb => $hwm };
    row(part => 'a', case => "drain $n rounds", metric => 'events/s', value => $rate, baseline => $noop_rate,
        note => sprintf('batch %d; consumer RSS %d KiB (peak %d), CPU %.1f s; %s; baseline RSS %s KiB%s; %s', $batch, $rss, $hwm, $cpu,
                        server_cpu_note($d->{servers}), $noop->{rss_kb} // '?', not_drained($d),
                        stages_note($d->{stages}, $d->{seconds})));
    return unless $rate;
    part_a_replicas($n, $rate);
}

# Scale-out: a second backlog of new rounds drained by two consumer processes on the one
# durable, against the single process's rate above.
sub part_a_replicas {
    my ($n, $single_rate) = @_;
    note "a: backlog of $n more round inserts for 2 consumer replicas";
    publish_backlog($n);
    my $d = drain($n, 'consumer', 'consumer2');
    raw(a_two_replicas => $d);
    $data{a}{two_replicas} = { rate => $d->{rate} };
    row(part => 'a', case => "drain $n rounds, 2 consumer replicas", metric => 'events/s', value => $d->{rate},
        baseline => $single_rate,
        note => sprintf('baseline: 1 replica above; CPU %.1f + %.1f s, RSS %d + %d KiB; %s%s', @{ $d->{cpu_s} },
                        @{ $d->{rss_kb} }, server_cpu_note($d->{servers}), not_drained($d)));
}

# ---------------------------------------------------------------- load client runs

# Runs one load client; calls $during->() once every connection is up. Returns
# { client => json, backend => {cpu_s, rss_before_kb, rss_after_kb}, pub => json }.
sub load_run {
    my (%o) = @_;
    my $tag = $o{tag};
    my (@pids, @outs);
    my $clients = $o{clients} // 1;
    my $per = int($o{conns} / $clients);
    my $ramp = $o{ramp} // $P{ramp};
    for my $i (1 .. $clients) {
        my $ready = "$dir/$tag.$i.ready";
        unlink $ready;
        my @cmd = ($EXE{load}, '--port', $o{port}, '-c', $per, '--ramp', $ramp / $clients,
                   '--duration', $o{duration}, '--ready-file', $ready,
                   '--max-time', $o{duration} + $o{conns} / $ramp + 30);
        my $paths = $o{client_paths} ? $o{client_paths}[$i - 1] : $o{paths};
        my $protocol = $o{client_protocols} ? $o{client_protocols}[$i - 1] : $o{protocol};
        push @cmd, '--path', $_ for @$paths;
        push @cmd, '--protocol', $protocol if $protocol;
        push @cmd, '--expect-total', int($o{expect} / $clients) if $o{expect};
        push @cmd, '--idle-timeout', $o{idle} if $o{idle};
        push @cmd, '--latency-log', "$dir/$tag.$i.lat" if $o{latency_log};
        push @outs, ["$dir/$tag.$i.out", $ready];
        push @pids, spawn_to("$dir/$tag.$i.out", "$dir/$tag.$i.log", @cmd);
    }
    my $ramp_budget = $o{conns} / $ramp + 20;
    for (@outs) { wait_file($_->[1], $ramp_budget) or note "$tag: ramp not finished in time" }
    sleep 0.5;    # let the last handshakes settle before sampling
    my @procs = @{ $o{procs} // [] };
    my $servers = $o{cpu_of} // [];    # [name, pids...] whose CPU the window reports
    my $b0 = sample_procs(@procs);
    my $m0 = cpu_mark($servers);
    my $t0 = time;
    my $pub = $o{during} ? $o{during}->() : undef;
    my $m1 = cpu_mark($servers);
    my @clients_json;
    for my $i (0 .. $#pids) {
        wait_pid($pids[$i], $o{duration} + 60);
        push @clients_json, last_json(slurp($outs[$i][0])) // { first_error => 'no output: ' . slurp("$dir/$tag." . ($i + 1) . ".log") };
        $clients_json[-1]{late} = late_bursts("$dir/$tag." . ($i + 1) . '.lat') if $o{latency_log};
    }
    my $b1 = sample_procs(@procs);
    my $m2 = cpu_mark($servers);
    my $elapsed = time - $t0;
    my $c = merge_clients(@clients_json);
    my $r = { client => $c, pub => $pub,
              backend => { cpu_s => $b1->{cpu} - $b0->{cpu}, window_s => $elapsed,
                           rss_open_kb => $b0->{rss_kb}, rss_end_kb => $b1->{rss_kb} },
              cpu => cpu_used($servers, $m0, $m1, $m2, $pub) };
    raw($tag => $r);
    return $r;
}

# How the late messages of a --latency-log came: rounds (one send time, the latest of its
# copies) later than LATE_US, and the bursts they form (late rounds sent less than BURST_GAP_US
# apart). Many short bursts spread over the window are rounds that met busy cores; one long
# burst would be a stall of one part. Deletes the log (10 000/s makes megabytes).
use constant { LATE_US => 5000, BURST_GAP_US => 20_000 };
sub late_bursts {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    my %latest;    # send time => latest arrival of its copies
    while (<$fh>) {
        my ($rx, $lat) = split;
        my $sent = $rx - $lat;
        $latest{$sent} = $lat if ($latest{$sent} // -1) < $lat;
    }
    close $fh;
    unlink $file;
    my @late = sort { $a <=> $b } grep { $latest{$_} > LATE_US } keys %latest;
    my ($bursts, $longest, $start, $prev) = (0, 0);
    for my $sent (@late) {
        if (!defined $prev || $sent - $prev >= BURST_GAP_US) { $bursts++; $start = $sent }
        $longest = $sent - $start if $sent - $start > $longest;
        $prev = $sent;
    }
    return { rounds => scalar keys %latest, late => scalar @late, bursts => $bursts, longest_ms => $longest / 1000 };
}

sub late_note {
    my ($l) = @_;
    return '' unless $l && $l->{rounds};
    return sprintf '; late (> %d ms): %d of %d rounds in %d bursts (longest %.0f ms)',
        LATE_US / 1000, $l->{late}, $l->{rounds}, $l->{bursts}, $l->{longest_ms};
}

# Merges several load clients' JSON: sums counts, takes the worst percentiles
# (an upper bound; the clients' own lines are kept in the raw file).
sub merge_clients {
    my (@c) = @_;
    return $c[0] if @c == 1;
    my %m = (clients => scalar @c);
    for my $k (qw(connections open_at_end connect_failures handshake_failures closed_early messages
                  stale_messages no_timestamp client_cpu_s msgs_per_s)) {
        $m{$k} += $_->{$k} // 0 for @c;
    }
    for my $p (qw(p50 p90 p99 p999 max mean)) {
        $m{latency_us}{$p} = (sort { $b <=> $a } map { $_->{latency_us}{$p} // 0 } @c)[0];
    }
    $m{$_} = (sort { $b <=> $a } map { $_->{$_} // 0 } @c)[0] for qw(ramp_s measured_s span_s);
    $m{first_error} = join '; ', grep { length } map { $_->{first_error} // '' } @c;
    $m{per_client} = \@c;
    return \%m;
}

# ---------------------------------------------------------------- b: end-to-end latency

# Part b's JetStream -> client runs: rate => { ws|sse => { c => client json, expected, pub } }.
my %jetstream_runs;

# Paths and WebSocket subprotocols of one WebSocket and one SSE subscriber of crash on $srv
# (token and API key on the shipped configuration, Pushpin's under /grip); () when no token
# can be minted.
sub subscribers {
    my ($srv, $what) = @_;
    my (@paths, @protocols);
    for my $proto ('ws', 'sse') {
        my ($path, $protocol) = ("$proto:" . ($srv->{prefix} // '') . "/$proto/crash", undef);
        if ($srv->{name} eq 'nginx') {
            if ($proto eq 'ws') { $protocol = mint_token($srv->{http}) or do { skip($what, 'cannot mint a token'); next } }
            else { $path .= "?api_key=$api_key" }
        }
        push @paths, [$path];
        push @protocols, $protocol;
    }
    return @paths == 2 ? (\@paths, \@protocols) : ();
}

# WebSocket and SSE subscribers side by side ($P{latency_conns} of each, one load client per
# protocol), while $o{during} runs the source of $o{count} messages. load_run's result, with
# per => [ws client json, sse client json].
sub ws_sse_run {
    my (%o) = @_;
    my $conns = $P{latency_conns};
    my $r = load_run(
        tag => $o{tag}, port => $o{srv}{http}, conns => 2 * $conns, clients => 2,
        client_paths => $o{paths}, client_protocols => $o{protocols}, duration => $P{rate_seconds} + 30,
        expect => 2 * $o{count} * $conns, idle => 5, procs => $o{procs}, during => $o{during},
        latency_log => $o{latency_log}, cpu_of => $o{cpu_of},
    );
    $r->{per} = $r->{client}{per_client} ? $r->{client}{per_client} : [$r->{client}, {}];
    return $r;
}

sub part_b {
    my @targets = (['bare', $bare, 'nchan']);
    # The simplest consumer: JetStream -> fetch -> POST to the bare nchan -> ack, nothing else.
    push @targets, ['forwarder', $bare, 'forward'] if $have_consumer;
    # JetStream alone: the same publisher, a consumer that fetches and acks, no clients.
    push @targets, ['jetstream', undef, 'fetch'] if $have_consumer;
    if ($pushpin_why) { skip('b(pushpin)', $pushpin_why) }
    elsif (my $pp = eval { start_pushpin() }) { push @targets, ['pushpin', $pp, 'pushpin'] }
    else { skip('b(pushpin)', "does not start: $@") }
    if ($have_consumer && $have_module && $api_key) { unshift @targets, ['pipeline', $full, 'jetstream'] }
    elsif ($have_consumer) {
        # Consumer without the module: JetStream -> consumer -> bare nchan, no auth.
        unshift @targets, ['pipeline', $bare, 'jetstream'];
        skip('b(module)', ($module_why // $key_error // 'datastream-keys not built')
             . '; pipeline measured through the bare nchan');
    }
    else { skip('b(pipeline)', "no $EXE{consumer}") }
    if ($targets[0][0] eq 'pipeline') {
        # A consumer for the live path (part a may have run one already).
        start_consumer() unless $stack->{procs}{consumer};
        if ($stack->redis_cli('HLEN', rkey('games')) < 4) {
            feed_publish('datastream.public.games', 'games');
            DataStream::Stack::wait_until('games registry', sub { $stack->redis_cli('HLEN', rkey('games')) >= 4 }, 20);
        }
        # Drain anything left before measuring.
        time_drain('cdc-public-rounds', 1e12, 120);
    }
    my $next_id = 10_000_000;
    # Rate outside, path inside: each figure and its baseline are measured minutes apart at most.
    for my $rate (@{ $P{rates} }) {
        for my $t (@targets) {
            my ($label, $srv, $via) = @$t;
            my $count = int($rate * $P{rate_seconds});
            # What an earlier rate left queued must not run into this measurement.
            my $paused;
            if (my $cpid = $stack->{procs}{consumer}) {
                my $d = time_drain('cdc-public-rounds', 1e12, 60);
                note "b: consumer still has $d->{left} queued" if $d->{left};
                # A baseline run does not need the consumer: stop it from taking CPU meanwhile
                # (and from taking the forwarder's rounds, which it catches up on after).
                if ($via ne 'jetstream' && ($d->{left} || $via eq 'forward' || $via eq 'fetch')) { kill 'STOP', $cpid; $paused = $cpid }
            }
            my $noop = $via eq 'forward' ? start_noop("bench-forwarder-$rate", '--forward', "http://127.0.0.1:$srv->{pub}/pub")
                     : $via eq 'fetch' ? start_noop("bench-jetstream-$rate", '--live') : undef;
            my $resume = sub { stop_noop($noop) if $noop; kill 'CONT', $paused if $paused };
            my $first = $next_id;
            $next_id += $count + 10;
            my @pub = ($EXE{pub}, '--rate', $rate, '--count', $count, '--games', 'crash', '--start-id', $first);
            push @pub, publisher_target($via, $srv);
            if ($via eq 'fetch') { jetstream_alone($rate, $count, $noop, \@pub, $resume); next }
            my ($paths, $protocols) = subscribers($srv, "b($label)") or do { $resume->(); next };
            my $conns = $P{latency_conns};
            note "b: $label at $rate/s ($count messages, $conns WebSocket + $conns SSE subscribers)";
            my $aof = $via eq 'jetstream' ? aof_settled() : undef;
            my ($stages0, $t0) = ($via eq 'jetstream' ? consumer_stages() : undef, time);
            my $r = ws_sse_run(
                tag => "b-$label-$rate", srv => $srv, paths => $paths, protocols => $protocols, count => $count,
                procs => [$label eq 'pipeline' ? $stack->{procs}{consumer} : ()],
                during => sub { run_json(@pub) }, latency_log => 1, cpu_of => servers_of($label, $srv, $noop),
            );
            $resume->();
            my ($stages, $window) = ($stages0 ? stages_used($stages0, consumer_stages()) : undef, time - $t0);
            raw("b_stages_$rate" => $stages) if $stages;
            for my $i (0, 1) {
                my $proto = ('ws', 'sse')[$i];
                my $c = $r->{per}[$i] // {};
                $data{b}{$label}{$proto}{$rate} = $c->{latency_us} if $c->{messages};
                # Part f sets its figures beside these.
                $jetstream_runs{$rate}{$proto} = { c => $c, expected => $count * $conns, pub => $r->{pub} }
                    if $via eq 'jetstream' && $c->{messages};
                row(part => 'b', case => "$proto $rate/s", metric => 'p50 / p99 / max ms',
                    value => lat3($c), baseline => undef, label => $label, proto => $proto, rate => $rate,
                    lat => $c->{messages} ? $c->{latency_us} : undef,
                    note => sprintf('%s: %d/%d delivered%s%s%s%s%s%s%s', $label, $c->{messages} // 0, $count * $conns,
                                    unstamped($c), late_note($c->{late}), pub_note($r->{pub}), forwarder_note($noop),
                                    cpu_note($r->{cpu}), aof_note($aof),
                                    $c->{first_error} ? "; $c->{first_error}" : '',
                                    $stages ? '; ' . stages_note($stages, $window) : ''));
            }
        }
    }
    # The consumer would publish into part c's channels: stop it.
    $stack->stop_consumer if $stack->{procs}{consumer};
    stop_pushpin();
    my $same = sub {
        my ($row, $label) = @_;
        return (grep { $_->{part} eq 'b' && ($_->{label} // '') eq $label && $_->{proto} eq $row->{proto}
                       && $_->{rate} == $row->{rate} } @rows)[0];
    };
    # A Pushpin row shows the pipeline's figure beside Pushpin's (its baseline).
    for my $row (grep { $_->{part} eq 'b' && ($_->{label} // '') eq 'pushpin' } @rows) {
        my $p = $same->($row, 'pipeline');
        my ($ds, $pp) = ($p && $p->{lat}, $row->{lat});
        $row->{case} .= ' vs Pushpin';
        $row->{note} = ($ds && $pp ? ratio_note([map { [$_, $ds->{$_}, $pp->{$_}] } qw(p50 p99 max)]) . '; ' : '')
            . ($p ? "$p->{note} — " : '') . 'baseline ' . pushpin_note() . ", $row->{note}";
        ($row->{value}, $row->{baseline}) = ($p && $p->{value}, $row->{value});
    }
    # A forwarder row shows the pipeline's figure beside the simplest consumer's, a JetStream
    # row beside what JetStream alone takes to hand the same rounds to a consumer.
    for my $vs (['forwarder', 'JetStream forwarder', 'forwarder'], ['jetstream', 'JetStream alone', 'JetStream']) {
        my ($label, $case, $peer) = @$vs;
        for my $row (grep { $_->{part} eq 'b' && ($_->{label} // '') eq $label } @rows) {
            my $p = $same->($row, 'pipeline');
            my ($ds, $base) = ($p && $p->{lat}, $row->{lat});
            $row->{case} .= " vs $case";
            $row->{note} = ($ds && $base ? ratio_note([map { [$_, $ds->{$_}, $base->{$_}] } qw(p50 p99 max)], $peer) . '; ' : '')
                . 'baseline ' . $row->{note};
            ($row->{value}, $row->{baseline}) = ($p && $p->{value}, $row->{value});
        }
    }
    # Pair each pipeline row with the bare row of the same protocol and rate.
    for my $row (grep { $_->{part} eq 'b' && ($_->{label} // '') eq 'pipeline' } @rows) {
        my $b = $same->($row, 'bare');
        next unless $b;
        $row->{baseline} = $b->{value};
        $row->{note} .= " — baseline $b->{note}";
        $b->{paired} = 1;
    }
    @rows = grep { !$_->{paired} } @rows;
    # Unpaired bare rows (no pipeline yet) show as the baseline column.
    for my $row (grep { $_->{part} eq 'b' && ($_->{label} // '') eq 'bare' } @rows) {
        ($row->{baseline}, $row->{value}) = ($row->{value}, undef);
    }
}

# datastream-bench-noop --live or --forward on a durable of its own that starts at the stream's
# next message; returns once JetStream has the durable.
sub start_noop {
    my ($durable, @mode) = @_;
    my $pid = spawn_to("$dir/$durable.out", "$dir/$durable.log", $EXE{noop}, '--url', $stack->nats_url('consumer'),
                       '--durable', $durable, '--idle-ms', 3_600_000, @mode);
    DataStream::Stack::wait_until("durable $durable", sub { defined durable_lag($durable) }, 20);
    return { pid => $pid, out => "$dir/$durable.out", durable => $durable };
}

# Part b's JetStream alone at a rate: its publisher, and the do-nothing consumer fetching and
# acking; rows the pipeline's are set beside (one per protocol, like theirs).
sub jetstream_alone {
    my ($rate, $count, $noop, $pub, $resume) = @_;
    note "b: JetStream alone at $rate/s ($count messages, fetched and acked)";
    my $servers = [['nats-server', $stack->{procs}{nats}], ['do-nothing consumer', $noop->{pid}]];
    my $m0 = cpu_mark($servers);
    my $p = run_json(@$pub);
    my $m1 = cpu_mark($servers);
    eval { DataStream::Stack::wait_until("$noop->{durable} fetched all", sub { (durable_lag($noop->{durable}) // 1) == 0 }, 30) }
        or note "b: $@";
    my $cpu = cpu_used($servers, $m0, $m1, cpu_mark($servers), $p);
    $resume->();
    my $r = $noop->{result};
    for my $proto (qw(ws sse)) {
        row(part => 'b', case => "$proto $rate/s", metric => 'p50 / p99 / max ms', label => 'jetstream',
            value => lat3({ messages => $r->{received}, latency_us => $r->{latency_us} }), proto => $proto, rate => $rate,
            lat => $r->{received} ? $r->{latency_us} : undef,
            note => sprintf('JetStream alone (publisher -> a do-nothing consumer\'s fetch): %d/%d fetched%s%s',
                            $r->{received} // 0, $count, pub_note($p), cpu_note($cpu)));
    }
}

sub stop_noop {
    my ($f) = @_;
    kill 'INT', $f->{pid};
    wait_pid($f->{pid}, 10);
    $f->{result} = last_json(slurp($f->{out})) // {};
}

sub forwarder_note {
    my ($f) = @_;
    return '' unless $f;
    my $r = $f->{result} // {};
    return sprintf '; forwarded %s, %s POST errors; publisher -> its fetch p50 / p99 / max %s ms',
        $r->{forwarded} // '?', $r->{forward_errors} // '?', lat3({ messages => $r->{received}, latency_us => $r->{latency_us} }) // '?';
}

# The processes of a part b target whose CPU its window reports, beside the publisher and the
# load clients.
sub servers_of {
    my ($label, $srv, $forwarder) = @_;    # $forwarder: the noop of a forwarder target
    return [[pushpin => pushpin_procs($srv)]] if $label eq 'pushpin';
    my @nginx = (nginx => nginx_workers($srv->{run}));
    return [['nats-server', $stack->{procs}{nats}], [Redis => $stack->{procs}{redis}],
            [consumer => $stack->{procs}{consumer}], \@nginx] if $label eq 'pipeline';
    return [['nats-server', $stack->{procs}{nats}], [forwarder => $forwarder->{pid}], \@nginx] if $forwarder;
    return [\@nginx];
}

# datastream-bench-pub's options for a target: JetStream, an nchan publisher, Pushpin.
sub publisher_target {
    my ($via, $srv) = @_;
    return ('--nats', $nats_url) if $via eq 'jetstream' || $via eq 'forward' || $via eq 'fetch';
    return ('--pushpin', $srv->{zmq}) if $via eq 'pushpin';
    return ('--nchan', "http://127.0.0.1:$srv->{pub}/pub");
}

# Redis' own counters of AOF rewrites (each a fork of the read model's Redis) and of the last fork.
sub aof_info {
    my %i = $stack->redis_cli('INFO') =~ /^(\w+):(\S*)\r?$/mg;
    return \%i;
}

# Before a pipeline window: the read model's AOF rewritten now, so that an automatic rewrite
# does not land in the window by chance, and what earlier parts wrote flushed to disk: after a
# drain the kernel's writeback of its hundreds of MB of AOF otherwise goes on into the window,
# and Redis' fsync every second waits behind it (part b right after part a: p50 1.8 against
# 0.74 ms at 1 000/s; the same 60 s later, or with AOF off: 0.74). Returns the counters to
# compare after the window.
sub aof_settled {
    $stack->redis_cli('BGREWRITEAOF');
    my $until = time + 60;
    my $i = aof_info();
    while (time < $until && ($i->{aof_rewrite_in_progress} || $i->{aof_rewrite_scheduled})) {
        sleep 0.2;
        $i = aof_info();
    }
    system('sync') == 0 or die "sync failed\n";
    return $i;
}

# What a row says when a rewrite still began during its window: the fork stopped Redis.
sub aof_note {
    my ($before) = @_;
    return '' unless $before;
    my $after = aof_info();
    my $n = ($after->{aof_rewrites} // 0) - ($before->{aof_rewrites} // 0);
    return '' unless $n > 0 || $after->{aof_rewrite_in_progress};
    return sprintf '; Redis AOF rewrite during the window (fork %.0f ms)', ($after->{latest_fork_usec} // 0) / 1000;
}

sub lat3 {
    my ($c) = @_;
    my $l = $c->{latency_us} or return undef;
    return undef unless $c->{messages};
    return sprintf '%.2f / %.2f / %.2f', $l->{p50} / 1000, $l->{p99} / 1000, $l->{max} / 1000;
}

# Messages split into WebSocket frames whose first one ends before "bench_sent_us": delivered,
# but not in the latency figures.
sub unstamped {
    my ($c) = @_;
    return $c->{no_timestamp} ? " (and $c->{no_timestamp} without a readable send time)" : '';
}

# Where the machine's CPU went while a window published, in % of one core: a latency figure
# means little when the machine was saturated.
sub cpu_note {
    my ($cpu) = @_;
    return '' unless $cpu;
    return sprintf '; CPU while publishing, %% of one core: machine %.0f of %d (stolen %.0f): %s', $cpu->{machine},
        100 * cores(), $cpu->{steal}, join ', ', map { sprintf '%s %.0f', @$_ } @{ $cpu->{parts} };
}

sub pub_note {
    my ($p) = @_;
    return '; publisher failed' unless $p;
    return sprintf('; published %d at %.0f/s', $p->{sent}, $p->{achieved_rate})
        . ($p->{errors} ? ", $p->{errors} errors" : '');
}

# ---------------------------------------------------------------- c: fan-out

# The module admits subscribers of known games only. Without a consumer run
# before, write the reference games into the read model (docs/design.md layout).
sub ensure_games {
    return if $stack->redis_cli('HLEN', rkey('games')) >= 4;
    my @g = ([1, 'crash', 'Crash', 'multiplier'], [2, 'double', 'Double', 'color'],
             [3, 'slot', 'Slot Machine', 'slots'], [4, 'wall-street', 'Wall Street', 'trending']);
    for (@g) {
        my ($id, $slug, $name, $type) = @$_;
        $stack->redis_cli('HSET', rkey('games'), $slug, qq({"id":$id,"slug":"$slug","name":"$name","type":"$type"}));
        $stack->redis_cli('HSET', rkey('game_ids'), $id, $slug);
    }
    note 'games registry written directly into Redis';
}

sub part_c {
    my @targets = (['bare', $bare]);
    if ($have_module && $api_key) { unshift @targets, ['module', $full] }
    else { skip('c(module)', $module_why // $key_error // 'datastream-keys not built') }
    if ($pushpin_why) { skip('c(pushpin)', $pushpin_why) }
    else { push @targets, ['pushpin', undef] }
    ensure_games() if $have_module;
    my @cases = map { [$_, ['/ws/crash'], "$_ subs, one channel"] } @{ $P{fanout} };
    push @cases, [$P{fanout_mix}, ['/ws/crash', '/ws/double', '/ws/slot', '/ws/wall-street'],
                  "$P{fanout_mix} subs, 4 games"];
    my $next_id = 50_000_000;
    my %res;
    for my $case (@cases) {
        my ($n, $paths, $label) = @$case;
        for my $t (@targets) {
            my ($name, $srv) = @$t;
            # A fresh worker per case, so its RSS growth is this case's connections.
            if ($name eq 'pushpin') {
                $srv = $t->[1] = eval { restart_pushpin() } or do { skip('c(pushpin)', "does not start: $@"); next };
            }
            else { $srv = $t->[1] = restart_nginx($srv) }
            my $protocol;
            if ($name eq 'module') { $protocol = mint_token($srv->{http}) or do { skip("c($name)", 'cannot mint a token'); next } }
            my @games = map { m{/ws/(.*)} } @$paths;
            # Offered load: fanout_offered deliveries/s in total, whatever the subscriber count.
            my $rate = $P{fanout_offered} / $n;
            my $count = int($rate * $P{fanout_seconds} + 0.5) || 1;
            # Every game gets $count messages, so every subscriber expects $count.
            my $total = $count * @games;
            my $first = $next_id;
            $next_id += $total + 10;
            my @workers = $name eq 'pushpin' ? pushpin_procs($srv) : nginx_workers($srv->{run});
            # The module's backend is nginx and the Redis it authorizes against: both count, and
            # both from their own idle figure (Redis holds the read model of the parts before).
            my @procs = (@workers, $name eq 'module' ? ($stack->{procs}{redis}) : ());
            my $idle = sample_procs(@procs);
            note sprintf 'c: %s, %s: %d messages per channel at %.2f/s', $name, $label, $count, $rate;
            my $r = load_run(
                tag => "c-$name-$n-" . scalar(@games), port => $srv->{http}, conns => $n,
                paths => [map { ($srv->{prefix} // '') . $_ } @$paths],
                protocol => $protocol, duration => $P{fanout_seconds} + 30, expect => $count * $n, idle => 5,
                procs => \@procs, ramp => $name eq 'pushpin' ? $P{pushpin_ramp} : $P{ramp},
                during => sub {
                    run_json($EXE{pub}, '--rate', $rate * @games, '--count', $total,
                             '--games', join(',', @games), '--start-id', $first,
                             publisher_target($name eq 'pushpin' ? 'pushpin' : 'nchan', $srv));
                },
            );
            my $c = $r->{client};
            my $open = $c->{open_at_end} || 1;
            my $rss_per = ($r->{backend}{rss_open_kb} - $idle->{rss_kb}) * 1024 / $open;
            my $cpu_pct = 100 * $r->{backend}{cpu_s} / ($r->{backend}{window_s} || 1);
            $res{$label}{$name} = { c => $c, rss_per => $rss_per, cpu_pct => $cpu_pct, r => $r, expected => $count * $n };
            $data{c}{$label}{$name} = { msgs_per_s => $c->{msgs_per_s}, p99_us => $c->{latency_us}{p99},
                                        cpu_pct => $cpu_pct, rss_per_conn_b => $rss_per };
        }
        my ($m, $b, $p) = @{ $res{$label} }{qw(module bare pushpin)};
        my $fmt = sub {
            my ($x) = @_;
            return undef unless $x;
            my $c = $x->{c};
            return sprintf '%.0f msg/s, p99 %.1f ms, CPU %.0f%%, %.1f KiB/conn, %d/%d open%s',
                $c->{msgs_per_s} // 0, ($c->{latency_us}{p99} // 0) / 1000, $x->{cpu_pct}, $x->{rss_per} / 1024,
                $c->{open_at_end} // 0, $n, ($c->{connect_failures} + $c->{handshake_failures}) ? ' (failures!)' : '';
        };
        row(part => 'c', case => "$label, offered $P{fanout_offered} deliveries/s",
            metric => 'delivered, p99, backend CPU, RSS/conn',
            value => $fmt->($m), baseline => $fmt->($b),
            note => $b ? sprintf('client CPU %.0f%% of a core', 100 * ($b->{c}{client_cpu_s} // 0)
                                 / (($b->{c}{ramp_s} // 0) + ($b->{c}{measured_s} // 1) || 1)) : '');
        next unless $p;
        my @pairs = (['msg/s', map { $_ && $_->{c}{msgs_per_s} } $m, $p], ['p99', map { $_ && $_->{c}{latency_us}{p99} } $m, $p],
                     ['CPU', map { $_ && $_->{cpu_pct} } $m, $p], ['RSS/conn', map { $_ && $_->{rss_per} } $m, $p]);
        row(part => 'c', case => "$label, offered $P{fanout_offered} deliveries/s, vs Pushpin",
            metric => 'delivered, p99, backend CPU, RSS/conn', value => $fmt->($m), baseline => $fmt->($p),
            note => sprintf('%s — baseline %s: %d/%d messages delivered%s, %d connections ramped at %d/s; '
                            . 'CPU and RSS of its runner, condure, zurl, proxy and handler',
                            ratio_note(\@pairs), pushpin_note(), $p->{c}{messages} // 0, $p->{expected}, unstamped($p->{c}),
                            $n, $P{pushpin_ramp}));
    }
    stop_pushpin();
    if ($P{two_clients}) {
        # Is the load client the bottleneck? The same bare 10k run from two processes.
        my $n = $P{fanout}[-1];
        my $rate = $P{fanout_offered} / $n;
        my $count = int($rate * $P{fanout_seconds} + 0.5) || 1;
        $bare = restart_nginx($bare);
        note "c: bare, $n subs from 2 client processes";
        my $r = load_run(
            tag => "c-bare-$n-2clients", port => $bare->{http}, conns => $n, paths => ['/ws/crash'],
            clients => 2, duration => $P{fanout_seconds} + 30, expect => $count * $n, idle => 5,
            procs => [nginx_workers($bare->{run})],
            during => sub {
                run_json($EXE{pub}, '--rate', $rate, '--count', $count, '--games', 'crash',
                         '--start-id', $next_id, '--nchan', "http://127.0.0.1:$bare->{pub}/pub");
            },
        );
        my $one = $res{"$n subs, one channel"}{bare}{c};
        my $two = $r->{client};
        $data{c}{two_clients} = { one => $one->{msgs_per_s}, two => $two->{msgs_per_s} };
        row(part => 'c', case => "bare $n subs: 2 client processes vs 1", metric => 'msg/s, p99',
            value => sprintf('%.0f msg/s, p99 %.1f ms', $two->{msgs_per_s}, $two->{latency_us}{p99} / 1000),
            baseline => $one ? sprintf('%.0f msg/s, p99 %.1f ms', $one->{msgs_per_s}, $one->{latency_us}{p99} / 1000) : undef,
            note => 'load-client bottleneck check: equal figures mean one client is enough');
    }
}

# ---------------------------------------------------------------- d: REST

sub have_wrk { system('sh', '-c', 'command -v wrk >/dev/null') == 0 }

sub wrk {
    my ($url, @headers) = @_;
    my @cmd = ('wrk', '-t1', '-c32', "-d$P{wrk_seconds}s", '--latency');
    push @cmd, '-H', $_ for @headers;
    open my $fh, '-|', @cmd, $url or return undef;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($p99, $unit) = $out =~ /^\s+99%\s+([\d.]+)(us|ms|s)\b/m;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    my ($errors) = $out =~ /Socket errors:(.*)/;
    $p99 *= { us => 0.001, ms => 1, s => 1000 }->{$unit} if defined $p99;
    return { rps => $rps, p99_ms => $p99, non2xx => $non2xx // 0, socket_errors => $errors, raw => $out };
}

# Round objects laid out as the design says, for when no module answers yet.
sub synthetic_rounds {
    my ($n) = @_;
    my @r;
    for my $i (reverse 1 .. $n) {
        push @r, sprintf '{"round_id":%d,"game_id":1,"game_slug":"crash","game_type":"multiplier",'
            . '"finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"%.2f\"}","timestamp":1768621542123}',
            100000 + $i, 1 + ($i % 700) / 100;
    }
    return @r;
}

sub part_d {
    return skip('d', 'wrk not installed') unless have_wrk();
    # "read" rows: the history's revision is removed first, so every request reads the members
    # from Redis, as when the history changes between any two requests.
    my @cases = (['latest', '/api/latest/crash'], ['history100', '/api/history/crash?limit=100'],
                 ['history1000', '/api/history/crash?limit=1000'],
                 ['history100', '/api/history/crash?limit=100', 'read'],
                 ['history1000', '/api/history/crash?limit=1000', 'read']);
    my $module_ok = $have_module && $api_key;
    skip('d(module)', $module_why // $key_error // 'datastream-keys not built') unless $module_ok;
    if ($module_ok && $stack->redis_cli('ZCARD', rkey('history_game', 'crash')) < 1000) {
        # No consumer run filled the history: write the read model directly (docs/design.md layout).
        note 'd: filling ' . rkey('history_game', 'crash') . ' directly';
        my @r = synthetic_rounds(1000);
        my $history = rkey('history_game', 'crash');
        my $f = "$dir/zadd.txt";
        open my $fh, '>', $f or die;
        for (@r) { my ($id) = /"round_id":(\d+)/; (my $q = $_) =~ s/(["\\])/\\$1/g; print $fh qq{ZADD $history $id "$q"\n} }
        close $fh;
        system("redis-cli -p $redis_port < $f > /dev/null");
        ensure_games();
    }
    # The consumer gives every history it writes a revision (docs/design.md); a history
    # filled above, or by an older consumer, gets one the same way.
    $stack->redis_cli('HSET', rkey('history_revisions'), rkey_field('history_game', 'crash'), 'bench.' . time) if $module_ok;
    for my $c (@cases) {
        my ($name, $path, $read) = @$c;
        $stack->redis_cli('HDEL', rkey('history_revisions'), rkey_field('history_game', 'crash')) if $module_ok && $read;
        my $body;
        if ($module_ok) {
            my $res = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$full->{http}$path",
                                                         { headers => { 'X-API-Key' => $api_key } });
            $body = $res->{content} if $res->{status} == 200;
            note "d: $path answered $res->{status}" unless $res->{status} == 200;
        }
        if (!defined $body) {
            my ($n) = $path =~ /limit=(\d+)/;
            my @r = synthetic_rounds($n // 1);
            $body = $n ? '[' . join(',', @r) . ']' : substr($r[0], 0, -1) . ',"value":"1.00"}';
        }
        open my $fh, '>', "$bare->{run}/static/$name.json" or die;
        print $fh $body;
        close $fh;
        note "d: $path (" . length($body) . " bytes)";
        # Alternate baseline and module twice and keep each one's better run:
        # other load on the machine then hurts both alike.
        my ($base, $mod);
        for (1, 2) {
            my $b = wrk("http://127.0.0.1:$bare->{http}/static/$name.json");
            $base = $b if $b && $b->{rps} && (!$base || $b->{rps} > $base->{rps});
            next unless $module_ok;
            my $m = wrk("http://127.0.0.1:$full->{http}$path", "X-API-Key: $api_key");
            $mod = $m if $m && $m->{rps} && (!$mod || $m->{rps} > $mod->{rps});
        }
        my $label = $read ? "$name-read" : $name;
        raw("d-$label" => { bytes => length($body), module => $mod, static => $base });
        my $fmt = sub { my ($w) = @_; $w && defined $w->{rps}
            ? sprintf('%.0f req/s, p99 %.2f ms%s', $w->{rps}, $w->{p99_ms} // -1, $w->{non2xx} ? " ($w->{non2xx} non-2xx!)" : '')
            : undef };
        $data{d}{$label} = { module => $mod && $mod->{rps}, static => $base && $base->{rps} };
        row(part => 'd', case => "GET $path" . ($read ? ' (members read every request)' : ''), metric => 'req/s, p99',
            value => $fmt->($mod), baseline => $fmt->($base),
            note => length($body) . ' bytes, better of 2 alternating runs' . ($module_ok ? '' : ', synthetic body')
                . ($read ? '; history without a revision, so never cached' : ''));
    }
}

# ---------------------------------------------------------------- f: INSERT -> client

sub lat_ms { my ($c, $p) = @_; return $c && $c->{messages} ? $c->{latency_us}{$p} / 1000 : undef }

sub insert_note {
    my ($p, $table) = @_;
    return '; load generator failed' unless $p;
    return sprintf('; inserted %d at %.0f rows/s (%d sends > 1 ms late, max %.1f ms)%s%s', $p->{inserted},
                   $p->{achieved_rate}, $p->{late_over_1ms} // 0, ($p->{max_behind_us} // 0) / 1000,
                   $p->{errors} || $p->{unanswered} ? ", $p->{errors} errors, $p->{unanswered} unanswered" : '',
                   defined $table && $table != $p->{inserted} ? ", table holds $table" : '');
}

# Rows inserted into PostgreSQL, one per transaction, carried by datastream-cdc (the stand-in for
# Debezium Server) into JetStream and on through the consumer and nchan. Latency is measured
# from the commit time the bridge reads from the WAL commit record: the round's "timestamp".
sub part_f {
    return skip('f', "no $EXE{consumer}") unless $have_consumer;
    for (qw(cdc insert)) { return skip('f', "no $EXE{$_}") unless -x $EXE{$_} }
    my $pg = "$DataStream::Stack::PG_BIN/postgres";
    return skip('f', "no PostgreSQL 15 ($pg)") unless -x $pg;
    my $srv = $have_module && $api_key ? $full : $bare;
    skip('f(module)', ($module_why // $key_error // 'datastream-keys not built') . '; measured through the bare nchan')
        unless $have_module && $api_key;
    note 'f: PostgreSQL 15 and the CDC bridge';
    $stack->start_postgres;
    my $cdc_metrics = $stack->start_cdc;
    DataStream::Stack::wait_until('CDC bridge streaming', sub {
        $http->get("http://127.0.0.1:$cdc_metrics/readyz")->{status} == 200 }, 60);
    start_consumer() unless $stack->{procs}{consumer};
    # The bridge's initial snapshot carries the games table, as Debezium's does.
    DataStream::Stack::wait_until('games registry', sub { $stack->redis_cli('HLEN', rkey('games')) >= 4 }, 30);
    time_drain('cdc-public-rounds', 1e12, 120);
    my $conns = $P{latency_conns};
    my ($next_insert, $next_pub) = (90_000_000, 80_000_000);
    # One measured run on fresh subscribers after the consumer drained: `during` feeds it.
    my $measured = sub {
        my ($what, $tag, $count, $procs, $during) = @_;
        my ($paths, $protocols) = subscribers($srv, "f($tag)") or return;
        my $d = time_drain('cdc-public-rounds', 1e12, 60);
        note "f: consumer still has $d->{left} queued" if $d->{left};
        note "f: $what ($conns WebSocket + $conns SSE subscribers)";
        return ws_sse_run(tag => "f-$tag", srv => $srv, paths => $paths, protocols => $protocols,
                          count => $count, procs => $procs, during => $during);
    };
    for my $rate (@{ $P{insert_rates} }) {
        my $count = int($rate * $P{rate_seconds});
        # The JetStream -> client figure beside this one: part b's of this run, else measured
        # here as part b measures it.
        my $jet = $jetstream_runs{$rate};
        my $jet_by = 'part b';
        if (!$jet) {
            $jet_by = 'measured by f';
            my $first = $next_pub;
            $next_pub += $count + 10;
            my $r = $measured->("JetStream publish at $rate/s ($count messages)", "jetstream-$rate", $count,
                [$stack->{procs}{consumer}],
                sub { run_json($EXE{pub}, '--rate', $rate, '--count', $count, '--games', 'crash',
                               '--start-id', $first, '--nats', $nats_url) }) or next;
            $jet = { map { (('ws', 'sse')[$_] => { c => $r->{per}[$_] // {}, expected => $count * $conns,
                                                   pub => $r->{pub} }) } 0, 1 };
        }
        my $first = $next_insert;
        $next_insert += $count + 10;
        my $r = $measured->("INSERT at $rate rows/s ($count rows)", "insert-$rate", $count,
            [@{ $stack->{procs} }{qw(consumer cdc)}],
            sub { run_json($EXE{insert}, '--database', $stack->postgres_url, '--rate', $rate,
                           '--count', $count, '--game-id', 1, '--start-id', $first) }) or next;
        my $ins = $r->{pub};
        my $in_table = eval { $stack->psql(sprintf 'SELECT count(*) FROM rounds WHERE id BETWEEN %d AND %d',
                                           $first, $first + $count - 1) };
        my $inserted = $ins ? $ins->{inserted} // 0 : 0;
        for my $i (0, 1) {
            my $proto = ('ws', 'sse')[$i];
            my $c = $r->{per}[$i] // {};
            my $b = $jet->{$proto} // {};
            my $want = $inserted * $conns;
            my $got = $c->{messages} // 0;
            $data{f}{$proto}{$rate} = { insert => $c->{latency_us}, delivered => $got, expected => $want,
                                        jetstream => $b->{c}{latency_us} };
            my @hop = map { my ($x, $y) = (lat_ms($c, $_), lat_ms($b->{c}, $_));
                            defined $x && defined $y ? $x - $y : undef } qw(p50 p99);
            row(part => 'f', case => "$proto $rate rows/s", metric => 'p50 / p99 / max ms',
                value => lat3($c), baseline => lat3($b->{c}),
                note => sprintf('INSERT -> client: %d/%d delivered%s%s%s; commit timestamp in whole ms '
                                . '(floored: figures 0-1 ms high, 0.5 on average) — baseline JetStream -> client '
                                . '(%s): %d/%d delivered%s%s',
                                $got, $want, $got < $want ? sprintf(' (%d MISSING)', $want - $got) : '',
                                insert_note($ins, $in_table), $c->{first_error} ? "; $c->{first_error}" : '',
                                $jet_by, $b->{c}{messages} // 0, $b->{expected} // 0, pub_note($b->{pub}),
                                defined $hop[1] ? sprintf('; PostgreSQL + CDC hop (difference): p50 %+.2f, p99 %+.2f ms', @hop) : ''));
        }
    }
    $stack->stop_consumer if $stack->{procs}{consumer};
    $stack->stop_cdc;
    $stack->stop_postgres;
}

# ---------------------------------------------------------------- e: plot

sub part_e {
    my %series;
    for my $label (sort keys %{ $data{b} // {} }) {
        for my $proto (sort keys %{ $data{b}{$label} }) {
            my $pts = $data{b}{$label}{$proto};
            for my $p (qw(p50 p99)) {
                $series{"$label $proto $p"} = [map { [$_, $pts->{$_}{$p} / 1000] }
                                               grep { $pts->{$_} && $pts->{$_}{$p} } sort { $a <=> $b } keys %$pts];
            }
        }
    }
    return skip('e', 'no latency data') unless grep { @$_ } values %series;
    my $file = "$opt{out}/latency-$stamp.svg";
    open my $fh, '>', $file or die;
    print $fh svg_plot(\%series, "Latency against publish rate ($stamp UTC" . ($Q ? ', quick' : '') . ')');
    close $fh;
    note "e: plot $file";
    return "results/latency-$stamp.svg";
}

# A log-log line plot, self-contained SVG, no dependencies.
sub svg_plot {
    my ($series, $title) = @_;
    my ($W, $H, $L, $R, $T, $B) = (760, 460, 70, 230, 40, 50);
    my @all = map { @$_ } values %$series;
    my ($xmin, $xmax) = (min(map { $_->[0] } @all), max(map { $_->[0] } @all));
    my ($ymin, $ymax) = (min(map { $_->[1] } @all), max(map { $_->[1] } @all));
    my $lx0 = floor10($xmin); my $lx1 = ceil10($xmax); $lx1++ if $lx1 == $lx0;
    my $ly0 = floor10($ymin); my $ly1 = ceil10($ymax); $ly1++ if $ly1 == $ly0;
    my $px = sub { $L + (log10($_[0]) - $lx0) / ($lx1 - $lx0) * ($W - $L - $R) };
    my $py = sub { $H - $B - (log10($_[0]) - $ly0) / ($ly1 - $ly0) * ($H - $T - $B) };
    my $s = qq{<svg xmlns="http://www.w3.org/2000/svg" width="$W" height="$H" font-family="sans-serif" font-size="12">\n};
    $s .= qq{<rect width="$W" height="$H" fill="white"/>\n<text x="$L" y="24" font-size="14">} . esc($title) . "</text>\n";
    for my $e ($lx0 .. $lx1) {
        my $x = $px->(10**$e);
        $s .= sprintf qq{<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>\n},
            $x, $T, $x, $H - $B, $x, $H - $B + 16, 10**$e;
    }
    for my $e ($ly0 .. $ly1) {
        my $y = $py->(10**$e);
        $s .= sprintf qq{<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>\n},
            $L, $y, $W - $R, $y, $L - 6, $y + 4, 10**$e;
    }
    $s .= sprintf qq{<text x="%d" y="%d" text-anchor="middle">published events/s</text>\n}, ($L + $W - $R) / 2, $H - 12;
    $s .= sprintf qq{<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle">latency, ms (log)</text>\n},
        ($T + $H - $B) / 2, ($T + $H - $B) / 2;
    my @colors = ('#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f');
    my ($i, %color_of) = (0);
    for my $name (sort keys %$series) {
        my $pts = $series->{$name};
        next unless @$pts;
        (my $base = $name) =~ s/ p\d+$//;          # one colour per series, dashed p99
        my $col = $color_of{$base} //= $colors[keys(%color_of) % @colors];
        my $dash = $name =~ /p50$/ ? '' : ' stroke-dasharray="6 3"';
        $s .= sprintf qq{<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>\n}, $col, $dash,
            join ' ', map { sprintf '%.1f,%.1f', $px->($_->[0]), $py->($_->[1]) } @$pts;
        $s .= sprintf qq{<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>\n}, $px->($_->[0]), $py->($_->[1]), $col for @$pts;
        my $ly = $T + 10 + 18 * $i;
        $s .= sprintf qq{<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d">%s</text>\n},
            $W - $R + 10, $ly, $W - $R + 40, $ly, $col, $dash, $W - $R + 46, $ly + 4, esc($name);
        $i++;
    }
    return $s . "</svg>\n";
}

sub log10 { log($_[0]) / log(10) }
sub floor10 { my $v = POSIX::floor(log10($_[0]) + 1e-9); $v }
sub ceil10 { my $v = POSIX::ceil(log10($_[0]) - 1e-9); $v }
sub min { my $m = shift; for (@_) { $m = $_ if $_ < $m } $m }
sub max { my $m = shift; for (@_) { $m = $_ if $_ > $m } $m }
sub esc { my $t = shift; $t =~ s/&/&amp;/g; $t =~ s/</&lt;/g; $t }

# ---------------------------------------------------------------- main

# f after d: its rows would otherwise land in the histories that part d reads.
my %parts = (a => \&part_a, b => \&part_b, c => \&part_c, d => \&part_d, f => \&part_f);
for my $p (qw(a b c d f)) {
    next unless index($opt{only}, $p) >= 0;
    eval { $parts{$p}->(); 1 } or skip($p, "failed: $@");
}
# The table keeps the parts in order, whenever each row was measured.
my %order = (a => 0, b => 1, c => 2, d => 3, e => 4, f => 5);
@rows = sort { $order{ $a->{part} } <=> $order{ $b->{part} } } @rows;
my $plot = index($opt{only}, 'e') >= 0 ? eval { part_e() } : undef;
note "e: $@" if $@;

# ---------------------------------------------------------------- report

my ($cpu) = slurp('/proc/cpuinfo') =~ /^model name\s*:\s*(.+)$/m;
my $cores = cores();
my $nginx_v = `nginx -v 2>&1`; chomp $nginx_v; $nginx_v =~ s/^nginx version: //;
my $date = strftime('%Y-%m-%d %H:%M UTC', gmtime($started));

sub fmtv {
    my ($v, $metric) = @_;
    return '—' unless defined $v;
    return $v =~ /^[\d.]+$/ ? sprintf('%.0f', $v) : $v;
}

my $md = sprintf "### %s — %s run\n\n", $date, $Q ? 'quick' : 'full';
$md .= sprintf "CPU: %s, %d cores. %s, nchan %s; backend %d nginx worker(s); load client, publisher and servers on the same machine (loopback).\n\n",
    $cpu // 'unknown', $cores, $nginx_v, '1.3.6', $P{workers};
$md .= sprintf "Load average (1 min) %s at start, %s at end: other work on the machine shares its cores, so compare each figure with its baseline rather than across runs.\n\n",
    $load_start, (split ' ', slurp('/proc/loadavg'))[0];
$md .= "| part | case | metric | Data Stream | baseline | notes |\n|---|---|---|---|---|---|\n";
for my $r (@rows) {
    my $ratio = '';
    if (defined $r->{value} && defined $r->{baseline} && $r->{value} =~ /^[\d.]+$/ && $r->{baseline} =~ /^[\d.]+$/ && $r->{baseline} > 0) {
        $ratio = sprintf ' (%.0f%% of baseline)', 100 * $r->{value} / $r->{baseline};
    }
    $md .= sprintf "| %s | %s | %s | %s | %s | %s |\n", $r->{part}, $r->{case}, $r->{metric},
        fmtv($r->{value}), fmtv($r->{baseline}), ($r->{note} // '') . $ratio;
}
$md .= "\nBaselines: a = `datastream-bench-noop` (fetch + ack, same batch) on the same backlog; "
    . "b, c = bare nchan (same nginx and nchan, no module, memory storage) fed by `datastream-bench-pub --nchan`; "
    . "b rows \"vs JetStream forwarder\" = the same JetStream publisher and bare nchan with the simplest consumer between "
    . "them (`datastream-bench-noop --forward`: fetch, POST each envelope as it is, ack), Data Stream / forwarder ratios in their notes; "
    . "b rows \"vs JetStream alone\" = the same JetStream publisher and a consumer that only fetches and acks "
    . "(`datastream-bench-noop --live`), timed to its fetch: what JetStream and the machine take before any consumer's work; "
    . "b notes \"CPU while publishing\" = each process's CPU per second of publishing, in % of one core, and the whole machine's; "
    . ($pushpin_why ? '' : "b, c rows \"vs Pushpin\" = the peer product " . pushpin_note() . " fed the same round "
       . "objects by `datastream-bench-pub --pushpin`, Data Stream / Pushpin ratios in their notes; ")
    . "d = the same bytes as a static file from the bare nginx; "
    . "f = part b's JetStream -> client figure at the same rate (measured by f the same way when part b did not run it).\n";
$md .= "\nSkipped: " . join('; ', @skipped) . "\n" if @skipped;
$md .= "\nThe shipped nginx template did not start as is (unquoted `{m,n}` in regex locations); it was measured with only those regexes quoted.\n"
    if $template_patched;
$md .= "\n![latency against rate]($plot)\n" if $plot;
(my $raw_rel = $raw_file) =~ s{^\Q$BENCH\E/}{};
$md .= "\nRaw figures: `$raw_rel`.\n\n";

print "\n$md";
if ($opt{append}) {
    open my $fh, '>>', "$BENCH/RESULTS.md" or die "RESULTS.md: $!";
    print $fh $md;
    close $fh;
    note "appended to bench/RESULTS.md";
}
note sprintf 'done in %.0f s', time - $started;
