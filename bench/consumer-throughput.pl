#!/usr/bin/perl
# Consumer throughput: how fast datastream-consumer drains a backlog of round inserts, next to a
# do-nothing consumer (datastream-bench-noop: fetch + ack, same batch size) on the same backlog
# in the same run.
#
# Starts its own redis-server, nats-server -js and nginx + nchan on free loopback ports. The
# nchan publisher location has the shape of conf/nginx/nginx.conf.template (nchan_redis_pass to
# the read-model Redis, buffer 1000, JSON access log, one worker per core), which is how
# production runs; --nchan nostore is DS_NCHAN_REDIS_STORAGE_MODE=nostore (Redis only relays
# messages between instances, no resume from Redis), --nchan memory nchan's own memory storage
# as a reference.
#
# usage: perl bench/consumer-throughput.pl [--events N] [--batch B] [--nchan redis|nostore|memory]
#            [--parts] [--env NAME=VALUE]... [--json FILE]
#   --events N   backlog size (default 100000)
#   --batch B    BATCH_SIZE of the consumer and --batch of the baseline (default 256)
#   --parts      also measure the parts alone: nchan's publish rate with and without Redis
#                storage (datastream-bench-pub: pipelined POSTs, one and two connections) and
#                the consumer's batch script alone (redis-benchmark, BATCH_SIZE new rounds
#                per EVALSHA)
#   --env        extra consumer environment, repeatable
#   --json FILE  append the figures as one JSON line
# Binaries come from $DS_BUILD_DIR/bin (default build/bin): datastream-consumer,
# datastream-feed, datastream-bench-noop and datastream-bench-pub
# (make -C consumer; make -C tools/feed; make -C bench O=../build/bin).
use strict;
use warnings;
use File::Basename ();
use FindBin;
use lib "$FindBin::Bin/../t/consumer/lib", "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use ConsumerTest::Stack;
use DataStream::Keys;
use DataStream::ConsumerStages qw(stage_seconds);

my %opt = (events => 100000, batch => 256, nchan => 'redis', env => []);
GetOptions(\%opt, 'events=i', 'batch=i', 'nchan=s', 'parts', 'env=s@', 'json=s')
    or die "usage: $0 [--events N] [--batch B] [--nchan redis|nostore|memory] [--parts] [--env K=V]... [--json FILE]\n";
die "--nchan is redis, nostore or memory\n" unless $opt{nchan} =~ /^(redis|nostore|memory)$/;
my $n = $opt{events};
my %extra_env = map { /^([A-Z_][A-Z0-9_]*)=(.*)$/s ? ($1, $2) : die "bad --env $_\n" } @{ $opt{env} };

my $stack = ConsumerTest::Stack->new;
my $build = $ENV{DS_BUILD_DIR} || "$ConsumerTest::Stack::REPO/build";
my %bin = map { $_ => "$build/bin/datastream-$_" } qw(feed bench-noop bench-pub);
for (values %bin, $stack->{consumer_bin}) { die "missing $_ (see the usage above)\n" unless -x $_ }
my $nchan_so = $ENV{DS_NCHAN_MODULE} || '/usr/lib/nginx/modules/ngx_nchan_module.so';
my $ticks = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

$stack->start_redis;
$stack->start_nats;
start_publisher_nginx('nginx', $stack->port('nginx'), $opt{nchan});
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

my %fig = (events => $n, batch => $opt{batch}, nchan => $opt{nchan}, env => \%extra_env);

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
    my $nginx_cpu0 = nginx_worker_cpu('nginx');
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
    $c{nginx_cpu_s} = nginx_worker_cpu('nginx') - $nginx_cpu0;
    $stack->stop('consumer', 'TERM');
    $fig{consumer} = \%c;
}

$fig{parts} = measure_parts() if $opt{parts};
report(\%fig);
if ($opt{json}) {
    open my $fh, '>>', $opt{json} or die "$opt{json}: $!";
    print $fh JSON::PP->new->canonical->encode({ time => time, %fig }), "\n";
}
$stack->stop('nginx-memory', 'QUIT') if $stack->pid('nginx-memory');
$stack->stop('nginx', 'QUIT');
$stack->stop($_, 'TERM') for qw(nats redis);

# ------------------------------------------------------------------------------------------

