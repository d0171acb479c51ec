package Test::Nginx::Socket;

# A small, independent implementation of the Test::Nginx::Socket API
# (data-driven nginx tests in the Test::Base format).  It is put on @INC
# only when the CPAN distribution is not installed; the same .t files run
# unchanged under either.  See t/harness/README.md for what is supported
# and how subtests are counted.

use strict;
use warnings;

use Test::Base -base;

use Cwd ();
use Fcntl ();
use File::Path ();
use File::Spec ();
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use List::Util ();

our $VERSION = '0.01';

# ---------------------------------------------------------------------------
# global settings (mirroring the documented knobs of the real framework)

our $RepeatEach          = 1;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} ? 1 : 0;
our $MasterProcessEnabled = 1;    # see README: on by default here
our $Workers             = 1;
our $WorkerConnections   = 64;
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $NoLongString        = 0;
our $NoRootLocation      = 0;
our $CheckAccumErrLog    = 0;
our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $ServerAddr          = '127.0.0.1';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ServerName          = 'localhost';
our $ServRoot            = $ENV{TEST_NGINX_SERVROOT}
                           || File::Spec->catdir(Cwd::cwd(), 't', 'servroot');
our $HtmlDir             = File::Spec->catdir($ServRoot, 'html');
our $LogDir              = File::Spec->catdir($ServRoot, 'logs');
our $ConfDir             = File::Spec->catdir($ServRoot, 'conf');
our $ErrLogFile          = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile          = File::Spec->catfile($LogDir, 'access.log');
our $PidFile             = File::Spec->catfile($LogDir, 'nginx.pid');
our $StderrFile          = File::Spec->catfile($LogDir, 'stderr.log');
our $ConfFile            = File::Spec->catfile($ConfDir, 'nginx.conf');
our $NginxBinary         = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $StartupTimeout      = $ENV{TEST_NGINX_STARTUP_TIMEOUT} || 10;
our $ShutdownTimeout     = $ENV{TEST_NGINX_SHUTDOWN_TIMEOUT} || 5;

our @EnvToNginx = qw(
    MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
    LD_PRELOAD LD_LIBRARY_PATH DYLD_INSERT_LIBRARIES DYLD_FORCE_FLAT_NAMESPACE
    ASAN_OPTIONS MOCKNOEAGAIN_VERBOSE MOCKNOEAGAIN
    UBSAN_OPTIONS LSAN_OPTIONS
);

our @BlockPreprocessors;
our @CleanupHandlers;

$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

# Sections this implementation understands.  Anything else makes the test
# file die (unless a block preprocessor consumed it, see below).
our %KnownSections = map { $_ => 1 } qw(
    ONLY SKIP LAST
    main_config post_main_config http_config config server_name
    init user_files log_level
    request pipelined_requests raw_request raw_request_middle_delay
    more_headers timeout abort wait ignore_response
    error_code error_code_like
    response_body response_body_like response_body_unlike
    response_headers response_headers_like
    raw_response_headers_like raw_response_headers_unlike
    error_log no_error_log grep_error_log grep_error_log_out
    no_check_leak
);

our @EXPORT = qw(
    run_tests run_test repeat_each no_shuffle master_on master_off
    master_process_enabled
    workers worker_connections log_level env_to_nginx no_long_string
    no_root_location add_block_preprocessor add_cleanup_handler
    check_accum_error_log server_name server_port server_addr server_root
    html_dir bail_out is_str config_preamble
    $ServerPort $ServerAddr $ServerPortForClient $ServerName $ServRoot
    $ServerRoot $HtmlDir $RepeatEach $LogLevel $NginxBinary
);

our $ServerRoot = $ServRoot;

# ---------------------------------------------------------------------------
# exported configuration functions

sub repeat_each (@) {
    if (@_) { $RepeatEach = shift; }
    return $RepeatEach;
}

sub no_shuffle ()        { $NoShuffle = 1 }
sub master_on ()         { $MasterProcessEnabled = 1 }
sub master_off ()        { $MasterProcessEnabled = 0 }
sub master_process_enabled (@) {
    if (@_) { $MasterProcessEnabled = $_[0] ? 1 : 0; }
    return $MasterProcessEnabled;
}
sub no_long_string ()    { $NoLongString = 1 }
sub no_root_location ()  { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }

sub workers (@) {
    if (@_) { $Workers = shift; }
    return $Workers;
}

sub worker_connections (@) {
    if (@_) { $WorkerConnections = shift; }
    return $WorkerConnections;
}

sub log_level (@) {
    if (@_) { $LogLevel = shift; }
    return $LogLevel;
}

sub server_name (@) {
    if (@_) { $ServerName = shift; }
    return $ServerName;
}

sub env_to_nginx (@) { push @EnvToNginx, @_ }

sub server_port ()  { $ServerPort }
sub server_addr ()  { $ServerAddr }
sub server_root ()  { $ServRoot }
sub html_dir ()     { $HtmlDir }
sub config_preamble () { '' }

# The documented functions init code can call unqualified in Test::Nginx::Util.
{
    no strict 'refs';
    *{"Test::Nginx::Util::$_"} = \&{$_}
        for qw(html_dir server_root server_port server_addr bail_out repeat_each workers log_level);
}

sub add_block_preprocessor (&) {
    my $code = shift;
    die "add_block_preprocessor: a code reference is required\n"
        unless ref $code eq 'CODE';
    push @BlockPreprocessors, $code;
}

sub add_cleanup_handler (&) {
    my $code = shift;
    push @CleanupHandlers, $code;
}

sub bail_out (@) {
    my $msg = join '', @_;
    cleanup();
    Test::More::BAIL_OUT($msg);
}

# is_str: string equality honouring no_long_string and regex expectations
sub is_str ($$;$) {
    my ($got, $expected, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $name);
    }
    if ($NoLongString) {
        return Test::More::is($got, $expected, $name);
    }
    require Test::LongString;
    return Test::LongString::is_string($got, $expected, $name);
}

