#!/usr/bin/perl
# Consumer throughput: how fast datastream-consumer drains a backlog of round inserts, next to a
# do-nothing consumer (datastream-bench-noop: fetch + ack, same batch size) on the same backlog
# in the same run.
#
# Starts its own redis-server and nats-server -js on free loopback ports. The consumer needs no
# nginx: it writes each batch's live rounds into nchan's storage on its Redis itself.
#
# usage: perl bench/consumer-throughput.pl [--events N] [--batch B] [--parts] [--env NAME=VALUE]...
#            [--json FILE]
#   --events N   backlog size (default 100000)
#   --batch B    BATCH_SIZE of the consumer and --batch of the baseline (default 256)
#   --parts      also measure the consumer's batch script alone (redis-benchmark, BATCH_SIZE
#                new rounds per EVALSHA, their nchan messages included)
#   --env        extra consumer environment, repeatable
#   --json FILE  append the figures as one JSON line
# Binaries come from $DS_BUILD_DIR/bin (default build/bin): datastream-consumer,
# datastream-feed and datastream-bench-noop
# (make -C consumer; make -C tools/feed; make -C bench O=../build/bin).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/consumer/lib", "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use ConsumerTest::Stack;
use DataStream::Keys;
use DataStream::ConsumerScript qw(consumer_script);
use DataStream::ConsumerStages qw(stage_seconds);

my %opt = (events => 100000, batch => 256, env => []);
GetOptions(\%opt, 'events=i', 'batch=i', 'parts', 'env=s@', 'json=s')
    or die "usage: $0 [--events N] [--batch B] [--parts] [--env K=V]... [--json FILE]\n";
my $n = $opt{events};
my %extra_env = map { /^([A-Z_][A-Z0-9_]*)=(.*)$/s ? ($1, $2) : die "bad --env $_\n" } @{ $opt{env} };

my $stack = ConsumerTest::Stack->new;
my $build = $ENV{DS_BUILD_DIR} || "$ConsumerTest::Stack::REPO/build";
my %bin = map { $_ => "$build/bin/datastream-$_" } qw(feed bench-noop);
for (values %bin, $stack->{consumer_bin}) { die "missing $_ (see the usage above)\n" unless -x $_ }
my $ticks = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

$stack->start_redis;
$stack->start_nats;
my $nats_url = 'nats://127.0.0.1:' . $stack->port('nats');

