package DataStream::Stack;

# Starts the real parts of Data Stream on free loopback ports for one test
# file: redis-server, nats-server with JetStream, nginx with nchan and the
# module (from the shipped conf/nginx template), the consumer. Everything is
# stopped when the object goes away.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

my $REPO = abs_path(dirname(__FILE__) . '/../../..');

sub repo { $REPO }

sub new {
    my ($class, %opts) = @_;
    my $self = bless {
        build => $ENV{DS_BUILD_DIR} || "$REPO/build",
        dir   => tempdir('datastream-stack-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{DS_KEEP_TEST_DIRS}),
        procs => {},
        ports => {},
        %opts,
    }, $class;
    return $self;
}

sub dir   { $_[0]{dir} }
sub build { $_[0]{build} }
sub port  { $_[0]{ports}{ $_[1] } // die "no port for $_[1]" }

# A port the kernel just handed out is free, and stays so long enough for a
# server to bind it on a test machine.
sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

sub wait_for_port {
    my ($port, $what, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    die "$what did not open port $port\n";
}

sub spawn {
    my ($self, $name, $env, @cmd) = @_;
    my $log = "$self->{dir}/$name.log";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', $log or die;
        open STDERR, '>&', \*STDOUT or die;
        $ENV{$_} = $env->{$_} for keys %$env;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    $self->{procs}{$name} = $pid;
    return $pid;
}

sub kill_proc {
    my ($self, $name, $signal) = @_;
    my $pid = delete $self->{procs}{$name} or return;
    kill $signal // 'TERM', $pid;
    my $deadline = time + 15;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub log_of {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/$name.log" or return '';
    local $/;
    return <$fh>;
}

# ---------------------------------------------------------------- servers

sub start_redis {
    my ($self) = @_;
    my $port = $self->{ports}{redis} //= free_port();
    mkdir "$self->{dir}/redis";
    $self->spawn(redis => {}, 'redis-server', '--port', $port, '--bind', '127.0.0.1',
                 '--save', '', '--appendonly', 'yes', '--dir', "$self->{dir}/redis");
    wait_for_port($port, 'redis-server');
    return $port;
}

sub stop_redis { $_[0]->kill_proc('redis') }

sub redis_cli {
    my ($self, @args) = @_;
    my $port = $self->port('redis');
    open my $fh, '-|', 'redis-cli', '-p', $port, '--raw', @args or die "redis-cli: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    $out //= '';
    chomp $out;
    return $out;
}

sub start_nats {
    my ($self) = @_;
    my $port = $self->{ports}{nats} //= free_port();
    my $mon  = $self->{ports}{nats_monitor} //= free_port();
    my $ws   = $self->{ports}{nats_ws} //= free_port();
    mkdir "$self->{dir}/nats";
    $self->spawn(nats => {
            DS_NATS_SERVER_NAME    => 'datastream-test',
            DS_NATS_LISTEN         => "127.0.0.1:$port",
            DS_NATS_MONITOR_LISTEN => "127.0.0.1:$mon",
            DS_NATS_WS_LISTEN      => "127.0.0.1:$ws",
            DS_NATS_STORE_DIR      => "$self->{dir}/nats",
        }, 'nats-server', '-c', "$REPO/conf/nats/nats-server.conf");
    wait_for_port($port, 'nats-server');
    return $port;
}

sub stop_nats { $_[0]->kill_proc('nats') }

sub nats_url { 'nats://127.0.0.1:' . $_[0]->port('nats') }

sub nginx_binary { $ENV{DS_NGINX_BINARY} || 'nginx' }

# Renders the shipped nginx.conf template for this stack. Several instances
# (name => 'nginx2') can share one Redis, like replicas behind a load balancer.
sub start_nginx {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'nginx';
    my $run  = "$self->{dir}/$name";
    my $http = $self->{ports}{"${name}_http"} //= free_port();
    my $pub  = $self->{ports}{"${name}_publish"} //= free_port();
    mkdir $run;
    my %env = (
        DS_NGINX_RUN_DIR     => $run,
        DS_HTTP_PORT         => $http,
        DS_PUBLISH_PORT      => $pub,
        DS_REDIS_PORT        => $self->port('redis'),
        DS_NGINX_WORKERS     => $opt{workers} // 1,
        DS_NGINX_ERROR_LOG   => "$run/error.log",
        DS_NGINX_ACCESS_LOG  => "$run/access.log",
        DS_NGINX_LOG_LEVEL   => 'info',
        DS_AUTH              => $opt{auth} // 'on',
        DS_DATASTREAM_MODULE => "$self->{build}/nginx/ngx_http_datastream_module.so",
        DS_DASHBOARD_CONFIG  => "$run/dashboard-config.js",
        %{ $opt{env} // {} },
    );
    local @ENV{ keys %env } = values %env;
    local $ENV{DATASTREAM_TOKEN_SECRET} = $self->token_secret;
    system("$REPO/conf/nginx/render.sh > $run/nginx.conf") == 0 or die "render.sh failed\n";
    system($self->nginx_binary, '-p', $run, '-c', "$run/nginx.conf", '-e', "$run/error.log") == 0
        or die "nginx did not start:\n" . `tail -20 $run/error.log`;
    $self->{nginx}{$name} = $run;
    wait_for_port($http, 'nginx');
    return $http;
}

sub stop_nginx {
    my ($self, $name, $signal) = @_;
    $name //= 'nginx';
    my $run = delete $self->{nginx}{$name} or return;
    my $pid = do { open my $fh, '<', "$run/nginx.pid" or return; local $/; <$fh> };
    chomp $pid;
    kill $signal // 'QUIT', $pid;
    my $deadline = time + 15;
    sleep 0.05 while kill(0, $pid) && time < $deadline;
    kill 'KILL', $pid if kill 0, $pid;
}

sub nginx_error_log {
    my ($self, $name) = @_;
    my $file = "$self->{dir}/" . ($name // 'nginx') . "/error.log";
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh>;
}

sub token_secret { $_[0]{token_secret} //= join '', map { sprintf '%02x', int rand 256 } 1 .. 32 }

sub start_consumer {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'consumer';
    my $metrics = $self->{ports}{"${name}_metrics"} //= free_port();
    my $nginx = $opt{nginx} // 'nginx';
    $self->spawn($name => {
            NATS_URL      => $self->nats_url,
            REDIS_URL     => 'redis://127.0.0.1:' . $self->port('redis') . '/0',
            PUBLISH_URL   => 'http://127.0.0.1:' . $self->port("${nginx}_publish") . '/pub',
            METRICS_PORT  => $metrics,
            CREATE_STREAM => 1,
            LOG_LEVEL     => 'debug',
            %{ $opt{env} // {} },
        }, "$self->{build}/bin/datastream-consumer");
    wait_for_port($metrics, $name);
    return $metrics;
}

sub stop_consumer { $_[0]->kill_proc($_[1] // 'consumer', $_[2]) }

# ---------------------------------------------------------------- NATS I/O

# Publishes each line as one JetStream message, waiting for every ack.
sub publish {
    my ($self, $subject, @lines) = @_;
    my $file = "$self->{dir}/publish-" . int(rand 1e9) . '.jsonl';
    open my $fh, '>', $file or die;
    print $fh "$_\n" for @lines;
    close $fh;
    system("$self->{build}/bin/datastream-feed pub --create-stream --url " . $self->nats_url
           . " --subject '$subject' < $file 2>>$self->{dir}/feed.log") == 0
        or die "publish to $subject failed\n";
    unlink $file;
}

sub api_key {
    my ($self, %opt) = @_;
    my @args = ('create', '--name', $opt{name} // 'test', '--kind', $opt{kind} // 'sk');
    push @args, '--origins', $opt{origins} if $opt{origins};
    push @args, '--rate-limit', $opt{rate_limit} if defined $opt{rate_limit};
    local $ENV{REDIS_URL} = 'redis://127.0.0.1:' . $self->port('redis') . '/0';
    open my $fh, '-|', "$self->{build}/bin/datastream-keys", @args or die;
    my $key = <$fh>;
    close $fh;
    die "datastream-keys create failed\n" unless $key;
    chomp $key;
    return $key;
}

# ---------------------------------------------------------------- waiting

sub wait_until {
    my ($what, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.05;
    }
    die "timed out waiting for $what\n";
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop_nginx($_) for keys %{ $self->{nginx} // {} };
    $self->kill_proc($_) for grep { $_ ne 'redis' } keys %{ $self->{procs} };
    $self->kill_proc('redis');
}

1;