# A consumer script as the consumer sends it: "-- include <file>" lines replaced by the file,
# as contract/embed_lua.sh does at build time.
sub lua_script {
    my ($path) = @_;
    my $dir = File::Basename::dirname($path);
    return join '', map { /^-- include (\S+)$/ ? slurp("$dir/$1") : $_ } split /^/, slurp($path);
}

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

# nginx with the publisher location of the shipped configuration.
sub start_publisher_nginx {
    my ($name, $port, $storage) = @_;
    my $d = $stack->dir . "/$name";
    mkdir $d;
    my $redis_port = $stack->port('redis');
    my $mode = $storage eq 'nostore' ? 'nchan_redis_storage_mode nostore;' : '';
    my $upstream = $storage ne 'memory'
        ? "upstream nchan_redis { nchan_redis_server redis://127.0.0.1:$redis_port; $mode }" : '';
    my $pass = $storage ne 'memory' ? 'nchan_redis_pass nchan_redis;' : '';
    open my $fh, '>', "$d/nginx.conf" or die;
    print $fh <<"CONF";
load_module $nchan_so;
master_process on;
daemon off;
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    tcp_nodelay on;
    keepalive_timeout 65s;
    log_format datastream_json escape=json
        '{"time":"\$time_iso8601","remote":"\$remote_addr","method":"\$request_method",'
        '"uri":"\$uri","status":\$status,"bytes":\$body_bytes_sent,'
        '"duration":\$request_time,"agent":"\$http_user_agent"}';
    access_log $d/access.log datastream_json;
    $upstream
    nchan_shared_memory_size 128M;
    server {
        listen 127.0.0.1:$port;
        location ~ "^/pub/([a-z0-9][a-z0-9_.,-]{0,200})\$" {
            nchan_publisher http;
            nchan_channel_id \$1;
            nchan_channel_id_split_delimiter ",";
            $pass
            nchan_message_buffer_length 1000;
            nchan_message_timeout 1h;
            client_max_body_size 1m;
            client_body_buffer_size 1m;
        }
    }
}
CONF
    close $fh;
    $stack->spawn($name => {}, 'nginx', '-p', $d, '-c', "$d/nginx.conf", '-e', "$d/error.log");
    ConsumerTest::Stack::wait_until($name, 10, sub { ConsumerTest::Stack::port_open($port) });
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

