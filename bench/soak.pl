#!/usr/bin/env perl
# Soak: servers under steady load for N minutes, sampled every 5 s, each series judged by its
# trend and drawn over time (an SVG beside RESULTS.md).
#
#   bench/soak.pl                      # the local stack, 10 minutes (DS_SOAK_MINUTES)
#   bench/soak.pl --minutes 70         # the hour soak at the shipped settings
#   bench/soak.pl --quick              # 1 minute
#   bench/soak.pl --against-bare       # SSE memory: the shipped nginx and bare nchan side by side
#   ... --no-append                    # print only, leave RESULTS.md and bench/results alone
#
# The stack soak starts redis-server, nats-server (JetStream), nginx (the shipped template: nchan
# on Redis, the module, authentication on, SSE stream lifetime as shipped) and one consumer
# through t/lib/DataStream/Stack.pm, and for the whole period runs:
#   - events: `datastream-feed demo --speed DS_SOAK_SPEED` (default 20: about 28 rounds/s over
#     the four reference games, at their realistic relative cadence);
#   - subscribers: DS_SOAK_WS WebSocket (default 1000, token subprotocol) and DS_SOAK_SSE SSE
#     (default 1000, ?api_key=) connections of datastream-loadclient spread over the eight game
#     and type channels. An SSE stream the server ends (its lifetime) resumes at once with
#     Last-Event-ID, as EventSource does; any other end is an error, and the connection is opened
#     again. Every subscriber's rounds are checked against its channel: a round between its first
#     and its last that it never got is lost, one that came again or out of order repeated, a
#     round no subscriber of any channel got missed by all;
#   - REST: one client polling /api/latest/:game and /api/history/:game?limit=50 with an
#     X-API-Key every DS_SOAK_POLL_MS (default 100) ms.
# DS_NCHAN_MESSAGE_TIMEOUT (default 1h) and DS_SSE_LIFETIME (default 10m), both as shipped, go
# to conf/nginx/render.sh. Every 5 s it samples RSS and open descriptors of the nginx workers,
# the consumer, redis-server and nats-server, error counts (nginx error log lines at error level
# and above, consumer log lines at warn and above, consumer sink errors and dead letters, client
# errors) and the subscribers' counts.
#
# --against-bare: Redis, the shipped nginx (SSE lifetime off) and the bare nchan nginx of
# bench/conf/nginx-bare.conf.template with nchan's storage on the same Redis, so that the module
# is the only difference; DS_SOAK_SSE (default 200) SSE subscribers on each. What is published
# through either reaches both through Redis. DS_SOAK_SOURCE=pipeline (default): NATS, one
# consumer and the demo feed as above, subscribers over the four game channels (the consumer's
# own messages); DS_SOAK_SOURCE=publisher: datastream-bench-pub publishing DS_SOAK_RATE (default
# 25) rounds/s, one per message, to /sse/crash. Sampled every 5 s: each worker's heap (anonymous
# RSS) per open connection over its own figure before the subscribers came, against the events
# each connection received.
#
# The verdict: the least-squares slope of each series after a warm-up, judged on the second
# half; a series "grows" when its fitted rise over that half exceeds both 5 % of its mean and an
# absolute floor (1 MiB RSS, 4 descriptors). Figures and plot go to bench/RESULTS.md ("Soak").
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use lib dirname(abs_path(__FILE__)) . '/../t/lib', dirname(abs_path(__FILE__)) . '/lib';
use File::Path qw(make_path);
use Getopt::Long;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use DataStream::BenchConf;
use DataStream::Stack;
use DataStream::Keys;

$SIG{PIPE} = 'IGNORE';
$| = 1;
my $minutes = $ENV{DS_SOAK_MINUTES} // 10;
my ($quick, $no_append, $against_bare);
GetOptions('quick' => \$quick, 'minutes=f' => \$minutes, 'no-append' => \$no_append,
           'against-bare' => \$against_bare)
    or die "usage: soak.pl [--quick] [--minutes N] [--against-bare] [--no-append]\n";
$minutes = 1 if $quick;
my $SPEED   = $ENV{DS_SOAK_SPEED} // 20;
my $N_WS    = $against_bare ? 0 : $ENV{DS_SOAK_WS} // 1000;
my $N_SSE   = $ENV{DS_SOAK_SSE} // ($against_bare ? 200 : 1000);
my $RATE    = $ENV{DS_SOAK_RATE} // 25;
my $SOURCE  = $ENV{DS_SOAK_SOURCE} // 'pipeline';
my $POLL_MS = $ENV{DS_SOAK_POLL_MS} // 100;
my $MESSAGE_TIMEOUT = $ENV{DS_NCHAN_MESSAGE_TIMEOUT} // '1h';
my $SSE_LIFETIME = $against_bare ? '0' : $ENV{DS_SSE_LIFETIME} // '10m';
my $RAMP    = 500;    # connections per second, as a client population arrives
my $SAMPLE  = 5;
my $repo = DataStream::Stack::repo();
my @CHANNELS = (qw(crash double slot wall-street), map { "type/$_" } qw(multiplier color slots trending));
my $JSON = JSON::PP->new->canonical;