# ---------------------------------------------------------------------------
# nginx process management

my $CurrentBlockName;  # for messages about problems found at shutdown
my $NginxPid;          # pid of our direct child (nginx master or a wrapper)
my $NginxPgrp;         # its process group
my @Problems;          # crash / sanitizer reports seen outside any subtest
my $ProblemsReported = 0;
my %HaveModule;        # feature probe of the nginx binary

sub probe_binary {
    return if %HaveModule;
    my $out = `$NginxBinary -V 2>&1`;
    $out = '' unless defined $out;
    $HaveModule{probed} = 1;
    for my $m (qw(fastcgi uwsgi scgi proxy)) {
        $HaveModule{$m} = $out =~ /--without-http_${m}_module/ ? 0 : 1;
    }
}

sub read_file_all {
    my $file = shift;
    open my $fh, '<', $file or return '';
    binmode $fh;
    local $/;
    my $s = <$fh>;
    close $fh;
    return defined $s ? $s : '';
}

sub write_file {
    my ($file, $content) = @_;
    open my $fh, '>', $file or die "cannot write $file: $!\n";
    binmode $fh;
    print $fh $content;
    close $fh or die "cannot close $file: $!\n";
}

sub tail_text {
    my ($text, $n) = @_;
    my @lines = split /\n/, $text;
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join("\n", @lines);
}

sub port_open {
    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPortForClient,
        Proto    => 'tcp',
        Timeout  => 0.5,
    );
    if ($sock) { close $sock; return 1; }
    return 0;
}

sub process_alive {
    my $pid = shift;
    return 0 unless $pid;
    return kill(0, $pid) ? 1 : 0;
}

# nginx left over from an earlier, interrupted run in the same servroot
sub kill_stale_nginx {
    my $pid = read_file_all($PidFile);
    $pid =~ s/\s+//g;
    return unless $pid =~ /^\d+$/ && $pid > 1;
    return if defined $NginxPid && $pid == $NginxPid;
    my $cmd = read_file_all("/proc/$pid/cmdline");
    return unless $cmd =~ /nginx/;
    kill 'QUIT', $pid;
    my $deadline = Time::HiRes::time() + $ShutdownTimeout;
    while (process_alive($pid) && Time::HiRes::time() < $deadline) {
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', $pid if process_alive($pid);
    unlink $PidFile;
}

# Two runs in the same tree must not share t/servroot (the second would stop
# the first one's nginx).  The default server root is guarded by a lock on
# its parent directory; a run that finds it taken uses t/servroot-<pid>.
my $ServRootLock;
my $ServRootTemp;

sub set_servroot {
    my $root = shift;
    $ServRoot = $ServerRoot = $root;
    $HtmlDir    = File::Spec->catdir($ServRoot, 'html');
    $LogDir     = File::Spec->catdir($ServRoot, 'logs');
    $ConfDir    = File::Spec->catdir($ServRoot, 'conf');
    $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
    $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
    $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');
    $StderrFile = File::Spec->catfile($LogDir, 'stderr.log');
    $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
    $ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
}

sub lock_servroot {
    return if $ENV{TEST_NGINX_SERVROOT} || $ServRootLock;
    my (undef, $parent) = File::Spec->splitpath($ServRoot);
    $parent = '.' unless length $parent;
    File::Path::mkpath($parent) unless -d $parent;
    sysopen(my $dh, $parent, Fcntl::O_RDONLY()) or return;
    if (flock($dh, Fcntl::LOCK_EX() | Fcntl::LOCK_NB())) {
        $ServRootLock = $dh;
        return;
    }
    $ServRootTemp = "$ServRoot-$$";
    Test::More::diag("t/servroot is in use by another run; using "
                     . "servroot-$$ (set TEST_NGINX_SERVROOT to choose)");
    set_servroot($ServRootTemp);
}

sub setup_servroot {
    lock_servroot();
    kill_stale_nginx();
    File::Path::rmtree($ServRoot) if -d $ServRoot;
    for my $d ($ServRoot, $ConfDir, $LogDir, $HtmlDir) {
        File::Path::mkpath($d);
    }
    write_file(File::Spec->catfile($HtmlDir, 'index.html'),
               '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

sub stop_nginx {
    return unless defined $NginxPid;
    my $child = $NginxPid;
    my $master = read_file_all($PidFile);
    $master =~ s/\s+//g;
    $master = $child unless $master =~ /^\d+$/ && process_alive($master);

    my $reaped = 0;
    my $wait_for = sub {
        my $secs = shift;
        my $deadline = Time::HiRes::time() + $secs;
        while (Time::HiRes::time() < $deadline) {
            my $r = waitpid($child, POSIX::WNOHANG());
            if ($r == $child || $r == -1) {
                # the master is gone; make sure the whole group is too
                return 1 unless $NginxPgrp && kill(0, -$NginxPgrp);
            }
            Time::HiRes::sleep(0.02);
        }
        return 0;
    };

    my $log_pos = -s $ErrLogFile || 0;
    kill 'QUIT', $master;
    $reaped = $wait_for->($ShutdownTimeout);
    if (!$reaped) {
        Test::More::diag("nginx did not exit within ${ShutdownTimeout}s of "
                         . "SIGQUIT; sending SIGTERM");
        kill 'TERM', $master;
        kill 'TERM', -$NginxPgrp if $NginxPgrp;
        $reaped = $wait_for->(3);
    }
    if (!$reaped) {
        kill 'KILL', -$NginxPgrp if $NginxPgrp;
        kill 'KILL', $master;
        kill 'KILL', $child;
        waitpid($child, 0);
    }
    undef $NginxPid;
    undef $NginxPgrp;
    my $log = read_file_all($ErrLogFile);
    if (length($log) > $log_pos) {
        my @crash = grep { /exited on signal/ } split /\n/, substr($log, $log_pos);
        if (@crash) {
            my $msg = "nginx worker crashed during shutdown"
                    . ($CurrentBlockName ? " (after $CurrentBlockName)" : '')
                    . ":\n" . join("\n", @crash);
            Test::More::diag($msg);
            push @Problems, $msg;
        }
    }
    check_stderr_for_sanitizer('shutdown'
        . ($CurrentBlockName ? " after $CurrentBlockName" : ''));
}

my $StderrSeen = 0;

sub check_stderr_for_sanitizer {
    my $when = shift;
    my $err = read_file_all($StderrFile);
    return if length($err) <= $StderrSeen;
    my $new = substr($err, $StderrSeen);
    $StderrSeen = length $err;
    if ($new =~ /(?:AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|runtime error:|double free|free\(\): )/) {
        my $msg = "sanitizer / allocator report from nginx ($when):\n"
                  . tail_text($new, 60);
        Test::More::diag($msg);
        push @Problems, $msg;
    }
}

sub start_nginx {
    my ($name) = @_;

    if (port_open()) {
        return "port $ServerAddr:$ServerPortForClient is already in use "
             . "(set TEST_NGINX_SERVER_PORT to a free port)";
    }

    truncate_file($ErrLogFile);
    unlink $PidFile;

    my $pid = fork();
    die "fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $StderrFile;
        open STDERR, '>>', $StderrFile;
        my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile,
                   '-e', $ErrLogFile);
        { no warnings "exec"; exec { $cmd[0] } @cmd; }
        print STDERR "cannot exec $NginxBinary: $!\n";
        POSIX::_exit(127);
    }
    $NginxPid = $pid;
    $NginxPgrp = $pid;

    my $deadline = Time::HiRes::time() + $StartupTimeout;
    while (1) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        if ($r == $pid) {
            my $status = $?;
            undef $NginxPid;
            kill 'KILL', -$pid;
            return sprintf("nginx exited during startup (status %d)", $status >> 8);
        }
        if (port_open()) {
            # the master may accept before workers exist; give it a moment
            # only if the pid file is not there yet
            my $t2 = Time::HiRes::time() + 1;
            while (!-s $PidFile && Time::HiRes::time() < $t2) {
                Time::HiRes::sleep(0.01);
            }
            return undef;
        }
        if (Time::HiRes::time() > $deadline) {
            return "nginx did not accept connections on "
                 . "$ServerAddr:$ServerPortForClient within ${StartupTimeout}s";
        }
        Time::HiRes::sleep(0.02);
    }
}

