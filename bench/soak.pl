#!/usr/bin/env perl
# Soak: the local stack under steady mixed load for N minutes, sampled every 5 s.
#
#   bench/soak.pl                            # 10 minutes (DS_SOAK_MINUTES)
#   bench/soak.pl --quick                    # 1 minute
#   bench/soak.pl --minutes 30 --no-append
#
# Starts redis-server, nats-server (JetStream), nginx (shipped template: nchan on Redis, the
# module, authentication on) and one consumer through t/lib/DataStream/Stack.pm, then keeps
# running for the whole period:
#   - events: `datastream-feed demo --speed DS_SOAK_SPEED` (default 20: about 28 rounds/s over
#     the four reference games, at their realistic relative cadence);
#   - subscribers: DS_SOAK_WS WebSocket (default 20, token subprotocol) and DS_SOAK_SSE SSE
#     (default 20, ?api_key=) clients spread over the game and type channels, reconnecting
#     (and resuming, for SSE) whenever a connection ends;
#   - REST: one client polling /api/latest/:game and /api/history/:game?limit=50 with an
#     X-API-Key every DS_SOAK_POLL_MS (default 100) ms.
# DS_NCHAN_MESSAGE_TIMEOUT (default 1h, as shipped) sets how long nchan keeps each message;
# DS_SOAK_RENEW_S (default 0: never) makes every subscriber reconnect after that many seconds.
# Every 5 s it samples RSS and open descriptors of the nginx workers, the consumer,
# redis-server and nats-server, and error counts (nginx error log lines at error level and
# above, consumer log lines at warn and above, consumer sink errors and dead letters, client
# errors). It prints a table and a verdict: the least-squares slope of each series after a
# warm-up; a series "grows" when its fitted rise over the run exceeds both 5 % of its mean and
# an absolute floor (1 MiB RSS, 4 descriptors). The figures are added to bench/RESULTS.md
# in the "Soak" section (unless --no-append).
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use lib dirname(abs_path(__FILE__)) . '/../t/lib';
use Getopt::Long;
use HTTP::Tiny;
use IO::Select;
use POSIX qw(strftime WNOHANG);
use Time::HiRes qw(time sleep);
use DataStream::Stack;
use DataStream::Keys;
use DataStream::Client qw(http_request ws_connect sse_connect);

$SIG{PIPE} = 'IGNORE';
$| = 1;
my $minutes = $ENV{DS_SOAK_MINUTES} // 10;
my ($quick, $no_append);
GetOptions('quick' => \$quick, 'minutes=f' => \$minutes, 'no-append' => \$no_append)
    or die "usage: soak.pl [--quick] [--minutes N] [--no-append]\n";