my $stack = DataStream::Stack->new;
my $dir = $stack->dir;
# Interrupted, the stack still stops every server it started (its destructor runs on exit).
$SIG{INT} = $SIG{TERM} = sub { exit 130 };
my $t_start = time;
my $end = $t_start + $minutes * 60;

sub slurp_json {
    my ($file) = @_;
    open my $fh, '<', $file or return {};
    my $line = <$fh> // '';
    return eval { $JSON->decode($line) } // {};
}

sub write_counters {
    my ($file, $c) = @_;
    open my $fh, '>', "$file.tmp" or return;
    print $fh $JSON->encode($c), "\n";
    close $fh;
    rename "$file.tmp", $file;
}

# (RSS, open descriptors, anonymous RSS, shared-memory RSS), in KiB: an nginx worker's RSS
# counts the pages of nchan's shared memory it touched (messages kept until
# nchan_message_timeout) as well as its own heap, which is where a leak would show.
sub proc_status {
    my ($pid) = @_;
    return (0, 0, 0, 0) unless $pid;
    open my $fh, '<', "/proc/$pid/status" or return (0, 0, 0, 0);
    my %kib = map { /^(VmRSS|RssAnon|RssShmem):\s+(\d+)/ ? ($1 => $2) : () } <$fh>;
    my @mem = map { $kib{$_} // 0 } qw(VmRSS RssAnon RssShmem);
    opendir my $d, "/proc/$pid/fd" or return ($mem[0], 0, @mem[1, 2]);
    my $fds = grep { /^\d+$/ } readdir $d;
    return ($mem[0], $fds, @mem[1, 2]);
}

sub nginx_workers {
    my ($run) = @_;
    open my $fh, '<', "$run/nginx.pid" or return ();
    my $master = <$fh> // '';
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

# Summed over the workers of the nginx in $run: rss, anon, shm, fds (KiB, count).
sub nginx_sample {
    my ($run) = @_;
    my %s = (rss => 0, anon => 0, shm => 0, fds => 0, workers => 0);
    for my $pid (nginx_workers($run)) {
        my ($rss, $fds, $anon, $shm) = proc_status($pid);
        $s{rss} += $rss; $s{fds} += $fds; $s{anon} += $anon; $s{shm} += $shm; $s{workers}++;
    }
    return \%s;
}

# datastream-loadclient holding $n subscribers round-robin over @paths for the whole run,
# opening again whatever ends; its counts in $name.stats.
sub start_subscribers {
    my ($name, $port, $n, $paths, @extra) = @_;
    return undef unless $n;
    my $stats = "$dir/$name.stats";
    $stack->spawn($name => {}, $stack->build . '/bin/datastream-loadclient', '--port', $port,
        '-c', $n, '--ramp', $RAMP, '--duration', $minutes * 60 + 5, '--max-time', $minutes * 60 + $n / $RAMP + 30,
        '--renew', '--stats-file', $stats, (map { ('--path', $_) } @$paths), @extra);
    return $stats;
}

sub stop_subscribers { $stack->kill_proc($_, 'TERM') for @_ }

sub slope {    # least squares: (slope per x unit, mean of y)
    my ($xs, $ys) = @_;
    my $n = @$xs;
    return (0, 0) if $n < 3;
    my ($mx, $my) = (0, 0);
    $mx += $_ / $n for @$xs;
    $my += $_ / $n for @$ys;
    my ($sxy, $sxx) = (0, 0);
    for my $i (0 .. $n - 1) { $sxy += ($xs->[$i] - $mx) * ($ys->[$i] - $my); $sxx += ($xs->[$i] - $mx) ** 2 }
    return ($sxx ? $sxy / $sxx : 0, $my);
}

sub esc { my $t = shift; $t =~ s/&/&amp;/g; $t =~ s/</&lt;/g; $t }

# One panel per series (value over minutes), self-contained SVG. $panels: [[title, [[label, [[t, v], ...]], ...]], ...]
sub svg_panels {
    my ($title, $panels) = @_;
    my ($PW, $PH, $cols) = (380, 210, 2);
    my ($L, $R, $T, $B) = (64, 12, 28, 30);
    my $rows = int((@$panels + $cols - 1) / $cols);
    my ($W, $H) = ($cols * $PW, 30 + $rows * $PH);
    my @colors = ('#1f77b4', '#d62728', '#2ca02c', '#ff7f0e');
    my $s = qq{<svg xmlns="http://www.w3.org/2000/svg" width="$W" height="$H" font-family="sans-serif" font-size="11">\n}
        . qq{<rect width="$W" height="$H" fill="white"/>\n<text x="10" y="20" font-size="14">} . esc($title) . "</text>\n";
    for my $i (0 .. $#$panels) {
        my ($ptitle, $lines) = @{ $panels->[$i] };
        my ($ox, $oy) = (($i % $cols) * $PW, 30 + int($i / $cols) * $PH);
        my @pts = map { @{ $_->[1] } } @$lines;
        next unless @pts;
        my ($x0, $x1) = (0, (sort { $b <=> $a } map { $_->[0] } @pts)[0] || 1);
        my ($y0, $y1) = ((sort { $a <=> $b } map { $_->[1] } @pts)[0], (sort { $b <=> $a } map { $_->[1] } @pts)[0]);
        $y0 = 0 if $y0 > 0;
        $y1 = $y0 + 1 if $y1 <= $y0;
        my $px = sub { $ox + $L + ($_[0] - $x0) / ($x1 - $x0) * ($PW - $L - $R) };
        my $py = sub { $oy + $PH - $B - ($_[0] - $y0) / ($y1 - $y0) * ($PH - $T - $B) };
        $s .= sprintf qq{<text x="%d" y="%d" font-size="12">%s</text>\n}, $ox + $L, $oy + 16, esc($ptitle);
        for my $k (0 .. 4) {
            my $v = $y0 + ($y1 - $y0) * $k / 4;
            my $y = $py->($v);
            $s .= sprintf qq{<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e4e4e4"/><text x="%d" y="%.1f" text-anchor="end">%s</text>\n},
                $ox + $L, $y, $ox + $PW - $R, $y, $ox + $L - 4, $y + 4, $v >= 100 ? sprintf('%.0f', $v) : sprintf('%.3g', $v);
            my $t = $x0 + ($x1 - $x0) * $k / 4;
            $s .= sprintf qq{<text x="%.1f" y="%d" text-anchor="middle">%.3g</text>\n}, $px->($t), $oy + $PH - $B + 14, $t;
        }
        $s .= sprintf qq{<text x="%d" y="%d" text-anchor="middle">minutes</text>\n}, $ox + ($L + $PW - $R) / 2, $oy + $PH - 4;
        for my $j (0 .. $#$lines) {
            my ($label, $series) = @{ $lines->[$j] };
            my $col = $colors[ $j % @colors ];
            $s .= sprintf qq{<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>\n}, $col,
                join ' ', map { sprintf '%.1f,%.1f', $px->($_->[0]), $py->($_->[1]) } @$series;
            next unless @$lines > 1;
            $s .= sprintf qq{<text x="%d" y="%d" fill="%s" text-anchor="end">%s</text>\n},
                $ox + $PW - $R, $oy + 16 + 13 * $j, $col, esc($label);
        }
    }
    return $s . "</svg>\n";
}

# Appends $section to RESULTS.md's "Soak" section and writes the SVG beside it.
sub append_results {
    my ($section, $svg_name, $svg) = @_;
    my $results = "$repo/bench/RESULTS.md";
    make_path("$repo/bench/results");
    open my $sf, '>', "$repo/bench/results/$svg_name" or die "bench/results/$svg_name: $!";
    print $sf $svg;
    close $sf or die "bench/results/$svg_name: $!";
    open my $in, '<', $results or die "no $results\n";
    my $text = do { local $/; <$in> };
    close $in;
    if ($text =~ /^## Soak\n/m) {
        # the new run at the end of the Soak section (before the next "## " heading, or at the end)
        $text =~ s/(^## Soak\n.*?)(?=^## |\z)/my $soak = $1; $soak . ($soak =~ m{\n\n\z} ? '' : "\n") . $section/mse;
    } else {
        my $intro = "## Soak\n\nMade by `bench/soak.pl` (see its header): servers under steady load for N minutes, "
            . "sampled every 5 s, a least-squares trend per series and a plot of each.\n\n";
        if ($text =~ /^## Runs\n/m) { $text =~ s/^## Runs\n/$intro$section## Runs\n/m }
        else { $text .= "\n$intro$section" }
    }
    open my $out, '>', $results or die "cannot write $results\n";
    print $out $text;
    close $out;
    print "appended to bench/RESULTS.md (Soak), plot bench/results/$svg_name\n";
}

sub machine_line {
    my $load = do { open my $fh, '<', '/proc/loadavg'; (split ' ', <$fh> // '')[0] // '?' };
    my ($cpu, $cores) = do {
        open my $fh, '<', '/proc/cpuinfo';
        my @l = <$fh>;
        ((map { /^model name\s*:\s*(.*)/ ? $1 : () } @l)[0] // '?', scalar grep { /^processor\s*:/ } @l);
    };
    return "CPU: $cpu, $cores cores; load average (1 min) $load at end.";
}

# The run's date, its plot's file name ($kind-<date>.svg) and a function giving a sampled series
# as [minutes, value] points.
sub plot_names {
    my ($kind, $rows) = @_;
    my $stamp = strftime('%Y-%m-%d %H:%M UTC', gmtime $t_start);
    my $file_stamp = strftime('%Y%m%d%H%M', gmtime $t_start);
    return ($stamp, "$kind-$file_stamp.svg", sub { my ($k) = @_; [map { [$_->{t} / 60, $_->{$k}] } @$rows] });
}

# Waits for the next sample time; the sample's t (seconds since the start).
sub next_sample {
    my ($n) = @_;
    my $wait = $t_start + $n * $SAMPLE - time;
    sleep $wait if $wait > 0;
    return time - $t_start;
}

if ($against_bare) { against_bare() } else { stack_soak() }
exit 0;

# ---------------------------------------------------------------- the stack soak

sub stack_soak {
    $stack->start_redis;
    $stack->start_nats;
    my $http = $stack->start_nginx(workers => $ENV{DS_SOAK_NGINX_WORKERS} // 1,
        env => { DS_NCHAN_MESSAGE_TIMEOUT => $MESSAGE_TIMEOUT, DS_SSE_LIFETIME => $SSE_LIFETIME });
    $stack->start_consumer(env => { LOG_LEVEL => 'info' });
    my $key = $stack->api_key(kind => 'sk', rate_limit => 100000000);
    printf "soak: %.1f min, feed speed %s, %d WS + %d SSE subscribers, REST poll every %d ms, "
        . "message timeout %s, SSE lifetime %s; logs in %s\n",
        $minutes, $SPEED, $N_WS, $N_SSE, $POLL_MS, $MESSAGE_TIMEOUT, $SSE_LIFETIME, $dir;

    $stack->spawn(feed => { DS_FEED_SPEED => $SPEED }, $stack->build . '/bin/datastream-feed', 'demo',
        '--url', $stack->nats_url('debezium'), '--state-file', "$dir/feed.state");
    # Channels of unknown games answer 404: subscribe once the feed's games are registered.
    DataStream::Stack::wait_until('games registry', sub { $stack->redis_cli('HLEN', rkey('games')) >= 4 }, 60);

    # One token for every WebSocket handshake of the ramp: WebSocket streams are never ended by
    # the server, so a reopening (an error already) finding it expired is one more error.
    my $res = HTTP::Tiny->new(timeout => 5)->post("http://127.0.0.1:$http/api/auth/token", { headers => { 'X-API-Key' => $key } });
    my ($token) = ($res->{content} // '') =~ /"token":"(tok_[^"]+)"/ or die "no token ($res->{status})\n";
    my %stats = (
        ws  => start_subscribers('subscribers-ws', $http, $N_WS, [map { "ws:/ws/$_" } @CHANNELS], '--account', '--protocol', $token),
        sse => start_subscribers('subscribers-sse', $http, $N_SSE, [map { "sse:/sse/$_?api_key=$key" } @CHANNELS], '--account'),
    );
    my $rest_file = "$dir/rest.counters";
    my $rest_pid = fork // die "fork: $!";
    if (!$rest_pid) {
        my %c = (requests => 0, ok => 0, errors => 0);
        my $stop = 0;
        local $SIG{TERM} = sub { $stop = 1 };
        my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
        my @games = qw(crash double slot wall-street);
        my ($i, $last_write) = (0, 0);
        while (!$stop && time < $end + 5) {
            my $g = $games[ $i % @games ];
            my $path = $i++ % 2 ? "/api/history/$g?limit=50" : "/api/latest/$g";
            my $r = $ua->get("http://127.0.0.1:$http$path", { headers => { 'X-API-Key' => $key } });
            $c{requests}++;
            # 404 before a game's first round is an answer, not an error.
            if ($r->{status} == 200 || ($r->{status} == 404 && $path =~ /latest/)) { $c{ok}++ } else { $c{errors}++ }
            if (time - $last_write >= 1) { write_counters($rest_file, \%c); $last_write = time }
            sleep $POLL_MS / 1000;
        }
        write_counters($rest_file, \%c);
        POSIX::_exit(0);
    }

    my $count_lines = sub {
        my ($file, $re) = @_;
        open my $fh, '<', $file or return 0;
        my $n = 0;
        while (<$fh>) { $n++ if $_ =~ $re }
        return $n;
    };
    my $metric_sum = sub {
        my ($re) = @_;
        my $r = HTTP::Tiny->new(timeout => 3)->get('http://127.0.0.1:' . $stack->port('consumer_metrics') . '/metrics');
        return -1 unless $r->{success};
        my $sum = 0;
        $sum += $_ for $r->{content} =~ /^(?:$re)(?:\{[^}]*\})? (\S+)$/mg;
        return $sum;
    };
    my @rows;
    printf "%6s %9s %9s %6s %9s %9s %9s %6s %6s %6s %6s %6s %10s %6s %5s %5s %7s\n",
        qw(t_s ngx_anon ngx_shm fds cons_KiB redis_KiB nats_KiB open err_ngx err_con sink dlq delivered renew lost rep rest);
    while (time < $end) {
        my %r = (t => next_sample(@rows + 1));
        my $n = nginx_sample("$dir/nginx");
        @r{qw(nginx_rss nginx_anon nginx_shm nginx_fds workers)} = @$n{qw(rss anon shm fds workers)};
        @r{qw(consumer_rss consumer_fds)} = (proc_status($stack->{procs}{consumer}))[0, 1];
        @r{qw(redis_rss redis_fds)} = (proc_status($stack->{procs}{redis}))[0, 1];
        @r{qw(nats_rss nats_fds)} = (proc_status($stack->{procs}{nats}))[0, 1];
        $r{nginx_errors} = $count_lines->("$dir/nginx/error.log", qr/\[(?:error|crit|alert|emerg)\]/);
        $r{consumer_errors} = $count_lines->("$dir/consumer.log", qr/"level":"(?:warn|error)"/);
        $r{sink_errors} = $metric_sum->('datastream_sink_errors_total');
        $r{dead_letters} = $metric_sum->('datastream_dead_letters_total');
        $r{processed} = $metric_sum->('datastream_messages_processed_total');
        for my $kind (qw(ws sse)) {
            my $s = $stats{$kind} ? slurp_json($stats{$kind}) : {};
            $r{"${kind}_$_"} = $s->{$_} // 0
                for qw(open deliveries renewals reopened connect_failures handshake_failures closed_early lost repeated missed_by_all);
        }
        my $rest = slurp_json($rest_file);
        $r{rest} = $rest->{requests} // 0;
        $r{rest_errors} = $rest->{errors} // 0;
        $r{$_} = $r{"ws_$_"} + $r{"sse_$_"} for qw(open deliveries renewals lost repeated missed_by_all);
        $r{subscriber_errors} = 0;
        $r{subscriber_errors} += $r{"${_}_connect_failures"} + $r{"${_}_handshake_failures"} + $r{"${_}_closed_early"} for qw(ws sse);
        push @rows, \%r;
        printf "%6.0f %9d %9d %6d %9d %9d %9d %6d %6d %6d %6d %6d %10d %6d %5d %5d %7d\n",
            @r{qw(t nginx_anon nginx_shm nginx_fds consumer_rss redis_rss nats_rss open nginx_errors consumer_errors
                  sink_errors dead_letters deliveries renewals lost repeated rest)};
    }
    kill 'TERM', $rest_pid;
    waitpid $rest_pid, 0;
    # The final counts: every subscriber checked up to its last round.
    stop_subscribers(qw(subscribers-ws subscribers-sse));
    my %final;
    for my $kind (grep { $stats{$_} } qw(ws sse)) {
        my $s = slurp_json($stats{$kind});
        $final{$kind} = $s;
    }
    $stack->kill_proc('feed', 'TERM');
    my $last = $rows[-1] // {};
    my $sum = sub { my ($k) = @_; my $t = 0; $t += $_->{$k} // 0 for values %final; $t };
    my %errors = (
        nginx_error_log   => $last->{nginx_errors} // 0,
        consumer_warnings => $last->{consumer_errors} // 0,
        sink_errors       => $last->{sink_errors} // 0,
        dead_letters      => $last->{dead_letters} // 0,
        subscriber_errors => $sum->('connect_failures') + $sum->('handshake_failures') + $sum->('closed_early'),
        lost_rounds       => $sum->('lost'),
        repeated_rounds   => $sum->('repeated'),
        missed_by_all     => $sum->('missed_by_all'),
        rest_errors       => $last->{rest_errors} // 0,
    );

    # Redis and JetStream hold data that grows by design (per-round version hashes kept for
    # VERSION_TTL, histories up to HISTORY_MAX, nchan buffers up to their length, every event in
    # the stream), and so does nchan's shared memory until its message timeout; the nginx total is
    # their sum with the heap. Their growth is reported; the verdict is about the processes' own
    # memory (nginx_anon, consumer_rss) and descriptors.
    my @series = (
        [nginx_anon => 'nginx heap (anonymous RSS), KiB'], [nginx_shm => 'nginx shared memory touched, KiB', 'store'],
        [nginx_rss => 'nginx RSS, KiB', 'store'], [nginx_fds => 'nginx descriptors'],
        [consumer_rss => 'consumer RSS, KiB'], [consumer_fds => 'consumer descriptors'],
        [redis_rss => 'Redis RSS, KiB', 'store'], [redis_fds => 'Redis descriptors'],
        [nats_rss => 'nats-server RSS, KiB', 'store'], [nats_fds => 'nats-server descriptors'],
    );
    my ($verdict_rows, $growing, $warm) = judge(\@rows, \@series);
    my $total_errors = 0;
    $total_errors += $_ for values %errors;
    my $verdict = (@$growing ? 'GROWING: ' . join(', ', @$growing) : 'stable (no process series grows)')
        . ($total_errors ? "; $total_errors errors" : '; no errors');
    my $processed = $last->{processed} // 0;
    my $deliveries = $sum->('deliveries');
    my $renewals = $sum->('renewals');

    print "\nseries (steady part, after ${warm}s warm-up): start, end, mean, slope per minute, slope in its second half\n";
    printf "  %-14s %10s %10s %10.0f %+10.1f/min %+10.1f/min  %s\n", @$_ for @$verdict_rows;
    printf "processed %d events; %d deliveries to %d WS + %d SSE subscribers, %d SSE streams ended by their lifetime "
        . "and resumed; REST %d requests\n", $processed, $deliveries, $N_WS, $N_SSE, $renewals, $last->{rest} // 0;
    print "errors: ", join(', ', map { "$_ $errors{$_}" } sort keys %errors), "\n";
    print "verdict: $verdict\n";
    return if $no_append;

    my ($stamp, $svg_name, $by_min) = plot_names('soak', \@rows);
    my @panels = (
        (map { [$_->[1], [[$_->[0], $by_min->($_->[0])]]] } @series),
        ['subscribers open', [['WS', $by_min->('ws_open')], ['SSE', $by_min->('sse_open')]]],
        ['SSE streams ended by their lifetime and resumed', [['renewals', $by_min->('renewals')]]],
        ['rounds lost / repeated / missed by all (subscribers)', [['lost', $by_min->('lost')], ['repeated', $by_min->('repeated')],
                                                              ['missed by all', $by_min->('missed_by_all')]]],
        ['errors: nginx log, consumer log, subscribers', [['nginx', $by_min->('nginx_errors')], ['consumer', $by_min->('consumer_errors')],
                                                         ['subscribers', $by_min->('subscriber_errors')]]],
    );
    my $svg = svg_panels("Data Stream soak $stamp: $minutes min, $N_WS WS + $N_SSE SSE subscribers", \@panels);
    my $section = sprintf "### %s — soak, %s min%s\n\n", $stamp, $minutes, $quick ? ' (--quick)' : '';
    $section .= sprintf "%s Load: `datastream-feed demo --speed %s` (%d events processed, %.1f/s), "
        . "%d WebSocket + %d SSE subscribers over the eight channels (%d deliveries; %d SSE streams ended by their "
        . "lifetime and resumed with Last-Event-ID), REST polling every %d ms (%d requests). One consumer, %d nginx "
        . "worker(s); `nchan_message_timeout` %s, `datastream_sse_lifetime` %s. Sampled every %d s; slopes over the part "
        . "after a %d s warm-up.\n\n",
        machine_line(), $SPEED, $processed, $processed / ($minutes * 60), $N_WS, $N_SSE, $deliveries, $renewals,
        $POLL_MS, $last->{rest} // 0, $last->{workers} // 0, $MESSAGE_TIMEOUT, $SSE_LIFETIME, $SAMPLE, $warm;
    $section .= "| series | start | end | mean | slope / min | slope / min, 2nd half | trend (2nd half) |\n|---|---|---|---|---|---|---|\n";
    $section .= sprintf "| %s | %s | %s | %.0f | %+.1f | %+.1f | %s |\n", @$_ for @$verdict_rows;
    $section .= "\nRSS in KiB (nginx: all workers; nginx_anon its heap, nginx_shm the shared memory it touched), "
        . "fds = open descriptors. Errors at the end: " . join(', ', map { "$_ $errors{$_}" } sort keys %errors)
        . ".\n\n**Verdict: $verdict.**\n\n![every series of this soak over time](results/$svg_name)\n\n";
    append_results($section, $svg_name, $svg);
}

# Trend of each [key, title, store?] of @$series over the rows after a warm-up:
# ([[key, start, end, mean, slope/min, slope/min in the 2nd half, trend]], [growing keys], warm-up s).
sub judge {
    my ($rows, $series) = @_;
    my $warm = $minutes >= 5 ? 60 : 15;
    my @steady = grep { $_->{t} >= $warm } @$rows;
    @steady = @$rows if @steady < 3;
    # Judged on the second half of the steady part: memory that fills up to a bound (nchan's
    # messages until nchan_message_timeout, Redis and JetStream data) rises and then levels off,
    # a leak keeps rising.
    my @late = @steady[int(@steady / 2) .. $#steady];
    my $span = @late ? ($late[-1]{t} - $late[0]{t}) / 60 : 0;
    my (@verdict_rows, @growing);
    for my $s (@$series) {
        my ($name, undef, $store) = @$s;
        my ($per_s) = slope([map { $_->{t} } @steady], [map { $_->{$name} } @steady]);
        my ($late_per_s, $mean) = slope([map { $_->{t} } @late], [map { $_->{$name} } @late]);
        my $rise = $late_per_s * 60 * $span;
        my $floor = $name =~ /rss|anon|shm/ ? 1024 : 4;
        my $grows = $rise > $floor && $rise > 0.05 * $mean;
        push @growing, $name if $grows && !$store;
        push @verdict_rows, [$name, $steady[0]{$name} // 0, $steady[-1]{$name} // 0, $mean, $per_s * 60, $late_per_s * 60,
            $grows ? ($store ? 'grows (stored data)' : 'grows') : 'flat'];
    }
    return (\@verdict_rows, \@growing, $warm);
}

# ---------------------------------------------------------------- SSE memory against bare nchan

sub against_bare {
    $stack->start_redis;
    my $http = $stack->start_nginx(workers => 1,
        env => { DS_NCHAN_MESSAGE_TIMEOUT => $MESSAGE_TIMEOUT, DS_SSE_LIFETIME => $SSE_LIFETIME });
    my $bare = DataStream::BenchConf::start_bare_nginx($stack, 'bare', redis => 1);
    my $key = $stack->api_key(kind => 'sk', rate_limit => 100000000);
    my @games = $SOURCE eq 'pipeline' ? qw(crash double slot wall-street) : qw(crash);
    # The SSE output of bare nchan is one event per message, of the module one per round: only
    # the module's rounds are accounted.
    my %srv = (
        module => { run => "$dir/nginx", http => $http, paths => [map { "sse:/sse/$_?api_key=$key" } @games], account => 1 },
        bare   => { run => $bare->{run}, http => $bare->{http}, paths => [map { "sse:/sse/$_" } @games] },
    );
    my $source;
    # Both keep nchan's storage on the same Redis: what is published through one reaches the
    # subscribers of both, the same messages at the same time.
    if ($SOURCE eq 'pipeline') {
        $stack->start_nats;
        $stack->start_consumer(env => { LOG_LEVEL => 'info' });
        $stack->spawn(feed => { DS_FEED_SPEED => $SPEED }, $stack->build . '/bin/datastream-feed', 'demo',
            '--url', $stack->nats_url('debezium'), '--state-file', "$dir/feed.state");
        DataStream::Stack::wait_until('games registry', sub { $stack->redis_cli('HLEN', rkey('games')) >= 4 }, 60);
        $source = "`datastream-feed demo --speed $SPEED` through JetStream and the consumer (its messages, "
            . "published through the shipped nginx's publisher endpoint)";
    } else {
        # The module admits subscribers of known games only.
        $stack->redis_cli('HSET', rkey('games'), 'crash', '{"id":1,"slug":"crash","name":"Crash","type":"multiplier"}');
        $stack->redis_cli('HSET', rkey('game_ids'), 1, 'crash');
        $source = "$RATE rounds/s of `datastream-bench-pub` (one round per message) through bare nchan's publisher endpoint";
    }
    printf "SSE memory against bare nchan: %.1f min, %d SSE subscribers of %s on each, source: %s; logs in %s\n",
        $minutes, $N_SSE, join(', ', map { "/sse/$_" } @games), $source, $dir;
    sleep 1;
    my %idle = map { ($_ => nginx_sample($srv{$_}{run})) } keys %srv;
    for my $name (sort keys %srv) {
        $srv{$name}{stats} = start_subscribers("subscribers-$name", $srv{$name}{http}, $N_SSE, $srv{$name}{paths},
                                               $srv{$name}{account} ? '--account' : ());
    }
    DataStream::Stack::wait_until('subscribers', sub {
        !grep { (slurp_json($srv{$_}{stats})->{open} // 0) < $N_SSE } keys %srv }, 60);
    if ($SOURCE ne 'pipeline') {
        $stack->spawn(publisher => {}, $stack->build . '/bin/datastream-bench-pub', '--rate', $RATE,
            '--count', int($RATE * ($end - time)) + 1, '--games', 'crash', '--start-id', 1,
            '--nchan', "http://127.0.0.1:$bare->{pub}/pub");
    }
    my @rows;
    printf "%6s %12s %12s %12s %12s %8s %8s\n", qw(t_s bare_B/conn module_B/conn bare_ev/conn module_ev/conn bare_open module_open);
    while (time < $end) {
        my %r = (t => next_sample(@rows + 1));
        for my $name (keys %srv) {
            my $n = nginx_sample($srv{$name}{run});
            my $s = slurp_json($srv{$name}{stats});
            my $open = $s->{open} || 1;
            $r{"${name}_open"} = $s->{open} // 0;
            $r{"${name}_heap_per_conn"} = ($n->{anon} - $idle{$name}{anon}) * 1024 / $open;
            $r{"${name}_events_per_conn"} = ($s->{deliveries} // 0) / $open;
            $r{"${name}_errors"} = ($s->{closed_early} // 0) + ($s->{connect_failures} // 0) + ($s->{handshake_failures} // 0)
                + ($s->{lost} // 0) + ($s->{repeated} // 0);
        }
        push @rows, \%r;
        printf "%6.0f %12.0f %12.0f %12.0f %12.0f %8d %8d\n",
            @r{qw(t bare_heap_per_conn module_heap_per_conn bare_events_per_conn module_events_per_conn bare_open module_open)};
    }
    $stack->kill_proc($_, 'TERM') for qw(publisher feed);
    stop_subscribers(map { "subscribers-$_" } keys %srv);
    my $warm = $minutes >= 5 ? 60 : 15;
    my @steady = grep { $_->{t} >= $warm } @rows;
    @steady = @rows if @steady < 3;
    my %fit;
    for my $name (qw(bare module)) {
        # heap per connection against events per connection: bytes kept per event delivered
        my ($per_event) = slope([map { $_->{"${name}_events_per_conn"} } @steady], [map { $_->{"${name}_heap_per_conn"} } @steady]);
        my ($per_min) = slope([map { $_->{t} } @steady], [map { $_->{"${name}_heap_per_conn"} } @steady]);
        $fit{$name} = { per_event => $per_event, per_min => $per_min * 60, start => $steady[0]{"${name}_heap_per_conn"},
                        end => $steady[-1]{"${name}_heap_per_conn"}, events => $steady[-1]{"${name}_events_per_conn"},
                        errors => $rows[-1]{"${name}_errors"} // 0 };
    }
    my $line = sub {
        my ($name) = @_;
        my $f = $fit{$name};
        sprintf '| %s | %.0f | %.0f | %.0f | %+.0f | %+.1f | %d |', $name eq 'bare' ? 'bare nchan' : 'shipped (module)',
            $f->{start}, $f->{end}, $f->{events}, $f->{per_min}, $f->{per_event}, $f->{errors};
    };
    print "\nheap per connection (bytes): start, end, events per connection, slope per minute, bytes per event, errors\n";
    print $line->($_), "\n" for qw(bare module);
    return if $no_append;

    my ($stamp, $svg_name, $by_min) = plot_names('soak-against-bare', \@rows);
    my $svg = svg_panels("SSE heap per connection, bare nchan and the shipped configuration, $stamp", [
        ['heap per connection, bytes', [['bare nchan', $by_min->('bare_heap_per_conn')], ['shipped', $by_min->('module_heap_per_conn')]]],
        ['events received per connection', [['bare nchan', $by_min->('bare_events_per_conn')], ['shipped', $by_min->('module_events_per_conn')]]],
    ]);
    my $section = sprintf "### %s — SSE memory against bare nchan, %s min%s\n\n", $stamp, $minutes, $quick ? ' (--quick)' : '';
    $section .= sprintf "%s `bench/soak.pl --against-bare`%s: the shipped nginx (module, authorization, unbatching, "
        . "initial event; `datastream_sse_lifetime` 0 so that no stream ends) and bare nchan (bench/conf/nginx-bare.conf.template), "
        . "both one worker with nchan's storage on the same Redis, %d SSE subscribers of %s on each; source: %s, "
        . "reaching both through Redis. Heap = the worker's anonymous RSS over its own figure before the subscribers came, "
        . "per open connection; events = SSE events (bare nchan: one per message, the module: one per round); "
        . "sampled every %d s, slopes after a %d s warm-up.\n\n",
        machine_line(), $SOURCE eq 'pipeline' ? '' : " (DS_SOAK_SOURCE=$SOURCE)", $N_SSE,
        join(', ', map { "/sse/$_" } @games), $source, $SAMPLE, $warm;
    $section .= "| backend | heap/conn at start, B | at end, B | events/conn | slope, B/min | B kept per event | subscriber errors |\n"
        . "|---|---|---|---|---|---|---|\n" . join("\n", map { $line->($_) } qw(bare module)) . "\n\n"
        . "![heap per connection over time](results/$svg_name)\n\n";
    append_results($section, $svg_name, $svg);
}