sub truncate_file {
    my $file = shift;
    if (open my $fh, '>', $file) { close $fh; }
}

sub cleanup {
    for my $h (@CleanupHandlers) {
        eval { $h->() };
        warn "cleanup handler failed: $@" if $@;
    }
    @CleanupHandlers = ();
    stop_nginx();
    if ($ServRootTemp && -d $ServRootTemp) {
        File::Path::rmtree($ServRootTemp);
    }
}

END {
    local $?;
    cleanup();
}

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        cleanup();
        $SIG{$sig} = 'DEFAULT';
        kill $sig, $$;
    };
}

# ---------------------------------------------------------------------------
# configuration

# a loopback port nobody listens on right now
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "cannot find a free port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub expand_env {
    my ($text, $section, $bname) = @_;
    return '' unless defined $text;
    $text =~ s{\$(?:\{(TEST_NGINX_[A-Za-z0-9_]+)\}|(TEST_NGINX_[A-Za-z0-9_]+))}{
        my $var = defined $1 ? $1 : $2;
        if (!defined $ENV{$var} && $var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $ENV{$var} = free_port();
        }
        die "$bname: environment variable $var used in --- $section "
          . "is not defined\n" unless defined $ENV{$var};
        $ENV{$var};
    }ge;
    return $text;
}