$minutes = 1 if $quick;
my $SPEED   = $ENV{DS_SOAK_SPEED} // 20;
my $N_WS    = $ENV{DS_SOAK_WS} // 20;
my $N_SSE   = $ENV{DS_SOAK_SSE} // 20;
my $POLL_MS = $ENV{DS_SOAK_POLL_MS} // 100;
# passed on to conf/nginx/render.sh: a short timeout shows within one run whether nginx's memory
# levels off once nchan drops its oldest messages
my $MESSAGE_TIMEOUT = $ENV{DS_NCHAN_MESSAGE_TIMEOUT} // '1h';
# 0: subscribers stay connected for the whole run; else each one closes and reconnects (SSE
# resuming) after this many seconds, staggered: shows what a connection's lifetime holds
my $RENEW_S = $ENV{DS_SOAK_RENEW_S} // 0;
my $SAMPLE  = 5;
my $repo = DataStream::Stack::repo();
my @CHANNELS = (qw(crash double slot wall-street), map { "type/$_" } qw(multiplier color slots trending));

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $http = $stack->start_nginx(workers => $ENV{DS_SOAK_NGINX_WORKERS} // 1);
$stack->start_consumer(env => { LOG_LEVEL => 'info' });
my $key = $stack->api_key(kind => 'sk', rate_limit => 100000000);
my $dir = $stack->dir;
my $end = time + $minutes * 60;
printf "soak: %.1f min, feed speed %s, %d WS + %d SSE subscribers, REST poll every %d ms; logs in %s\n",
    $minutes, $SPEED, $N_WS, $N_SSE, $POLL_MS, $dir;

sub child {
    my ($code) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    eval { $code->(); 1 } or print STDERR "soak child: $@";
    POSIX::_exit(0);
}

sub write_counters {
    my ($file, $c) = @_;
    open my $fh, '>', "$file.tmp" or return;
    print $fh join(' ', map { "$_=$c->{$_}" } sort keys %$c), "\n";
    close $fh;
    rename "$file.tmp", $file;
}

sub read_counters {
    my ($file) = @_;
    open my $fh, '<', $file or return {};
    my $line = <$fh> // '';
    return { map { split /=/, $_, 2 } split ' ', $line };
}

# ---------------------------------------------------------------- load

my @children;
push @children, $stack->spawn(feed => { DS_FEED_SPEED => $SPEED },
    $stack->build . '/bin/datastream-feed', 'demo', '--url', $stack->nats_url('debezium'), '--state-file', "$dir/feed.state");
my $feed_pid = $stack->{procs}{feed};

# Channels of unknown games answer 404: subscribe once the feed's games are registered.
DataStream::Stack::wait_until('games registry', sub { $stack->redis_cli('HLEN', rkey('games')) >= 4 }, 60);

my $subs_file = "$dir/subscribers.counters";
push @children, child(sub {
    my %c = (ws_msgs => 0, sse_msgs => 0, reconnects => 0, renewals => 0, errors => 0);
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    my @conns;    # { kind, path, client, last_id }
    push @conns, { kind => 'ws', path => '/ws/' . $CHANNELS[ $_ % @CHANNELS ] } for 0 .. $N_WS - 1;
    push @conns, { kind => 'sse', path => '/sse/' . $CHANNELS[ $_ % @CHANNELS ] } for 0 .. $N_SSE - 1;
    my $connect = sub {
        my ($cn) = @_;
        delete $cn->{client};
        my $ok = eval {
            if ($cn->{kind} eq 'ws') {
                my $res = http_request(POST => "http://127.0.0.1:$http/api/auth/token", headers => { 'X-API-Key' => $key });
                my ($tok) = ($res->{content} // '') =~ /"token":"(tok_[^"]+)"/ or die "no token ($res->{status})\n";
                $cn->{client} = ws_connect($http, $cn->{path}, protocol => $tok);
            } else {
                my %h = defined $cn->{last_id} ? (headers => { 'Last-Event-ID' => $cn->{last_id} }) : ();
                my $s = sse_connect($http, "$cn->{path}?api_key=$key", %h);
                die "status " . ($s->status // 'none') . "\n" unless ($s->status // 0) == 200;
                $cn->{client} = $s;
            }
            1;
        };
        $c{errors}++ unless $ok;
        $cn->{since} = time if $ok;
        return $ok;
    };
    $connect->($_) for @conns;
    # staggered, so that renewals spread over the whole period
    $_->{since} -= rand $RENEW_S for @conns;
    my $last_write = 0;
    while (!$stop && time < $end + 5) {
        if ($RENEW_S) {
            for my $cn (grep { $_->{client} && time - $_->{since} >= $RENEW_S } @conns) {
                close $cn->{client}{sock};
                delete $cn->{client};
                $cn->{renew} = 1;
                $c{renewals}++;
            }
        }
        for my $cn (grep { !$_->{client} } @conns) { $c{reconnects}++ unless delete $cn->{renew}; $connect->($cn) }
        my %by_fd = map { (fileno($_->{client}{sock}) => $_) } grep { $_->{client} } @conns;
        my $sel = IO::Select->new(map { $_->{client}{sock} } values %by_fd);
        for my $sock ($sel->can_read(0.5)) {
            my $cn = $by_fd{ fileno $sock } or next;
            my $cl = $cn->{client};
            if ($cn->{kind} eq 'ws') {
                my $n = sysread($sock, my $buf, 65536);
                if (!$n) { close $sock; delete $cn->{client}; next }
                $cl->{frame}->append($buf);
                while (defined(my $m = $cl->{frame}->next_bytes)) {
                    my $op = $cl->{frame}->opcode;
                    if ($op == 8) { close $sock; delete $cn->{client}; last }
                    if ($op == 9) { $cl->send_frame($m, 'pong'); next }
                    next if $op == 10;
                    $c{ws_msgs}++;
                }
            } else {
                $cl->fill(time + 0.01);
                $cl->decode;
                while (my $ev = $cl->next_event(0)) {
                    $c{sse_msgs}++;
                    $cn->{last_id} = $ev->{id} if defined $ev->{id} && length $ev->{id};
                }
                if ($cl->{eof}) { close $sock; delete $cn->{client} }
            }
        }
        if (time - $last_write >= 1) { write_counters($subs_file, \%c); $last_write = time }
    }
    write_counters($subs_file, \%c);
});

my $rest_file = "$dir/rest.counters";
push @children, child(sub {
    my %c = (requests => 0, ok => 0, errors => 0);
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
    my @games = qw(crash double slot wall-street);
    my ($i, $last_write) = (0, 0);
    while (!$stop && time < $end + 5) {
        my $g = $games[ $i % @games ];
        my $path = $i++ % 2 ? "/api/history/$g?limit=50" : "/api/latest/$g";
        my $res = $ua->get("http://127.0.0.1:$http$path", { headers => { 'X-API-Key' => $key } });
        $c{requests}++;
        # 404 before a game's first round is an answer, not an error.
        if ($res->{status} == 200 || ($res->{status} == 404 && $path =~ /latest/)) { $c{ok}++ } else { $c{errors}++ }
        if (time - $last_write >= 1) { write_counters($rest_file, \%c); $last_write = time }
        sleep $POLL_MS / 1000;
    }
    write_counters($rest_file, \%c);
});

# ---------------------------------------------------------------- sampling

# (RSS, open descriptors, anonymous RSS, shared-memory RSS), in KiB: an nginx worker's RSS
# counts the pages of nchan's shared memory it touched (messages kept until
# nchan_message_timeout) as well as its own heap, which is where a leak would show.
sub proc_status {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return (0, 0, 0, 0);
    my %kib = map { /^(VmRSS|RssAnon|RssShmem):\s+(\d+)/ ? ($1 => $2) : () } <$fh>;
    my @mem = map { $kib{$_} // 0 } qw(VmRSS RssAnon RssShmem);
    opendir my $d, "/proc/$pid/fd" or return ($mem[0], 0, @mem[1, 2]);
    my $fds = grep { /^\d+$/ } readdir $d;
    return ($mem[0], $fds, @mem[1, 2]);
}

sub nginx_workers {
    open my $fh, '<', "$dir/nginx/nginx.pid" or return ();
    my $master = <$fh>;
    chomp $master;
    my @w;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/stat" or next;
        my $stat = <$st> // '';
        push @w, $pid if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $master;
    }
    return @w;
}

sub count_lines {
    my ($file, $re) = @_;
    open my $fh, '<', $file or return 0;
    my $n = 0;
    while (<$fh>) { $n++ if $_ =~ $re }
    return $n;
}

sub metric_sum {
    my ($re) = @_;
    my $res = HTTP::Tiny->new(timeout => 3)->get('http://127.0.0.1:' . $stack->port('consumer_metrics') . '/metrics');
    return undef unless $res->{success};
    my $sum = 0;
    $sum += $_ for $res->{content} =~ /^(?:$re)(?:\{[^}]*\})? (\S+)$/mg;
    return $sum;
}

my @series = qw(nginx_rss nginx_anon nginx_shm nginx_fds consumer_rss consumer_fds redis_rss redis_fds nats_rss nats_fds);
my @rows;
my $t0 = time;
printf "%6s %10s %6s %10s %6s %10s %6s %10s %6s %6s %6s %6s %6s %9s %7s\n",
    qw(t_s nginx_KiB fds cons_KiB fds redis_KiB fds nats_KiB fds err_ngx err_con sink dlq recv rest);
while (time < $end) {
    my $next = $t0 + (@rows + 1) * $SAMPLE;
    my $wait = $next - time;
    sleep $wait if $wait > 0;
    my %r = (t => time - $t0);
    my @w = nginx_workers();
    for my $pid (@w) {
        my ($rss, $fds, $anon, $shm) = proc_status($pid);
        $r{nginx_rss} += $rss;
        $r{nginx_fds} += $fds;
        $r{nginx_anon} += $anon;
        $r{nginx_shm} += $shm;
    }
    $r{$_} //= 0 for qw(nginx_rss nginx_anon nginx_shm);
    $r{nginx_fds} //= 0;
    @r{qw(consumer_rss consumer_fds)} = (proc_status($stack->{procs}{consumer}))[0, 1];
    @r{qw(redis_rss redis_fds)} = (proc_status($stack->{procs}{redis}))[0, 1];
    @r{qw(nats_rss nats_fds)} = (proc_status($stack->{procs}{nats}))[0, 1];
    $r{nginx_errors} = count_lines("$dir/nginx/error.log", qr/\[(?:error|crit|alert|emerg)\]/);
    $r{consumer_errors} = count_lines("$dir/consumer.log", qr/"level":"(?:warn|error)"/);
    $r{sink_errors} = metric_sum('datastream_sink_errors_total') // -1;
    $r{dead_letters} = metric_sum('datastream_dead_letters_total') // -1;
    my $s = read_counters($subs_file);
    my $rest = read_counters($rest_file);
    $r{received} = ($s->{ws_msgs} // 0) + ($s->{sse_msgs} // 0);
    $r{client_errors} = ($s->{errors} // 0) + ($rest->{errors} // 0);
    $r{reconnects} = $s->{reconnects} // 0;
    $r{rest} = $rest->{requests} // 0;
    $r{workers} = scalar @w;
    push @rows, \%r;
    printf "%6.0f %10d %6d %10d %6d %10d %6d %10d %6d %6d %6d %6d %6d %9d %7d\n",
        @r{qw(t nginx_rss nginx_fds consumer_rss consumer_fds redis_rss redis_fds nats_rss nats_fds
              nginx_errors consumer_errors sink_errors dead_letters received rest)};
}

kill 'TERM', $_ for grep { $_ != $feed_pid } @children;
waitpid $_, 0 for grep { $_ != $feed_pid } @children;
$stack->kill_proc('feed', 'TERM');
my $subs = read_counters($subs_file);
my $rest = read_counters($rest_file);
my $processed = metric_sum('datastream_messages_processed_total') // 0;

# ---------------------------------------------------------------- verdict

sub slope {    # least squares, per minute
    my ($xs, $ys) = @_;
    my $n = @$xs;
    return (0, 0) if $n < 3;
    my ($mx, $my) = (0, 0);
    $mx += $_ / $n for @$xs;
    $my += $_ / $n for @$ys;
    my ($sxy, $sxx) = (0, 0);
    for my $i (0 .. $n - 1) { $sxy += ($xs->[$i] - $mx) * ($ys->[$i] - $my); $sxx += ($xs->[$i] - $mx) ** 2 }
    return ($sxx ? $sxy / $sxx * 60 : 0, $my);
}
my $warm = $minutes >= 5 ? 60 : 15;
my @steady = grep { $_->{t} >= $warm } @rows;
@steady = @rows if @steady < 3;
# The trend is judged on the second half of the steady part: memory that fills up to a bound
# (nchan's messages until nchan_message_timeout, Redis and JetStream data) rises and then
# levels off, a leak keeps rising.
my @late = @steady[int(@steady / 2) .. $#steady];
my $span = @late ? ($late[-1]{t} - $late[0]{t}) / 60 : 0;
my (@verdict_rows, @growing);
for my $name (@series) {
    my ($per_min) = slope([ map { $_->{t} } @steady ], [ map { $_->{$name} } @steady ]);
    my ($late_per_min, $mean) = slope([ map { $_->{t} } @late ], [ map { $_->{$name} } @late ]);
    my $rise = $late_per_min * $span;
    my $floor = $name =~ /rss|anon|shm/ ? 1024 : 4;
    my $grows = $rise > $floor && $rise > 0.05 * $mean;
    # Redis and JetStream hold data that grows by design (per-round version hashes kept for
    # VERSION_TTL, histories up to HISTORY_MAX, nchan buffers up to their length, every event
    # in the stream), and so does nchan's shared memory until its message timeout; the nginx
    # total is their sum with the heap. Their growth is reported; the verdict is about the
    # processes' own memory (nginx_anon, consumer_rss) and descriptors.
    my $store = $name =~ /^(?:redis_rss|nats_rss|nginx_shm|nginx_rss)$/;
    push @growing, $name if $grows && !$store;
    push @verdict_rows, [ $name, $steady[0]{$name}, $steady[-1]{$name}, $mean, $per_min, $late_per_min,
        $grows ? ($store ? 'grows (stored data)' : 'grows') : 'flat' ];
}
my $first = $rows[0] // {};
my $last = $rows[-1] // {};
my %errors = (
    nginx_error_log   => ($last->{nginx_errors} // 0),
    consumer_warnings => ($last->{consumer_errors} // 0),
    sink_errors       => ($last->{sink_errors} // 0),
    dead_letters      => ($last->{dead_letters} // 0),
    client_errors     => ($last->{client_errors} // 0),
);
my $total_errors = 0;
$total_errors += $_ for values %errors;
my $verdict = (@growing ? 'GROWING: ' . join(', ', @growing) : 'stable (no process series grows)')
    . ($total_errors ? "; $total_errors errors" : '; no errors');

print "\nseries (steady part, after ${warm}s warm-up): start, end, mean, slope per minute, slope in its second half\n";
printf "  %-14s %10s %10s %10.0f %+10.1f/min %+10.1f/min  %s\n", @$_ for @verdict_rows;
printf "processed %d events; delivered %d WS + %d SSE messages, %d reconnects, %d renewals; REST %d requests (%d errors)\n",
    $processed, $subs->{ws_msgs} // 0, $subs->{sse_msgs} // 0, $subs->{reconnects} // 0, $subs->{renewals} // 0,
    $rest->{requests} // 0, $rest->{errors} // 0;
print "errors: ", join(', ', map { "$_ $errors{$_}" } sort keys %errors), "\n";
print "verdict: $verdict\n";

# ---------------------------------------------------------------- RESULTS.md

exit 0 if $no_append;
my $results = "$repo/bench/RESULTS.md";
my $load = do { open my $fh, '<', '/proc/loadavg'; (split ' ', <$fh> // '')[0] // '?' };
my $cpu = do { open my $fh, '<', '/proc/cpuinfo'; my ($m) = map { /^model name\s*:\s*(.*)/ ? $1 : () } <$fh>; $m // '?' };
my $cores = do { open my $fh, '<', '/proc/cpuinfo'; scalar grep { /^processor\s*:/ } <$fh> };
my $section = sprintf "### %s — soak, %s min%s\n\n", strftime('%Y-%m-%d %H:%M UTC', gmtime $t0), $minutes, $quick ? ' (--quick)' : '';
$section .= sprintf "CPU: %s, %d cores; load average (1 min) %s at end. Load: `datastream-feed demo --speed %s` "
    . "(%d events processed, %.1f/s), %d WS + %d SSE subscribers (%d messages delivered, %d reconnects%s), "
    . "REST polling every %d ms (%d requests). One consumer, %d nginx worker(s). Sampled every %d s; "
    . "slopes over the part after a %d s warm-up.\n\n",
    $cpu, $cores, $load, $SPEED, $processed, $processed / ($minutes * 60), $N_WS, $N_SSE,
    ($subs->{ws_msgs} // 0) + ($subs->{sse_msgs} // 0), $subs->{reconnects} // 0,
    $RENEW_S ? sprintf(', each reconnecting after %d s: %d renewals', $RENEW_S, $subs->{renewals} // 0) : '',
    $POLL_MS, $rest->{requests} // 0,
    $last->{workers} // 0, $SAMPLE, $warm;
$section .= "| series | start | end | mean | slope / min | slope / min, 2nd half | trend (2nd half) |\n|---|---|---|---|---|---|---|\n";
$section .= sprintf "| %s | %s | %s | %.0f | %+.1f | %+.1f | %s |\n", @$_ for @verdict_rows;
$section .= "\nRSS in KiB (nginx: all workers; nginx_anon its heap, nginx_shm the shared memory it touched), "
    . "fds = open descriptors. nchan_message_timeout $MESSAGE_TIMEOUT. Errors at the end: "
    . join(', ', map { "$_ $errors{$_}" } sort keys %errors) . ".\n\n**Verdict: $verdict.**\n\n";

open my $in, '<', $results or die "no $results\n";
my $text = do { local $/; <$in> };
close $in;
if ($text =~ /^## Soak\n/m) {
    # new run at the end of the Soak section (before the next "## " heading, or at the end)
    $text =~ s/(^## Soak\n.*?)(?=^## |\z)/my $soak = $1; $soak . ($soak =~ m{\n\n\z} ? '' : "\n") . $section/mse;
} else {
    my $intro = "## Soak\n\nMade by `bench/soak.pl` (see its header): the local stack under steady mixed load "
        . "for N minutes, RSS, descriptors and error counts sampled every 5 s, a least-squares trend per series.\n\n";
    if ($text =~ /^## Runs\n/m) { $text =~ s/^## Runs\n/$intro$section## Runs\n/m }
    else { $text .= "\n$intro$section" }
}
open my $out, '>', $results or die "cannot write $results\n";
print $out $text;
close $out;
print "appended to bench/RESULTS.md (Soak)\n";