# The consumer creates the stream and its durables and learns the games registry; the backlog
# is written while it is stopped.
$stack->start_consumer(undef, BATCH_SIZE => $opt{batch}, %extra_env);
feed_publish('games', 'games');
ConsumerTest::Stack::wait_until('games registry', 20, sub { ($stack->redis('HLEN', rkey('games')) // 0) >= 4 });
$stack->stop('consumer', 'TERM');
my $t = time;
feed_publish('rounds', "rounds --count $n");
printf "backlog: %d round inserts published in %.1f s\n", $n, time - $t;

my %fig = (events => $n, batch => $opt{batch}, env => \%extra_env);

# Baseline: fetch + ack only, on a durable of its own over the same backlog.
{
    my $out = $stack->dir . '/noop.out';
    my $pid = spawn_to($out, $bin{'bench-noop'}, '--url', $nats_url, '--durable', 'bench-noop',
                       '--batch', $opt{batch}, '--expect', $n, '--fetch-timeout-ms', 300);
    my $d = time_drain('bench-noop', $pid);
    waitpid $pid, 0;
    my $self = eval { decode_json((grep { /^\{/ } split /\n/, slurp($out))[-1]) } // {};
    $fig{noop} = { %$d, rss_kb => $self->{rss_kb} };
}

# The consumer, with the server-side costs of the same interval.
{
    my $redis_before = redis_info();
    $stack->start_consumer(undef, BATCH_SIZE => $opt{batch}, %extra_env);
    my $pid = $stack->pid('consumer');
    my $cpu0 = proc_cpu($pid);
    my $d = time_drain('cdc-public-rounds', $pid);
    my %c = (%$d, cpu_s => proc_cpu($pid) - $cpu0, rss_kb => proc_status($pid, 'VmRSS'),
             peak_rss_kb => proc_status($pid, 'VmHWM'));
    $c{stages} = stage_seconds($stack->http_get('consumer', '/metrics')->{content});
    my $redis_after = redis_info();
    $c{redis_cpu_s} = $redis_after->{cpu} - $redis_before->{cpu};
    $c{redis_commands} = command_delta($redis_before->{cmd}, $redis_after->{cmd});
    $stack->stop('consumer', 'TERM');
    $fig{consumer} = \%c;
}

$fig{parts} = measure_parts() if $opt{parts};
report(\%fig);
if ($opt{json}) {
    open my $fh, '>>', $opt{json} or die "$opt{json}: $!";
    print $fh JSON::PP->new->canonical->encode({ time => time, %fig }), "\n";
}
$stack->stop($_, 'TERM') for qw(nats redis);

# ------------------------------------------------------------------------------------------

sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; return <$fh> }

sub spawn_to {
    my ($out, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out or die;
        open STDERR, '>>', "$out.err" or die;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    return $pid;
}

# datastream-feed gen KIND | datastream-feed pub: the Debezium envelopes the demo feed makes.
sub feed_publish {
    my ($table, $gen) = @_;
    my $cmd = sprintf "'%s' gen %s | '%s' pub --url '%s' --subject '%s.public.%s' >/dev/null",
        $bin{feed}, $gen, $bin{feed}, $nats_url, $stack->prefix, $table;
    system('sh', '-c', $cmd) == 0 or die "publishing $table failed\n";
}

# Polls num_pending + num_ack_pending every 20 ms; the drain runs from the first acked message
# to the last, the same way for both consumers (start-up is not counted).
sub time_drain {
    my ($durable, $pid) = @_;
    my ($first, $last);
    my $deadline = time + 900;
    while (time < $deadline) {
        my $exited = waitpid($pid, WNOHANG) == $pid;
        my $info = $stack->nats->js_api("CONSUMER.INFO.DebeziumStream.$durable");
        my $now = time;
        my $lag = defined $info->{num_pending} ? $info->{num_pending} + $info->{num_ack_pending} : undef;
        $first //= $now if defined $lag && $lag < $n;
        if (defined $lag && $lag == 0) { $last = $now; last }
        die "$durable: process exited before draining\n" if $exited;
        sleep 0.02;
    }
    die "$durable: not drained in time\n" unless defined $last;
    my $secs = $last - $first;
    return { seconds => $secs, events_per_s => $secs > 0 ? $n / $secs : undef };
}

sub proc_cpu {
    my ($pid) = @_;
    my @f = split ' ', (slurp("/proc/$pid/stat") =~ s/^.*\)\s//sr);
    return ($f[11] + $f[12]) / $ticks;     # utime + stime
}

sub proc_status { my ($pid, $key) = @_; return slurp("/proc/$pid/status") =~ /^$key:\s+(\d+)/m ? $1 + 0 : undef }

sub redis_info {
    my $info = $stack->redis('INFO', 'all');
    my %cmd;
    while ($info =~ /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/mg) { $cmd{$1} = { calls => $2, usec => $3 } }
    my ($user) = $info =~ /^used_cpu_user:([\d.]+)/m;
    my ($sys) = $info =~ /^used_cpu_sys:([\d.]+)/m;
    return { cpu => $user + $sys, cmd => \%cmd };
}

sub command_delta {
    my ($before, $after) = @_;
    my %d;
    for my $c (keys %$after) {
        my $calls = $after->{$c}{calls} - ($before->{$c}{calls} // 0);
        next unless $calls > 0;
        my $usec = $after->{$c}{usec} - ($before->{$c}{usec} // 0);
        $d{$c} = { calls => $calls, usec_per_call => sprintf('%.2f', $usec / $calls) + 0,
                   seconds => sprintf('%.3f', $usec / 1e6) + 0 };
    }
    return \%d;
}


# Each part alone, on this machine, with the consumer stopped.
sub measure_parts {
    my %p;
    my @games = qw(crash double slot wall-street);
    # The consumer's batch script alone: BATCH_SIZE new rounds (random ids and LSNs) per call.
    my $src = consumer_script('rounds_apply');
    my $sha = $stack->redis('SCRIPT', 'LOAD', $src);
    my $round = q('{"round_id":1,"game_id":1,"game_slug":"crash","game_type":"multiplier","finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"1.50\"}","timestamp":1768621542123}');
    my @types = qw(multiplier color slots trending);
    my $events = join ' ', map { "c 1 __rand_int__ __rand_int__ $games[$_ % 4] $types[$_ % 4] $round" } 0 .. $opt{batch} - 1;
    my $calls = int(200000 / $opt{batch}) || 1;
    my $out = `redis-benchmark -p ${\ $stack->port('redis')} -c 1 -n $calls -r 100000000 -q EVALSHA $sha 0 bench: 1000 604800 bench-owner 30000 '*' '{channel:/' 1000 3600 $events 2>&1`;
    my ($rps) = $out =~ /([\d.]+) requests per second/;
    $p{redis_rounds_apply} = { calls_per_s => ($rps // 0) + 0, events_per_call => $opt{batch},
                               events_per_s => sprintf('%.0f', ($rps // 0) * $opt{batch}) + 0 };
    return \%p;
}

sub report {
    my ($f) = @_;
    my ($c, $base) = ($f->{consumer}, $f->{noop});
    printf "\ndrain %d round inserts, BATCH_SIZE %d%s\n", $f->{events}, $f->{batch},
        %{ $f->{env} } ? ' (' . join(' ', map { "$_=$f->{env}{$_}" } sort keys %{ $f->{env} }) . ')' : '';
    printf "  %-28s %10s %9s %12s %12s\n", '', 'events/s', 'seconds', 'RSS KiB', 'CPU s';
    printf "  %-28s %10.0f %9.2f %12s %12s\n", 'noop (fetch + ack)', $base->{events_per_s}, $base->{seconds},
        ($base->{rss_kb} // '?') . ' peak', '';
    printf "  %-28s %10.0f %9.2f %12s %12.2f\n", 'datastream-consumer', $c->{events_per_s}, $c->{seconds},
        "$c->{rss_kb}/$c->{peak_rss_kb}", $c->{cpu_s};
    printf "  consumer / noop: %.2fx the time\n", $c->{seconds} / $base->{seconds} if $base->{seconds};
    printf "  same interval: redis-server CPU %.2f s\n", $c->{redis_cpu_s};
    my $cmd = $c->{redis_commands};
    printf "  redis %-12s %8d calls %8.2f us/call %7.3f s\n", $_, @{ $cmd->{$_} }{qw(calls usec_per_call seconds)}
        for sort { $cmd->{$b}{seconds} <=> $cmd->{$a}{seconds} } grep { $cmd->{$_}{seconds} >= 0.01 } keys %$cmd;
    my $st = $c->{stages};
    print '  consumer stages (s): ', join(', ', map { "$_ $st->{$_}" } sort { $st->{$b} <=> $st->{$a} } keys %$st), "\n"
        if %$st;
    if (my $p = $f->{parts}) {
        print "  parts alone:\n";
        my $r = $p->{redis_rounds_apply};
        printf "    redis rounds_apply.lua, %d new rounds per EVALSHA: %.0f rounds/s\n", $r->{events_per_call},
            $r->{events_per_s};
    }
}