sub gen_config {
    my ($block, $config) = @_;
    my $name = $block->name;

    probe_binary();

    my $main  = expand_env(scalar($block->main_config), 'main_config', $name);
    my $post  = expand_env(scalar($block->post_main_config), 'post_main_config', $name);
    my $http  = expand_env(scalar($block->http_config), 'http_config', $name);
    my $conf  = expand_env($config, 'config', $name);
    my $level = $block->log_level;
    $level = $LogLevel unless defined $level && length $level;
    my $sname = $block->server_name;
    $sname = $ServerName unless defined $sname && length $sname;

    my $out = "# generated for: $name\n";
    $out .= "daemon off;\n";
    $out .= "master_process " . ($MasterProcessEnabled ? 'on' : 'off') . ";\n";
    $out .= "worker_processes $Workers;\n";
    $out .= "pid logs/nginx.pid;\n";
    $out .= "error_log logs/error.log $level;\n";
    if ($> == 0 && $main !~ /^\s*user\s/m) {
        $out .= "user root;\n";
    }
    my %seen_env;
    for my $e (@EnvToNginx) {
        next if $seen_env{$e}++;
        if ($e =~ /[\s'";{}]/) {
            (my $q = $e) =~ s/'/\\'/g;
            $out .= "env '$q';\n";
        } else {
            $out .= "env $e;\n";
        }
    }
    $out .= "\n$main\n" if length $main;
    $out .= <<"_EOC_";

events {
    worker_connections $WorkerConnections;
    accept_mutex off;
}

http {
    access_log logs/access.log;
    default_type text/plain;
    keepalive_timeout 68;
    client_body_temp_path $ServRoot/client_body_temp;
_EOC_
    $out .= "    proxy_temp_path $ServRoot/proxy_temp;\n" if $HaveModule{proxy};
    $out .= "    fastcgi_temp_path $ServRoot/fastcgi_temp;\n" if $HaveModule{fastcgi};
    $out .= "    uwsgi_temp_path $ServRoot/uwsgi_temp;\n" if $HaveModule{uwsgi};
    $out .= "    scgi_temp_path $ServRoot/scgi_temp;\n" if $HaveModule{scgi};
    $out .= "\n$http\n" if length $http;
    $out .= <<"_EOC_";

    server {
        listen $ServerAddr:$ServerPort;
        server_name $sname;
        client_max_body_size 30M;

$conf

_EOC_
    unless ($NoRootLocation) {
        $out .= <<"_EOC_";
        location / {
            root html;
            index index.html index.htm;
        }
_EOC_
    }
    $out .= "    }\n}\n";
    $out .= "\n$post\n" if length $post;
    return $out;
}

sub write_user_files {
    my $block = shift;
    my $uf = $block->user_files;
    return unless defined $uf;
    my @files;
    if (ref $uf eq 'ARRAY') {
        for my $f (@$uf) {
            die $block->name . ": bad --- user_files entry\n" unless ref $f eq 'ARRAY';
            push @files, [@$f];
        }
    } elsif (!ref $uf) {
        my @parts = split /^>>>\s*/m, $uf;
        shift @parts;
        for my $p (@parts) {
            my ($head, $body) = split /\n/, $p, 2;
            $body = '' unless defined $body;
            my ($fname, $mtime) = split ' ', $head;
            push @files, [$fname, $body, $mtime];
        }
    } else {
        die $block->name . ": --- user_files must be text or an array ref\n";
    }
    for my $f (@files) {
        my ($fname, $body, $mtime) = @$f;
        my $path = File::Spec->catfile($HtmlDir, $fname);
        my ($vol, $dir) = File::Spec->splitpath($path);
        File::Path::mkpath($dir) unless -d $dir;
        write_file($path, defined $body ? $body : '');
        if (defined $mtime && $mtime =~ /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d\d))?$/) {
            my $t = POSIX::mktime($6 || 0, $5, $4, $3, $2 - 1, $1 - 1900);
            utime $t, $t, $path if defined $t;
        } elsif (defined $mtime && $mtime =~ /^\d+$/) {
            utime $mtime, $mtime, $path;
        }
    }
}

# ---------------------------------------------------------------------------
# requests

sub parse_request_text {
    my ($name, $text, $strip_tail) = @_;
    # leading comment lines and blank lines are skipped
    while ($text =~ s/\A[ \t]*(?:#[^\n]*)?\r?\n//) { }
    $text =~ s/\A[ \t]+//;
    my ($first, $rest) = split /\r?\n/, $text, 2;
    $first = '' unless defined $first;
    $rest = '' unless defined $rest;
    my ($meth, $url, $ver) = split ' ', $first, 3;
    die "$name: empty request\n" unless defined $meth && length $meth;
    $url = '/' unless defined $url && length $url;
    $ver = 'HTTP/1.1' unless defined $ver && length $ver;
    $ver =~ s/\s+\z//;
    $rest =~ s/\s+\z// if $strip_tail;
    return ($meth, $url, $ver, $rest);
}

sub parse_headers_text {
    my $text = shift;
    my @h;
    return @h unless defined $text;
    for my $line (split /\r?\n/, $text) {
        next unless $line =~ /\S/;
        $line =~ s/^\s+|\s+$//g;
        my ($k, $v) = split /\s*:\s*/, $line, 2;
        $v = '' unless defined $v;
        push @h, [$k, $v];
    }
    return @h;
}

# Build the list of "connections" for a block: each element is a list of
# packets; a packet is { value => bytes, delay_before => secs }.
sub build_requests {
    my $block = shift;
    my $name = $block->name;
    my @reqs;
    my $more = $block->more_headers;
    my $filters = section_filters($block, "request") || '';
    my $is_eval = $filters =~ /\beval\b/;

    my $header_block = sub {
        my ($meth, $url, $ver, $content, $more_hdrs, $conn) = @_;
        my @extra = parse_headers_text($more_hdrs);
        my %have = map { lc($_->[0]) => 1 } @extra;
        my $s = "$meth $url $ver\r\n";
        $s .= "Host: localhost\r\n" unless $have{host};
        $s .= "Connection: $conn\r\n" unless $have{connection};
        $s .= "$_->[0]: $_->[1]\r\n" for @extra;
        if (length($content) && !$have{'content-length'}
            && !$have{'transfer-encoding'})
        {
            $s .= "Content-Length: " . length($content) . "\r\n";
        }
        $s .= "\r\n";
        return $s;
    };

    if (defined(my $raw = $block->raw_request)) {
        my @pk;
        if (ref $raw eq 'ARRAY') {
            for my $p (@$raw) {
                push @pk, ref $p eq 'HASH' ? {%$p} : { value => $p };
            }
        } else {
            push @pk, { value => $raw };
        }
        my $delay = $block->raw_request_middle_delay;
        if ($delay) {
            for my $i (1 .. $#pk) {
                $pk[$i]{delay_before} = $delay unless defined $pk[$i]{delay_before};
            }
        }
        return (\@pk);
    }

    if (defined(my $pipe = $block->pipelined_requests)) {
        die "$name: --- pipelined_requests must be an array ref (use eval)\n"
            unless ref $pipe eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$pipe) {
            my $mh = ref $more eq 'ARRAY' ? $more->[$i] : $more;
            my ($m, $u, $v, $c) = parse_request_text($name, $pipe->[$i], 0);
            $all .= $header_block->($m, $u, $v, $c, $mh,
                                    $i == $#$pipe ? 'close' : 'keep-alive') . $c;
        }
        return ([ { value => $all } ]);
    }

    my $req = $block->request;
    die "$name: no --- request, --- raw_request or --- pipelined_requests section\n"
        unless defined $req;
    my @list = ref $req eq 'ARRAY' ? @$req : ($req);
    for my $i (0 .. $#list) {
        my $r = $list[$i];
        my $mh = ref $more eq 'ARRAY' ? $more->[$i] : $more;
        my @parts;
        if (ref $r eq 'ARRAY') {
            @parts = map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } } @$r;
        } elsif (ref $r eq 'HASH') {
            @parts = ({%$r});
        } else {
            @parts = ({ value => $r });
        }
        # the request line/headers are parsed from the concatenation, then
        # the generated bytes are split at the same content boundaries
        my $joined = join '', map { $_->{value} } @parts;
        my ($m, $u, $v, $c) = parse_request_text($name, $joined, !$is_eval);
        my $head = $header_block->($m, $u, $v, $c, $mh, 'close');
        if (@parts == 1) {
            push @reqs, [ { %{$parts[0]}, value => $head . $c } ];
            next;
        }
        # split the generated bytes at the offsets corresponding to the
        # boundaries between the given parts: a boundary inside the body maps
        # to the same body offset, one inside the request line to the same
        # offset of the generated head (both start with "METHOD URI")
        my $head_src_len = length($joined) - length($c);
        my $gen = $head . $c;
        my @out;
        my ($src, $prev) = (0, 0);
        for my $k (0 .. $#parts) {
            $src += length $parts[$k]{value};
            my $cut;
            if ($k == $#parts) {
                $cut = length $gen;
            } elsif ($src >= $head_src_len) {
                $cut = length($head) + ($src - $head_src_len);
            } else {
                $cut = $src < length($head) ? $src : length($head);
            }
            $cut = $prev if $cut < $prev;
            push @out, { %{ $parts[$k] }, value => substr($gen, $prev, $cut - $prev) };
            $prev = $cut;
        }
        push @reqs, \@out;
    }
    return @reqs;
}

# Like the real client: reads until the server closes the connection (or the
# timeout), never stopping at a complete response.
sub send_and_receive {
    my ($packets, $timeout) = @_;
    my %res = (raw => '', timed_out => 0, error => undef);
    local $SIG{PIPE} = 'IGNORE';
    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPortForClient,
        Proto    => 'tcp',
        Timeout  => $timeout,
    );
    unless ($sock) {
        $res{error} = "cannot connect to $ServerAddr:$ServerPortForClient: $!";
        return \%res;
    }
    $sock->blocking(0);
    binmode $sock;
    my $sel = IO::Select->new($sock);

  PACKET:
    for my $p (@$packets) {
        Time::HiRes::sleep($p->{delay_before}) if $p->{delay_before};
        my $buf = $p->{value};
        $buf = '' unless defined $buf;
        while (length $buf) {
            my @w = $sel->can_write($timeout);
            unless (@w) { $res{timed_out} = 1; last PACKET; }
            my $n = syswrite($sock, $buf);
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EINTR};
                $res{error} = "write failed: $!";
                last PACKET;
            }
            substr($buf, 0, $n, '');
        }
    }

    unless ($res{timed_out}) {
        while (1) {
            my @r = $sel->can_read($timeout);
            unless (@r) { $res{timed_out} = 1; last; }
            my $n = sysread($sock, my $chunk, 65536);
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EINTR};
                $res{error} = "read failed: $!" unless $!{ECONNRESET} && length $res{raw};
                last;
            }
            last if $n == 0;
            $res{raw} .= $chunk;
        }
    }
    close $sock;
    return \%res;
}

