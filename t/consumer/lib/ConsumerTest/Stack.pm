package ConsumerTest::Stack;
# Starts the servers the consumer talks to (redis-server, nats-server -js, nginx + nchan) on
# free loopback ports in a temporary directory, and the consumer itself.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use JSON::PP;
use lib dirname(__FILE__) . '/../../../lib';
use DataStream::Stack;
use ConsumerTest::Nats;

# Ports and processes the same way as the full-stack helper (same dir/procs fields).
*free_port = \&DataStream::Stack::free_port;
*spawn     = \&DataStream::Stack::spawn;

our $REPO = abs_path(dirname(__FILE__) . '/../../../..');
my $NCHAN_SO = $ENV{DS_NCHAN_MODULE} || '/usr/lib/nginx/modules/ngx_nchan_module.so';

sub new {
    my ($class, %opt) = @_;
    my $build = $ENV{DS_BUILD_DIR} || "$REPO/build";
    my $self = bless {
        dir => tempdir('ds-consumer-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{DS_KEEP_TMP}),
        consumer_bin => $ENV{DS_CONSUMER_BIN} || "$build/bin/datastream-consumer",
        procs => {}, ports => {}, prefix => 'datastream',
    }, $class;
    $self->{ports}{$_} = free_port() for qw(redis nats nginx);
    return $self;
}

sub dir    { $_[0]{dir} }
sub port   { $_[0]{ports}{ $_[1] } }
sub prefix { $_[0]{prefix} }

sub port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub wait_until {
    my ($what, $timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    die "timed out waiting for $what";
}

sub pid { $_[0]{procs}{ $_[1] } }

# Stops a process and returns its exit status (as from waitpid).
sub stop {
    my ($self, $name, $signal) = @_;
    my $pid = delete $self->{procs}{$name} or return undef;
    kill $signal // 'TERM', $pid;
    my $deadline = time + 30;
    while (time < $deadline) {
        return $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return $?;
}

sub log_of {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/$name.log" or return '';
    local $/;
    return <$fh>;
}

sub start_redis {
    my $self = shift;
    my $port = $self->port('redis');
    $self->spawn(redis => {}, 'redis-server', '--port', $port, '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no', '--dir', $self->{dir}, '--dbfilename', 'redis.rdb');
    wait_until('redis', 10, sub { port_open($port) });
}

# Saves the dataset and stops Redis, so that start_redis brings the same data back.
sub shutdown_redis {
    my $self = shift;
    $self->redis('SHUTDOWN', 'SAVE');
    my $pid = delete $self->{procs}{redis};
    waitpid $pid, 0 if $pid;
}

sub start_nats {
    my $self = shift;
    my $port = $self->port('nats');
    mkdir "$self->{dir}/js";
    $self->spawn(nats => {}, 'nats-server', '-js', '-a', '127.0.0.1', '-p', $port, '-sd', "$self->{dir}/js");
    wait_until('nats', 10, sub { port_open($port) });
}

# nchan reads its channels from the stack's Redis, where the consumer writes them, as in the
# shipped configuration: the tests read what the consumer published through it.
sub start_nginx {
    my ($self) = @_;
    my $port = $self->port('nginx');
    my $d = $self->{dir};
    my $upstream = "upstream nchan_redis { nchan_redis_server redis://127.0.0.1:" . $self->port('redis') . "; }";
    my $pass = 'nchan_redis_pass nchan_redis;';
    mkdir "$d/nginx";
    mkdir "$d/nginx/logs";
    open my $fh, '>', "$d/nginx/nginx.conf" or die;
    print $fh <<"CONF";
load_module $NCHAN_SO;
master_process on;
daemon off;
worker_processes 1;
pid $d/nginx/nginx.pid;
error_log $d/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $d/nginx/body;
    proxy_temp_path $d/nginx/proxy;
    fastcgi_temp_path $d/nginx/fastcgi;
    uwsgi_temp_path $d/nginx/uwsgi;
    scgi_temp_path $d/nginx/scgi;
    nchan_message_buffer_length 1000;
    $upstream
    server {
        listen 127.0.0.1:$port;
        location ~ ^/pub/(.+)\$ {
            nchan_publisher;
            nchan_channel_id \$1;
            nchan_channel_id_split_delimiter ",";
            $pass
            # as conf/nginx/nginx.conf.template: a batch of rounds stays in memory
            client_max_body_size 1m;
            client_body_buffer_size 1m;
        }
        location ~ ^/sub/(.+)\$ {
            nchan_subscriber longpoll;
            nchan_channel_id \$1;
            nchan_subscriber_first_message oldest;
            $pass
        }
    }
}
CONF
    close $fh;
    $self->spawn(nginx => {}, 'nginx', '-p', "$d/nginx", '-c', "$d/nginx/nginx.conf", '-e', "$d/nginx/logs/error.log");
    wait_until('nginx', 10, sub { port_open($port) });
}

sub start_all {
    my $self = shift;
    $self->start_redis;
    $self->start_nats;
    $self->start_nginx;
}

sub consumer_env {
    my ($self, %extra) = @_;
    return {
        NATS_URL => 'nats://127.0.0.1:' . $self->port('nats'),
        REDIS_URL => 'redis://127.0.0.1:' . $self->port('redis') . '/0',
        PREFIX => $self->{prefix},
        CREATE_STREAM => 1,
        FETCH_TIMEOUT_MS => 300,
        NAK_DELAY_BASE_MS => 100,
        NAK_DELAY_MAX_MS => 1000,
        LAG_REFRESH_MS => 200,
        ACK_WAIT => 5,
        %extra,
    };
}

# Starts a consumer instance and waits until its durables exist and /healthz answers.
sub start_consumer {
    my ($self, $name, %extra) = @_;
    $name //= 'consumer';
    my $mport = free_port();
    $self->{metrics_port}{$name} = $mport;
    $self->spawn($name => $self->consumer_env(METRICS_PORT => $mport, %extra), $self->{consumer_bin});
    wait_until("$name healthz", 15, sub { ($self->http_get($name, '/healthz')->{status} // 0) == 200 });
    wait_until("$name subscribed", 15, sub { $self->log_of($name) =~ /"msg":"subscribed".*"durable":"cdc-public-rounds"/s });
    return $mport;
}

sub http_get {
    my ($self, $name, $path) = @_;
    return HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$self->{metrics_port}{$name}$path");
}

sub metric {
    my ($self, $name, $series) = @_;
    my $body = $self->http_get($name, '/metrics')->{content} // '';
    return $body =~ /^\Q$series\E (\S+)$/m ? $1 + 0 : undef;
}

sub nats {
    my $self = shift;
    return $self->{nats_client} //= ConsumerTest::Nats->new($self->port('nats'));
}

sub drop_nats_client { my $self = shift; my $c = delete $self->{nats_client}; $c->close if $c }

sub publish_rounds { my ($self, @events) = @_; $self->nats->js_publish("$self->{prefix}.public.rounds", $_) for @events }
sub publish_games  { my ($self, @events) = @_; $self->nats->js_publish("$self->{prefix}.public.games", $_) for @events }

sub redis {
    my ($self, @args) = @_;
    open my $fh, '-|', 'redis-cli', '-p', $self->port('redis'), '--raw', @args or die "redis-cli: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    $out =~ s/\n\z// if defined $out;
    return $out;
}

# Lines of `redis-cli --raw` output as a list (empty list for an empty answer).
sub redis_list { my $out = shift->redis(@_); return length($out // '') ? split /\n/, $out : () }

# Number of round objects nchan holds for a channel: the consumer publishes the rounds of a
# channel that a batch holds as one message, joined by "\n". The publisher location answers GET
# with the message count; the longpoll subscriber (oldest first) walks the messages.
sub nchan_rounds {
    my ($self, $channel) = @_;
    my $http = HTTP::Tiny->new(timeout => 5);
    my $base = "http://127.0.0.1:" . $self->port('nginx');
    my $r = $http->get("$base/pub/$channel", { headers => { Accept => 'text/json' } });
    return 0 if $r->{status} == 404;
    my $messages = decode_json($r->{content})->{messages};
    my ($rounds, %next) = (0);
    for (1 .. $messages) {
        $r = $http->get("$base/sub/$channel", { headers => \%next });
        last unless $r->{status} == 200;
        $rounds += () = $r->{content} =~ /^./mg;
        %next = ('If-Modified-Since' => $r->{headers}{'last-modified'},
                 'If-None-Match' => $r->{headers}{etag});
    }
    return $rounds;
}

sub consumer_lag {
    my ($self, $durable) = @_;
    my $info = $self->nats->js_api("CONSUMER.INFO.DebeziumStream.$durable");
    return $info->{num_pending} + $info->{num_ack_pending};
}

sub DESTROY {
    my $self = shift;
    $self->drop_nats_client;
    for my $name (grep { /consumer/ } keys %{ $self->{procs} }) { $self->stop($name, 'KILL') }
    $self->stop($_) for keys %{ $self->{procs} };
}

1;
