package DataStream::Stack;

# Starts the real parts of Data Stream on free loopback ports for one test
# file: redis-server, nats-server with JetStream, nginx with nchan and the
# module (from the shipped conf/nginx template), the consumer, PostgreSQL and
# the CDC bridge. Everything is stopped when the object goes away.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Scalar::Util ();
use Time::HiRes qw(sleep time);

use DataStream::Keys;

my $REPO = abs_path(dirname(__FILE__) . '/../../..');
my @LIVE;    # weak references to every stack, for END

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
    push @LIVE, $self;
    Scalar::Util::weaken($LIVE[-1]);
    return $self;
}

# Stacks still alive at exit are stopped before File::Temp removes their
# directories (its END block runs after this one): otherwise a server still
# writing there races the removal.
END { local $?; $_ && $_->DESTROY for @LIVE }

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

# The read model's Redis is 'redis'; a further server (another name, e.g. a Redis
# Cluster node with args => ['--cluster-enabled', 'yes']) gets its own port and
# directory and the same persistence, so measurements compare like with like.
sub start_redis {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'redis';
    my $port = $self->{ports}{$name} //= free_port();
    mkdir "$self->{dir}/$name";
    $self->spawn($name => {}, 'redis-server', '--port', $port, '--bind', '127.0.0.1',
                 '--save', '', '--appendonly', 'yes', '--dir', "$self->{dir}/$name", @{ $opt{args} // [] });
    wait_for_port($port, 'redis-server');
    return $port;
}

sub stop_redis { $_[0]->kill_proc($_[1] // 'redis') }

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

# The users of conf/nats/nats-server.conf, each with a password made for this stack.
our @NATS_USERS = do {
    open my $fh, '<', "$REPO/conf/nats/nats-server.conf" or die "conf/nats/nats-server.conf: $!";
    map { /^\s*user: (\w+)$/ ? $1 : () } <$fh>;
};

sub nats_password {
    my ($self, $user) = @_;
    return $self->{nats_passwords}{$user} //= join '', map { ('a' .. 'z', 'A' .. 'Z')[rand 52] } 1 .. 32;
}

sub nats_credentials { my ($self, $user) = @_; return ($user, $self->nats_password($user)) }

# nats://<user>:<password>@127.0.0.1:<port>; without a user, the anonymous URL (refused on 4222).
sub nats_url {
    my ($self, $user) = @_;
    my $auth = defined $user ? "$user:" . $self->nats_password($user) . '@' : '';
    return "nats://${auth}127.0.0.1:" . $self->port('nats');
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
            # One scheduler thread, as the nats pod runs (manifests/base/nats.yaml).
            GOMAXPROCS             => 1,
            map { ('DS_NATS_' . uc($_) . '_PASSWORD' => $self->nats_password($_)) } @NATS_USERS,
        }, 'nats-server', '-c', "$REPO/conf/nats/nats-server.conf");
    wait_for_port($port, 'nats-server');
    return $port;
}

sub stop_nats { $_[0]->kill_proc('nats') }

sub nginx_binary { $ENV{DS_NGINX_BINARY} || 'nginx' }

# Renders the shipped nginx.conf template for this stack. Several instances
# (name => 'nginx2') can share one Redis, like replicas behind a load balancer.
sub start_nginx {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'nginx';
    $self->{nginx_opts}{$name} = { %opt };
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
    $self->{nginx_pid}{$name} = read_pid("$run/nginx.pid");
    return $http;
}

sub read_pid {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    my $pid = <$fh> // '';
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub stop_nginx {
    my ($self, $name, $signal) = @_;
    $name //= 'nginx';
    delete $self->{holders}{$name};
    my $run = delete $self->{nginx}{$name} or return;
    # The master removes its pid file before it is gone: a stop right after a QUIT of its own
    # still waits for the process.
    my $pid = read_pid("$run/nginx.pid") // delete $self->{nginx_pid}{$name} or return;
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
    $self->spawn($name => {
            NATS_URL      => $self->nats_url,
            NATS_USER     => 'consumer',
            NATS_PASSWORD => $self->nats_password('consumer'),
            REDIS_URL     => 'redis://127.0.0.1:' . $self->port('redis') . '/0',
            METRICS_PORT  => $metrics,
            CREATE_STREAM => 1,
            LOG_LEVEL     => 'debug',
            %{ $opt{env} // {} },
        }, "$self->{build}/bin/datastream-consumer");
    wait_for_port($metrics, $name);
    return $metrics;
}

sub stop_consumer { $_[0]->kill_proc($_[1] // 'consumer', $_[2]) }

# ---------------------------------------------------------------- PostgreSQL, CDC

our $PG_BIN = '/usr/lib/postgresql/15/bin';

# initdb refuses to run as root: as root, the cluster belongs to the postgres user. Its tools
# run from /, since the test's working directory may be one only root can enter.
sub pg_owner_cmd { return (($> == 0 ? ('runuser', '-u', 'postgres', '--') : ()), 'env', '-C', '/') }

sub pg_admin { return $> == 0 ? 'postgres' : scalar getpwuid($>) }

# Runs @cmd to its end with $input on its stdin, its output appended to <name>.log in the
# stack dir; true when it exited 0.
sub run_logged {
    my ($self, $name, $input, @cmd) = @_;
    my $pid = open(my $to, '|-') // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/$name.log" or die;
        open STDERR, '>&', \*STDOUT or die;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    print $to $input // '';
    return close $to;
}

sub postgres_password { $_[0]{postgres_password} //= join '', map { ('a' .. 'z', 'A' .. 'Z')[rand 52] } 1 .. 32 }

# postgresql://datastream:<password>@127.0.0.1:<port>/datastream: the role that owns the tables
# and may replicate, as the CDC bridge and the rows feed connect.
sub postgres_url {
    my ($self) = @_;
    return 'postgresql://datastream:' . $self->postgres_password . '@127.0.0.1:' . $self->port('postgres') . '/datastream';
}

# PostgreSQL 15 with the settings of conf/postgres/postgresql.conf (wal_level=logical) on a free
# loopback port. The first start makes the cluster in the stack dir, the datastream role
# (LOGIN REPLICATION, postgres_password), its database and the tables of
# conf/postgres/schema.sql; a start after stop_postgres or kill_postgres brings the same cluster
# back on the same port.
sub start_postgres {
    my ($self) = @_;
    my $port = $self->{ports}{postgres} //= free_port();
    my $root = "$self->{dir}/postgres";
    my $data = "$root/data";
    my $admin = pg_admin();
    my $fresh = !-e "$data/PG_VERSION";
    if ($fresh) {
        mkdir $root or die "mkdir $root: $!";
        if ($> == 0) {
            # The postgres user passes through the stack dir; nothing else of it is opened to it.
            my (undef, undef, $uid, $gid) = getpwnam('postgres') or die "no postgres user\n";
            chmod 0711, $self->{dir} or die "chmod $self->{dir}: $!";
            chown $uid, $gid, $root or die "chown $root: $!";
            system(pg_owner_cmd(), 'test', '-x', $root) == 0
                or die "the postgres user cannot reach $root: set TMPDIR to a directory it can enter\n";
        }
        $self->run_logged(initdb => '', pg_owner_cmd(), "$PG_BIN/initdb", '-D', $data, '-U', $admin,
                          '-E', 'UTF8', '--locale=C', '--auth-local=peer', '--auth-host=scram-sha-256',
                          '--no-sync', '--no-instructions')
            or die "initdb failed:\n" . $self->log_of('initdb');
        open my $conf, '>>', "$data/postgresql.conf" or die "$data/postgresql.conf: $!";
        print $conf "include 'datastream.conf'\n";
        close $conf or die;
        open my $in, '<', "$REPO/conf/postgres/postgresql.conf" or die "conf/postgres/postgresql.conf: $!";
        open my $out, '>', "$data/datastream.conf" or die "$data/datastream.conf: $!";
        print {$out} <$in>;
        close $out or die;
        open my $hba, '>', "$data/pg_hba.conf" or die "$data/pg_hba.conf: $!";
        print $hba "local all $admin peer\n",
                   "host datastream datastream 127.0.0.1/32 scram-sha-256\n",
                   "host replication datastream 127.0.0.1/32 scram-sha-256\n";
        close $hba or die;
        chown((getpwnam('postgres'))[2, 3], "$data/datastream.conf") or die "chown: $!" if $> == 0;
    }
    # setpriv, not runuser: runuser would stay as the server's parent and SIGKILL it two seconds
    # after passing it a signal. fsync only matters when the machine itself fails.
    my @as = $> == 0 ? ('setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--') : ();
    my $pid = $self->spawn(postgres => {}, @as, 'env', '-C', '/', "$PG_BIN/postgres", '-D', $data,
                           '-p', $port, '-k', $root, '-c', 'fsync=off');
    my $deadline = time + 30;
    # As the datastream role: a probe that leaves before authenticating is not logged.
    until (system("$PG_BIN/pg_isready", '-q', '-h', '127.0.0.1', '-p', $port, '-U', 'datastream',
                  '-d', 'datastream') == 0)
    {
        die "postgres exited:\n" . $self->log_of('postgres') if waitpid($pid, WNOHANG) == $pid;
        die "postgres did not get ready on port $port\n" if time > $deadline;
        sleep 0.05;
    }
    if ($fresh) {
        my $pw = $self->postgres_password;
        $self->run_logged('postgres-setup',
                          "CREATE ROLE datastream LOGIN REPLICATION PASSWORD '$pw';\n"
                          . "CREATE DATABASE datastream OWNER datastream;\n",
                          pg_owner_cmd(), "$PG_BIN/psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1',
                          '-h', $root, '-p', $port, '-U', $admin, '-d', 'postgres')
            or die "cannot create the datastream role and database:\n" . $self->log_of('postgres-setup');
        open my $fh, '<', "$REPO/conf/postgres/schema.sql" or die "conf/postgres/schema.sql: $!";
        $self->psql(do { local $/; <$fh> });
    }
    return $port;
}

# Runs SQL (any number of statements) as the datastream role; returns what psql -At printed,
# without the last newline. Dies with psql's message when a statement fails.
sub psql {
    my ($self, $sql) = @_;
    # By process: a forked writer and its parent share rand's sequence.
    my $file = "$self->{dir}/psql-$$-" . int(rand 1e9) . '.sql';
    my $err = "$self->{dir}/psql-$$.err";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $sql;
    close $fh or die;
    my $pid = open(my $from, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', $err or die;
        exec "$PG_BIN/psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-f', $file, '-d', $self->postgres_url
            or die "exec psql: $!";
    }
    my $out = do { local $/; <$from> } // '';
    my $ok = close $from;
    unlink $file;
    unless ($ok) {
        open my $e, '<', $err;
        die "psql failed: " . ($e ? do { local $/; <$e> } // '' : '') . "SQL: $sql\n";
    }
    chomp $out;
    return $out;
}

# SIGINT is PostgreSQL's fast shutdown (pg_ctl stop -m fast): clients are disconnected, the
# shutdown checkpoint written.
sub stop_postgres { $_[0]->kill_proc('postgres', $_[1] // 'INT') }

# The processes of a server: its children, whatever their names.
sub child_pids {
    my ($ppid) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        my (undef, $pp) = split ' ', ($line =~ /^.*\)\s+(.*)$/)[0] // next;
        push @pids, $stat =~ m{^/proc/(\d+)/} if ($pp // -1) == $ppid;
    }
    return @pids;
}

sub gone {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $line = <$fh> // return 1;
    return (($line =~ /^.*\)\s+(\S)/)[0] // '') eq 'Z';    # a zombie holds no shared memory
}

# A crash, as an OOM killer or a lost machine would leave it: SIGKILL to the server and every
# process of it. The next start_postgres recovers from the WAL.
sub kill_postgres {
    my ($self) = @_;
    my $pid = $self->{procs}{postgres} or return;
    my @children = child_pids($pid);
    $self->kill_proc('postgres', 'KILL');
    kill 'KILL', @children;
    my $deadline = time + 15;
    sleep 0.05 while grep { !gone($_) } @children and time < $deadline;
}

# Stops PostgreSQL (fast shutdown unless told otherwise; signal => 'KILL' is kill_postgres)
# and starts it again on the same port and cluster.
sub restart_postgres {
    my ($self, %opt) = @_;
    if (($opt{signal} // '') eq 'KILL') {
        $self->kill_postgres;
    } else {
        $self->stop_postgres($opt{signal});
    }
    return $self->start_postgres;
}

# The CDC bridge (tools/cdc) from the stack's PostgreSQL into its JetStream as the debezium
# NATS user; env => {...} overrides or adds settings (SNAPSHOT_MODE, OFFSET_FILE, ...). Waits
# for its metrics port unless METRICS_PORT is 0.
sub start_cdc {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'cdc';
    my ($user, $password) = $self->nats_credentials('debezium');
    my %env = (
        DATABASE_URL  => $self->postgres_url,
        NATS_URL      => $self->nats_url,
        NATS_USER     => $user,
        NATS_PASSWORD => $password,
        CREATE_STREAM => 1,
        OFFSET_FILE   => "$self->{dir}/$name.offsets",
        METRICS_PORT  => $self->{ports}{"${name}_metrics"} //= free_port(),
        %{ $opt{env} // {} },
    );
    $self->spawn($name => \%env, "$self->{build}/bin/datastream-cdc");
    wait_for_port($env{METRICS_PORT}, $name) if $env{METRICS_PORT};
    return $env{METRICS_PORT};
}

sub stop_cdc { $_[0]->kill_proc($_[1] // 'cdc', $_[2]) }
sub kill_cdc { $_[0]->kill_proc($_[1] // 'cdc', 'KILL') }

# ---------------------------------------------------------------- NATS I/O

# Publishes each line as one JetStream message, waiting for every ack.
sub publish {
    my ($self, $subject, @lines) = @_;
    my $file = "$self->{dir}/publish-" . int(rand 1e9) . '.jsonl';
    open my $fh, '>', $file or die;
    print $fh "$_\n" for @lines;
    close $fh;
    system("$self->{build}/bin/datastream-feed pub --create-stream --url " . $self->nats_url('debezium')
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

# ---------------------------------------------------------------- rounds

# The reference games as the feed's `gen games` writes them: slug => [id, name, type].
our %GAMES = (
    crash         => [1, 'Crash',        'multiplier'],
    double        => [2, 'Double',       'color'],
    slot          => [3, 'Slot Machine', 'slots'],
    'wall-street' => [4, 'Wall Street',  'trending'],
);

my $next_lsn = 1_000_000;

# A Debezium games envelope (no schema wrapper) for one game; registers it in %GAMES.
sub game_envelope {
    my ($id, $slug, $name, $type) = @_;
    $GAMES{$slug} = [$id, $name, $type];
    my $lsn = $next_lsn++;
    return qq({"before":null,"after":{"id":$id,"slug":"$slug","name":"$name","type":"$type"},)
         . qq("source":{"version":"3.4.2.Final","connector":"postgresql","name":"datastream","ts_ms":1768621500000,)
         . qq("snapshot":"false","db":"datastream","sequence":"[null,\\"$lsn\\"]","schema":"public","table":"games",)
         . qq("txId":1,"lsn":$lsn,"xmin":null},"transaction":null,"op":"c","ts_ms":1768621500000});
}

# One round insert: returns (Debezium envelope, the round object every surface must carry).
# round_id => N, game => slug; the other fields are derived from the id.
sub round_pair {
    my (%r) = @_;
    my $id = $r{round_id} // die 'round_id';
    my $g = $GAMES{ $r{game} // 'crash' } // die "unknown game $r{game}";
    my $slug = $r{game} // 'crash';
    my $ts = 1768621542000 + $id;
    my $lsn = $next_lsn++;
    my $point = sprintf '%d.%02d', 1 + $id % 50, $id % 100;
    my $extras = qq({\\"point\\": \\"$point\\"});
    my $fin = sprintf '2026-01-17T03:45:%02d.%06dZ', $id % 60, $id % 1000000;
    my $env = qq({"before":null,"after":{"id":$id,"game_id":$g->[0],"finished_at":"$fin","extras":"$extras"},)
            . qq("source":{"version":"3.4.2.Final","connector":"postgresql","name":"datastream","ts_ms":$ts,)
            . qq("snapshot":"false","db":"datastream","sequence":"[null,\\"$lsn\\"]","schema":"public","table":"rounds",)
            . qq("txId":$lsn,"lsn":$lsn,"xmin":null},"transaction":null,"op":"c","ts_ms":$ts});
    my $json = qq({"round_id":$id,"game_id":$g->[0],"game_slug":"$slug","game_type":"$g->[2]",)
             . qq("finished_at":"$fin","extras":"$extras","timestamp":$ts});
    return ($env, $json);
}

# Publishes the reference games (plus any extra game envelopes) and waits until
# the consumer has registered every one of them.
sub seed_games {
    my ($self, @extra) = @_;
    my $feed = "$self->{build}/bin/datastream-feed";
    $self->publish('datastream.public.games', (split /\n/, `'$feed' gen games`), @extra);
    my @slugs = keys %GAMES;
    wait_until('games registry', sub { !grep { $self->redis_cli('HGET', rkey('games'), $_) !~ /\{/ } @slugs }, 20);
}

# Publishes round inserts ([game, round_id] pairs, or round ids of crash) into
# JetStream in this order; returns the round objects expected on every surface.
sub publish_rounds {
    my ($self, @rounds) = @_;
    my (@env, @json);
    for my $r (@rounds) {
        my ($game, $id) = ref $r ? @$r : ('crash', $r);
        my ($e, $j) = round_pair(round_id => $id, game => $game);
        push @env, $e;
        push @json, $j;
    }
    $self->publish('datastream.public.rounds', @env);
    return @json;
}

# Stops an nginx instance (graceful QUIT unless told otherwise) and starts it
# again on the same ports with the same options.
sub restart_nginx {
    my ($self, $name, %opt) = @_;
    $name //= 'nginx';
    $self->stop_nginx($name, $opt{signal});
    return $self->start_nginx(%{ $self->{nginx_opts}{$name} // {} }, name => $name);
}

# Right after start, nchan answers 503 to subscribers until its Redis
# connection is ready (a few ms; /readyz already says 200 then). Waits until
# an SSE subscriber of a registered game (crash unless told) is admitted, as a
# retrying client would.
sub wait_subscribable {
    my ($self, $name, $key, %opt) = @_;
    my $port = $self->http_port($name);
    my $slug = $opt{slug} // 'crash';
    require DataStream::Client;
    wait_until("$name admitting subscribers", sub {
        my $sse = DataStream::Client::sse_connect($port, "/sse/$slug?api_key=$key", timeout => 2);
        my $ok = ($sse->status // 0) == 200;
        $sse->close;
        return $ok;
    }, $opt{timeout} // 10);
}

# For a failing test: the last lines of every server log of this stack, as
# TAP diagnostics (nginx error logs, consumer, NATS, Redis).
sub diag_logs {
    my ($self, $lines) = @_;
    $lines //= 25;
    my @files = ((map { "$_/error.log" } sort glob("$self->{dir}/nginx*")), sort glob("$self->{dir}/*.log"));
    for my $file (@files) {
        open my $fh, '<', $file or next;
        my @l = <$fh>;
        next unless @l;
        (my $name = $file) =~ s{^\Q$self->{dir}\E/}{};
        Test::More::diag("--- $name (last lines)");
        Test::More::diag($_) for map { chomp; $_ } @l[ -(@l < $lines ? @l : $lines) .. -1 ];
    }
}

# nchan 1.3.6 with Redis answers a new subscriber (101, or 200 for SSE)
# before its instance has subscribed to the channel in Redis, when it is the
# first subscriber of that channel there: a message published in the next
# tens of ms is not delivered to it (a resume by id is not affected). This
# keeps one SSE subscriber per channel on the instance and waits until a
# warm-up message (posted to that instance's publisher, {"warmup":N}) reaches
# it, so later subscribers join a live channel. Call it before the test's
# rounds and clients: the warm-up messages stay in the channel's buffer.
# Paths: 'crash', 'type/multiplier'.
sub hold_channels {
    my ($self, $name, $key, @paths) = @_;
    require DataStream::Client;
    my $port = $self->http_port($name);
    my $pub = $self->port("${name}_publish");
    for my $path (@paths) {
        my $channel = $path =~ m{^type/(.+)$} ? "type.$1" : "game.$path";
        my $sse = DataStream::Client::sse_connect($port, "/sse/$path?api_key=$key");
        die "hold $path on $name: $sse->{status}\n" unless ($sse->status // 0) == 200;
        my $ok;
        for my $try (1 .. 20) {
            my $body = qq({"warmup":$try});
            DataStream::Client::http_request(POST => "http://127.0.0.1:$pub/pub/$channel", body => $body,
                                             headers => { 'Content-Type' => 'application/json' });
            my $deadline = time + 1;
            while (my $ev = $sse->next_event($deadline - time)) {
                $ok = 1, last if $ev->{event} eq 'message' && $ev->{data} eq $body;
            }
            last if $ok;
        }
        die "hold $path on $name: the channel never went live\n" unless $ok;
        push @{ $self->{holders}{$name} }, $sse;
    }
}

sub http_port { $_[0]->port(($_[1] // 'nginx') . '_http') }

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
    # PostgreSQL after its clients (the CDC bridge, a feed), Redis last.
    $self->kill_proc($_) for grep { $_ ne 'redis' && $_ ne 'postgres' } keys %{ $self->{procs} };
    $self->stop_postgres;
    $self->kill_proc('redis');
}

1;