# Parse one response from the front of $$rawref; removes what it consumed.
sub parse_response {
    my ($rawref, $is_head) = @_;
    my %r = (status => undef, headers => [], body => '', raw_headers => '',
             chunk_error => undef);
    my $raw = $$rawref;
    if ($raw !~ m{\AHTTP/}) {
        # HTTP/0.9 style (or nothing at all)
        $r{body} = $raw;
        $$rawref = '';
        return \%r;
    }
    my $i = index($raw, "\r\n\r\n");
    my $sep = 4;
    if ($i < 0) {
        $i = index($raw, "\n\n");
        $sep = 2;
    }
    my ($head, $rest);
    if ($i < 0) {
        ($head, $rest) = ($raw, '');
    } else {
        $head = substr($raw, 0, $i);
        $rest = substr($raw, $i + $sep);
    }
    $r{raw_headers} = $head . "\r\n\r\n";
    my @lines = split /\r?\n/, $head;
    my $sl = shift @lines;
    if ($sl =~ m{\AHTTP/\d+(?:\.\d+)?\s+(\d{3})}) {
        $r{status} = $1;
    }
    for my $l (@lines) {
        if ($l =~ /^[ \t]/ && @{ $r{headers} }) {
            (my $c = $l) =~ s/^\s+//;
            $r{headers}[-1][1] .= " $c";
            next;
        }
        my ($k, $v) = split /:/, $l, 2;
        next unless defined $k;
        $v = '' unless defined $v;
        $v =~ s/^\s+|\s+$//g;
        push @{ $r{headers} }, [$k, $v];
    }
    my $hv = sub {
        my $want = lc shift;
        my @v = map { $_->[1] } grep { lc($_->[0]) eq $want } @{ $r{headers} };
        return @v ? join(', ', @v) : undef;
    };
    my $status = $r{status} || 0;
    if ($is_head || $status =~ /^(?:1\d\d|204|304)$/) {
        $$rawref = $rest;
        return \%r;
    }
    my $te = $hv->('transfer-encoding');
    if (defined $te && $te =~ /chunked/i) {
        my $body = '';
        while (1) {
            if ($rest !~ s/\A([0-9a-fA-F]+)[ \t]*(?:;[^\r\n]*)?\r\n//) {
                $r{chunk_error} = length($rest)
                    ? "bad chunk header" : "truncated chunked body";
                last;
            }
            my $size = hex $1;
            if ($size == 0) {
                # trailers
                while ($rest =~ s/\A([^\r\n]+)\r\n//) { }
                $rest =~ s/\A\r\n// or $r{chunk_error} = "truncated chunked body";
                last;
            }
            if (length($rest) < $size) {
                $body .= $rest;
                $rest = '';
                $r{chunk_error} = "truncated chunked body";
                last;
            }
            $body .= substr($rest, 0, $size, '');
            unless ($rest =~ s/\A\r\n//) {
                $r{chunk_error} = length($rest) ? "chunk not followed by CRLF"
                                                : "truncated chunked body";
                last;
            }
        }
        $r{body} = $body;
        $$rawref = $rest;
        return \%r;
    }
    my $cl = $hv->('content-length');
    if (defined $cl && $cl =~ /^(\d+)/) {
        $r{body} = substr($rest, 0, $1);
        $$rawref = length($rest) > $1 ? substr($rest, $1) : '';
        return \%r;
    }
    $r{body} = $rest;
    $$rawref = '';
    return \%r;
}

sub res_header {
    my ($res, $name) = @_;
    my $want = lc $name;
    my @v = map { $_->[1] } grep { lc($_->[0]) eq $want } @{ $res->{headers} };
    return @v ? join(', ', @v) : undef;
}

sub parse_timeout {
    my ($v, $name) = @_;
    return $Timeout unless defined $v && length $v;
    $v =~ s/^\s+|\s+$//g;
    return $1 / 1000 if $v =~ /^(\d+(?:\.\d+)?)ms$/;
    return $1 if $v =~ /^(\d+(?:\.\d+)?)s?$/;
    die "$name: bad --- timeout value '$v'\n";
}

# ---------------------------------------------------------------------------
# error log

sub read_error_log_lines {
    my $text = read_file_all($ErrLogFile);
    return split /\n/, $text;
}

sub patterns_of {
    my ($block, $section) = @_;
    my $v = $block->$section;
    return () unless defined $v;
    if (ref $v eq 'ARRAY') {
        return @$v;
    }
    if (ref $v eq 'Regexp') {
        return ($v);
    }
    my $filters = section_filters($block, $section) || '';
    if ($filters =~ /\beval\b/) {
        return ($v);
    }
    return grep { length } map { s/^\s+|\s+$//gr } split /\n/, $v;
}

sub pat_desc {
    my $p = shift;
    return ref $p ? "$p" : qq{"$p"};
}

sub line_matches {
    my ($line, $p) = @_;
    return ref $p eq 'Regexp' ? scalar($line =~ $p) : index($line, $p) >= 0;
}

# ---------------------------------------------------------------------------
# running

sub section_filters {
    my ($block, $section) = @_;
    my $map = $block->{_section_map};
    $map = $map->[0] if ref $map eq "ARRAY";
    return "" unless ref $map eq "HASH" && $map->{$section};
    return $map->{$section}{filters} || "";
}

sub per_req {
    my ($val, $i) = @_;
    return ref $val eq 'ARRAY' ? $val->[$i] : $val;
}

sub validate_block_sections {
    my ($block, $consumed) = @_;
    my @bad;
    for my $s (@{ $block->{_section_order}[0] || [] }) {
        next if $KnownSections{$s};
        next if $consumed && $consumed->{$s};
        push @bad, $s;
    }
    if (@bad) {
        die "Test::Nginx::Socket: unknown section"
          . (@bad > 1 ? 's' : '') . " "
          . join(', ', map { "'--- $_'" } @bad)
          . " in block '" . $block->name . "' (not supported by this harness)\n";
    }
    # The real framework checks only the first section of each of these pairs
    # and silently drops the second: refuse them, so no assertion is lost there.
    for my $pair ([qw(response_body response_body_like)], [qw(response_body response_body_unlike)],
                  [qw(response_body_like response_body_unlike)], [qw(response_headers response_headers_like)]) {
        next unless defined $block->${\$pair->[0]} && defined $block->${\$pair->[1]};
        bail_out("block '" . $block->name . "' has both '--- $pair->[0]' and '--- $pair->[1]';"
               . " the real Test::Nginx would silently skip '--- $pair->[1]': split the block");
    }
}

# run the block preprocessors, noting which custom sections they read
my $TrackSeq = 0;
sub run_preprocessors {
    my $block = shift;
    my %consumed;
    return \%consumed unless @BlockPreprocessors;
    my @unknown = grep { !$KnownSections{$_} }
                  @{ $block->{_section_order}[0] || [] };
    my $orig_class = ref $block;
    my $track_class;
    if (@unknown) {
        $track_class = __PACKAGE__ . '::TrackedBlock' . (++$TrackSeq);
        no strict 'refs';
        @{"${track_class}::ISA"} = ($orig_class);
        for my $s (@unknown) {
            my $sec = $s;
            *{"${track_class}::$sec"} = sub {
                my $self = shift;
                $consumed{$sec} = 1;
                my @v = @{ $self->{$sec} || [] };
                return wantarray ? @v : $v[0];
            };
        }
        bless $block, $track_class;
    }
    my $err;
    for my $pp (@BlockPreprocessors) {
        eval { $pp->($block); 1 } or do { $err = $@; last };
    }
    bless $block, $orig_class if $track_class;
    die $err if defined $err;
    return \%consumed;
}

my $PrevConfig;

sub run_tests () {
    my @blocks = Test::Base::blocks();

    # fail fast on unknown sections when no preprocessor could use them
    unless (@BlockPreprocessors) {
        validate_block_sections($_) for @blocks;
    }

    @blocks = List::Util::shuffle(@blocks) unless $NoShuffle;

    setup_servroot();

    for my $block (@blocks) {
        run_test($block);
    }

    cleanup();

    if (@Problems && !$ProblemsReported) {
        $ProblemsReported = 1;
        Test::More::fail("nginx reported problems outside any request:\n"
                         . join("\n", @Problems));
    }
}

sub run_test ($) {
    my $block = shift;
    my $name = $block->name;

    my $consumed = run_preprocessors($block);
    validate_block_sections($block, $consumed);

    my $config = $block->config;
    if (!defined $config) {
        $config = defined $PrevConfig ? $PrevConfig : '';
    }
    $PrevConfig = $config;

    stop_nginx();
    $CurrentBlockName = $name;
    write_user_files($block);
    my $conf_text = gen_config($block, $config);
    write_file($ConfFile, $conf_text);

    my $start_err = start_nginx($name);
    my $timeout = parse_timeout(scalar($block->timeout), $name);

    if (!$start_err && defined(my $init = $block->init)) {
        my $code = $init;
        # Where the real framework evaluates it: in Test::Nginx::Util, under
        # strict and warnings, so test files call their own helpers as main::.
        eval "package Test::Nginx::Util; use strict; use warnings; $code; 1"
            or die "$name: --- init failed: $@";
    }

    for my $rep (0 .. $RepeatEach - 1) {
        run_one_repeat($block, $rep, $timeout, $start_err);
    }
}

sub run_one_repeat {
    my ($block, $rep, $timeout, $start_err) = @_;
    my $name = $block->name;

    truncate_file($ErrLogFile) unless $CheckAccumErrLog || $start_err;

    my @conns = build_requests($block);
    my $pipelined = defined $block->pipelined_requests;
    my $nres = $pipelined ? scalar(@{ $block->pipelined_requests }) : scalar(@conns);
    my $is_head_of = sub {
        my $i = shift;
        my $r = $pipelined ? $block->pipelined_requests->[$i]
              : ref $block->request eq 'ARRAY' ? $block->request->[$i]
              : $block->request;
        $r = join '', map { ref $_ eq 'HASH' ? $_->{value} : $_ } @$r
            if ref $r eq 'ARRAY';
        $r = $r->{value} if ref $r eq 'HASH';
        return defined $r && $r =~ /\A\s*(?:#[^\n]*\n\s*)*HEAD\b/;
    };
    my $ignore = defined $block->ignore_response;
    my $wait = $block->wait;
    $wait = undef unless defined $wait && $wait =~ /^\d*\.?\d+$/ && $wait > 0;

    # Each request (each connection; each response of a pipelined
    # connection) gets its own status/header/body subtests, then the error
    # log checks, as in the real framework: against the part of error.log
    # written since the previous check (all of it with check_accum_error_log).
    my $idx = 0;
    my $log_pos = 0;
    my $new_log_lines = sub {
        my $text = read_file_all($ErrLogFile);
        my $new = length($text) >= $log_pos ? substr($text, $log_pos) : $text;
        $log_pos = length $text unless $CheckAccumErrLog;
        return [split /\n/, $new];
    };
    for my $ci (0 .. $#conns) {
        my @problems;
        my @responses;
        if ($start_err) {
            my $tail = tail_text(read_file_all($ErrLogFile), 30);
            my $stderr = tail_text(read_file_all($StderrFile), 15);
            push @problems, "$name: nginx failed to start: $start_err\n"
                . "--- tail of error.log:\n$tail\n"
                . (length $stderr ? "--- nginx stderr:\n$stderr\n" : '');
        } else {
            my $r = send_and_receive($conns[$ci], $timeout);
            if ($r->{timed_out} && !defined $block->abort) {
                push @problems, "ERROR: client socket timed out - $name";
            }
            push @problems, "ERROR: $r->{error} - $name" if $r->{error};
            my $raw = $r->{raw};
            if ($pipelined) {
                for my $k (0 .. $nres - 1) {
                    push @responses, parse_response(\$raw, $is_head_of->($k));
                }
            } else {
                push @responses, parse_response(\$raw, $is_head_of->($ci));
            }
        }
        my $n_here = $pipelined ? $nres : 1;

        Time::HiRes::sleep($wait) if $wait;

        my $lines = $new_log_lines->();
        unless ($start_err) {
            # worker crashes are failures even if the response looked fine
            push @problems, map { "nginx: $_" }
                grep { /exited on signal|\[alert\].*(?:double free|corrupt)/ } @$lines;
            check_stderr_for_sanitizer($name);
            if (defined $NginxPid) {
                my $w = waitpid($NginxPid, POSIX::WNOHANG());
                if ($w == $NginxPid) {
                    push @problems, sprintf("nginx exited unexpectedly "
                        . "(wait status %d); tail of error.log:\n%s",
                        $?, tail_text(read_file_all($ErrLogFile), 20));
                    kill 'KILL', -$NginxPgrp if $NginxPgrp;
                    undef $NginxPid;
                    undef $NginxPgrp;
                    $start_err = "nginx is not running";
                }
            }
        }

        for my $k (0 .. $n_here - 1) {
            my $i = $idx++;
            my $res = $responses[$k]
                || { status => undef, headers => [], body => '', raw_headers => '' };
            my $tag = $nres > 1 ? " (req $i)" : '';
            $tag .= " (repeated req $rep)" if $RepeatEach > 1;
            unless ($ignore) {
                check_response($block, $res, $i, $tag, $k == 0 ? \@problems : []);
            } elsif (@problems && $k == 0) {
                Test::More::diag($_) for @problems;
            }
            check_error_log($block, $rep, $tag, $k == 0 ? $lines : $new_log_lines->());
        }
    }
}

sub check_response {
    my ($block, $res, $i, $tag, $problems) = @_;
    my $name = $block->name;

    # status code: always one subtest per response (expected 200 by default)
    {
        my $like = per_req(scalar($block->error_code_like), $i);
        my $exp = per_req(scalar($block->error_code), $i);
        my $got = $res->{status};
        my $tname = "$name - status code ok$tag";
        if (@$problems) {
            Test::More::fail($tname);
            Test::More::diag($_) for @$problems;
        } elsif (defined $block->error_code_like) {
            $like = '' unless defined $like;
            my $re = ref $like eq 'Regexp' ? $like : qr/$like/;
            Test::More::like(defined $got ? $got : '', $re, $tname);
        } elsif (defined $block->error_code) {
            # an empty "--- error_code:" expects no status at all
            $exp = '' unless defined $exp;
            $exp =~ s/^\s+|\s+$//g;
            Test::More::is(defined $got ? $got : '', $exp, $tname);
        } else {
            Test::More::is($got, 200, $tname);
        }
    }

    if (defined $block->raw_response_headers_like) {
        my $p = per_req(scalar($block->raw_response_headers_like), $i);
        $p = '' unless defined $p;
        my $re = ref $p eq 'Regexp' ? $p : qr/$p/s;
        Test::More::like($res->{raw_headers}, $re,
                         "$name - raw resp headers like$tag");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $p = per_req(scalar($block->raw_response_headers_unlike), $i);
        $p = '' unless defined $p;
        my $re = ref $p eq 'Regexp' ? $p : qr/$p/s;
        Test::More::unlike($res->{raw_headers}, $re,
                           "$name - raw resp headers unlike$tag");
    }

    if (defined $block->response_headers) {
        my $spec = per_req(scalar($block->response_headers), $i);
        for my $line (split /\n/, defined $spec ? $spec : '') {
            next unless $line =~ /\S/;
            $line =~ s/^\s+|\s+$//g;
            if ($line =~ /^!\s*(\S+)$/) {
                my $h = $1;
                my $v = res_header($res, $h);
                Test::More::ok(!defined $v, "$name - header $h not present$tag")
                    or Test::More::diag("  got: '$v'");
                next;
            }
            my ($h, $v) = split /\s*:\s*/, $line, 2;
            $v = '' unless defined $v;
            my $got = res_header($res, $h);
            $got = '' unless defined $got;
            Test::More::is($got, $v, "$name - header $h ok$tag");
        }
    }

    if (defined $block->response_headers_like) {
        my $spec = per_req(scalar($block->response_headers_like), $i);
        for my $line (split /\n/, defined $spec ? $spec : '') {
            next unless $line =~ /\S/;
            $line =~ s/^\s+|\s+$//g;
            if ($line =~ /^!\s*(\S+)$/) {
                my $h = $1;
                my $v = res_header($res, $h);
                Test::More::ok(!defined $v, "$name - header $h not present$tag");
                next;
            }
            my ($h, $v) = split /\s*:\s*/, $line, 2;
            $v = '' unless defined $v;
            my $got = res_header($res, $h);
            Test::More::like(defined $got ? $got : '', qr/^$v$/,
                             "$name - header $h like ok$tag");
        }
    }

    my $body = $res->{body};
    my $cerr = $res->{chunk_error};
    if (defined $block->response_body) {
        my $exp = per_req(scalar($block->response_body), $i);
        $exp = '' unless defined $exp;
        $exp =~ s/\$ServerPort\b/$ServerPort/g unless ref $exp;
        my $tname = "$name - response_body - response is expected$tag";
        if ($cerr && !defined $block->abort) {
            Test::More::fail("$tname ($cerr)");
        } else {
            is_str($body, $exp, $tname);
        }
    }
    if (defined $block->response_body_like) {
        my $p = per_req(scalar($block->response_body_like), $i);
        $p = '' unless defined $p;
        my $re;
        if (ref $p eq 'Regexp') { $re = $p; }
        else { (my $q = $p) =~ s/\n\z//; $re = qr/$q/s; }
        Test::More::like($body, $re, "$name - response_body_like - response is expected$tag");
    }
    if (defined $block->response_body_unlike) {
        my $p = per_req(scalar($block->response_body_unlike), $i);
        $p = '' unless defined $p;
        my $re;
        if (ref $p eq 'Regexp') { $re = $p; }
        else { (my $q = $p) =~ s/\n\z//; $re = qr/$q/s; }
        Test::More::unlike($body, $re, "$name - response_body_unlike - response is expected$tag");
    }
}

sub check_error_log {
    my ($block, $rep, $tag, $lines) = @_;
    my $name = $block->name;

    my $need = defined $block->error_log || defined $block->no_error_log
            || defined $block->grep_error_log;
    return unless $need;
    my @lines = @$lines;

    for my $p (patterns_of($block, 'error_log')) {
        my $found = grep { line_matches($_, $p) } @lines;
        Test::More::ok($found, "$name - pattern " . pat_desc($p)
                               . " matches a line in error.log$tag")
            or Test::More::diag("error.log:\n" . tail_text(join("\n", @lines), 40));
    }
    for my $p (patterns_of($block, 'no_error_log')) {
        my @hit = grep { line_matches($_, $p) } @lines;
        Test::More::ok(!@hit, "$name - pattern " . pat_desc($p)
                              . " does not match a line in error.log$tag")
            or Test::More::diag("matching lines:\n" . join("\n", @hit[0 .. ($#hit > 9 ? 9 : $#hit)]));
    }
    if (defined $block->grep_error_log) {
        my $p = $block->grep_error_log;
        $p = $p->[$rep] if ref $p eq 'ARRAY';
        my $filters = section_filters($block, "grep_error_log") || '';
        if (!ref $p && $filters !~ /\beval\b/) {
            $p =~ s/\n\z//;
        }
        # the first match of each line, as the real framework collects them
        my $out = '';
        for my $l (@lines) {
            if (ref $p eq 'Regexp') {
                $out .= "$&\n" if $l =~ /$p/ && $& !~ /\n/;
            } else {
                $out .= "$p\n" if index($l, $p) >= 0;
            }
        }
        my $exp = $block->grep_error_log_out;
        die "$name: --- grep_error_log needs --- grep_error_log_out\n"
            unless defined $exp;
        $exp = $exp->[$rep] if ref $exp eq 'ARRAY';    # indexed by repeat, not by request
        $exp = '' unless defined $exp;
        is_str($out, $exp, "$name - grep_error_log_out$tag");
    }
}

1;
__END__

=head1 NAME

Test::Nginx::Socket - data-driven nginx tests (project harness)

=head1 DESCRIPTION

An independent implementation of the documented Test::Nginx::Socket API,
used when the CPAN distribution is not installed.  See F<t/harness/README.md>.

=cut