sub nginx_worker_cpu {
    my ($name) = @_;
    my $master = $stack->pid($name);
    my $cpu = 0;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my ($pid) = $stat =~ m{/proc/(\d+)/};
        my @f = split ' ', (slurp($stat) =~ s/^.*\)\s//sr);
        $cpu += proc_cpu($pid) if @f && $f[1] == $master;   # ppid
    }
    return $cpu;
}

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
    my $memory_port = ConsumerTest::Stack::free_port();
    start_publisher_nginx('nginx-memory', $memory_port, 'memory');
    my @cases = (['nchan_' . $opt{nchan}, $stack->port('nginx'), 'nginx']);
    push @cases, ['nchan_memory', $memory_port, 'nginx-memory'] if $opt{nchan} ne 'memory';
    my @games = qw(crash double slot wall-street);
    for my $case (@cases) {
        my ($key, $port, $name) = @$case;
        for my $publishers (1, 2) {
            my $count = int(($opt{events} < 20000 ? $opt{events} : 20000) / $publishers);
            my $cpu0 = nginx_worker_cpu($name);
            my $rcpu0 = redis_info()->{cpu};
            my $t0 = time;
            my @pids = map {
                spawn_to($stack->dir . "/pub-$key-$publishers-$_.out", $bin{'bench-pub'}, '--nchan',
                         "http://127.0.0.1:$port/pub", '--rate', 1000000, '--count', $count,
                         '--games', $games[$_ % @games])
            } 0 .. $publishers - 1;
            waitpid $_, 0 for @pids;
            my $secs = time - $t0;
            my $errors = 0;
            for (0 .. $publishers - 1) {
                my $r = eval { decode_json((grep { /^\{/ } split /\n/, slurp($stack->dir . "/pub-$key-$publishers-$_.out"))[-1]) } // {};
                $errors += ($r->{errors} // $count);
            }
            $p{$key}{"publishers_$publishers"} = {
                posts_per_s => sprintf('%.0f', $count * $publishers / $secs) + 0, errors => $errors,
                nginx_cpu_s => sprintf('%.2f', nginx_worker_cpu($name) - $cpu0) + 0,
                redis_cpu_s => sprintf('%.2f', redis_info()->{cpu} - $rcpu0) + 0,
                seconds => sprintf('%.2f', $secs) + 0 };
        }
    }
    # The consumer's batch script alone: BATCH_SIZE new rounds (random ids and LSNs) per call.
    my $src = lua_script("$ConsumerTest::Stack::REPO/consumer/src/lua/rounds_apply.lua");
    my $sha = $stack->redis('SCRIPT', 'LOAD', $src);
    my $round = q('{"round_id":1,"game_id":1,"game_slug":"crash","game_type":"multiplier","finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"1.50\"}","timestamp":1768621542123}');
    my @types = qw(multiplier color slots trending);
    my $events = join ' ', map { "c 1 __rand_int__ __rand_int__ $games[$_ % 4] $types[$_ % 4] $round" } 0 .. $opt{batch} - 1;
    my $calls = int(200000 / $opt{batch}) || 1;
    my $out = `redis-benchmark -p ${\ $stack->port('redis')} -c 1 -n $calls -r 100000000 -q EVALSHA $sha 0 bench: 1000 604800 bench-owner 30000 $events 2>&1`;
    my ($rps) = $out =~ /([\d.]+) requests per second/;
    $p{redis_rounds_apply} = { calls_per_s => ($rps // 0) + 0, events_per_call => $opt{batch},
                               events_per_s => sprintf('%.0f', ($rps // 0) * $opt{batch}) + 0 };
    return \%p;
}

sub report {
    my ($f) = @_;
    my ($c, $base) = ($f->{consumer}, $f->{noop});
    printf "\ndrain %d round inserts, BATCH_SIZE %d, nchan storage %s%s\n", $f->{events}, $f->{batch}, $f->{nchan},
        %{ $f->{env} } ? ' (' . join(' ', map { "$_=$f->{env}{$_}" } sort keys %{ $f->{env} }) . ')' : '';
    printf "  %-28s %10s %9s %12s %12s\n", '', 'events/s', 'seconds', 'RSS KiB', 'CPU s';
    printf "  %-28s %10.0f %9.2f %12s %12s\n", 'noop (fetch + ack)', $base->{events_per_s}, $base->{seconds},
        ($base->{rss_kb} // '?') . ' peak', '';
    printf "  %-28s %10.0f %9.2f %12s %12.2f\n", 'datastream-consumer', $c->{events_per_s}, $c->{seconds},
        "$c->{rss_kb}/$c->{peak_rss_kb}", $c->{cpu_s};
    printf "  consumer / noop: %.2fx the time\n", $c->{seconds} / $base->{seconds} if $base->{seconds};
    printf "  same interval: redis-server CPU %.2f s, nginx worker CPU %.2f s\n", $c->{redis_cpu_s}, $c->{nginx_cpu_s};
    my $cmd = $c->{redis_commands};
    printf "  redis %-12s %8d calls %8.2f us/call %7.3f s\n", $_, @{ $cmd->{$_} }{qw(calls usec_per_call seconds)}
        for sort { $cmd->{$b}{seconds} <=> $cmd->{$a}{seconds} } grep { $cmd->{$_}{seconds} >= 0.01 } keys %$cmd;
    my $st = $c->{stages};
    print '  consumer stages (s): ', join(', ', map { "$_ $st->{$_}" } sort { $st->{$b} <=> $st->{$a} } keys %$st), "\n"
        if %$st;
    if (my $p = $f->{parts}) {
        print "  parts alone:\n";
        for my $k (sort grep { /^nchan_/ } keys %$p) {
            for my $c (sort keys %{ $p->{$k} }) {
                my $r = $p->{$k}{$c};
                printf "    %-14s %-14s %8.0f POST/s (nginx CPU %.2f s, redis CPU %.2f s in %.2f s%s)\n", $k, $c,
                    $r->{posts_per_s}, $r->{nginx_cpu_s}, $r->{redis_cpu_s}, $r->{seconds},
                    $r->{errors} ? ", $r->{errors} errors" : '';
            }
        }
        my $r = $p->{redis_rounds_apply};
        printf "    redis rounds_apply.lua, %d new rounds per EVALSHA: %.0f rounds/s\n", $r->{events_per_call},
            $r->{events_per_s};
    }
}
