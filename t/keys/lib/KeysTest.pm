package KeysTest;

# Test helpers for datastream-keys: a private redis-server on a free loopback
# port, and a runner that captures the tool's exit code, stdout and stderr.

use strict;
use warnings;
use Exporter 'import';
use File::Spec;
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

our @EXPORT_OK = qw(start_redis stop_redis run_tool redis_cmd tool_path);

my $REPO = File::Spec->rel2abs(File::Spec->catdir($FindBin::Bin, '..', '..'));

sub tool_path {
    my $build = $ENV{DS_BUILD_DIR} // File::Spec->catdir($REPO, 'build');
    return File::Spec->catfile($build, 'bin', 'datastream-keys');
}

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "cannot bind a loopback port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

# Runs a command with the given environment additions; returns
# (exit code, stdout, stderr).
sub run_capture {
    my ($env, @cmd) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my ($out, $err) = map { File::Spec->catfile($dir, $_) } qw(out err);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        @ENV{keys %$env} = values %$env;
        delete @ENV{grep { !defined $ENV{$_} } keys %ENV};
        open STDIN, '<', File::Spec->devnull or die;
        open STDOUT, '>', $out or die;
        open STDERR, '>', $err or die;
        exec @cmd or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    my @text = map { local (@ARGV, $/) = ($_); <> // '' } $out, $err;
    return ($rc, @text);
}

# Extra redis-server arguments may be given (e.g. --requirepass).
sub start_redis {
    my @extra = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $port = free_port();
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', File::Spec->catfile($dir, 'redis.log') or die;
        open STDERR, '>&', \*STDOUT or die;
        exec 'redis-server', '--port', $port, '--bind', '127.0.0.1', '--dir', $dir,
             '--save', '', '--appendonly', 'no', @extra or POSIX::_exit(127);
    }
    my $redis = { pid => $pid, port => $port, dir => $dir };
    # Wait for the listener; a server that exits early fails the run at once.
    for (1 .. 400) {
        die "redis-server exited during startup" if waitpid($pid, WNOHANG) == $pid;
        return $redis if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
        sleep 0.025;
    }
    stop_redis($redis);
    die "redis-server did not start on port $port";
}

sub stop_redis {
    my ($redis) = @_;
    kill 'TERM', $redis->{pid};
    waitpid($redis->{pid}, 0);
}

# datastream-keys against this server; extra environment may be given as a
# leading hash ref.
sub run_tool {
    my $redis = shift;
    my $env = ref $_[0] eq 'HASH' ? shift : {};
    # The prefix the tests expect (DataStream::Keys::rkey_prefix): the default unless set.
    my %env = (REDIS_URL => "redis://127.0.0.1:$redis->{port}/0",
               REDIS_PREFIX => $ENV{TEST_DATASTREAM_PREFIX}, %$env);
    return run_capture(\%env, tool_path(), @_);
}

# One Redis command over RESP, so values come back byte-exact (redis-cli
# would hide empty strings). Returns a scalar or an array ref.
sub redis_cmd {
    my ($redis, @args) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $redis->{port})
        or die "connect redis: $!";
    print {$sock} '*' . @args . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @args;
    my $reply = read_reply($sock);
    close $sock;
    return $reply;
}

sub read_reply {
    my ($sock) = @_;
    my $line = <$sock> // die "redis closed the connection";
    $line =~ s/\r\n\z//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+' || $type eq ':';
    die "redis error: $rest" if $type eq '-';
    if ($type eq '$') {
        return undef if $rest < 0;
        read($sock, my $data, $rest + 2) == $rest + 2 or die "short read";
        return substr($data, 0, $rest);
    }
    return $rest < 0 ? undef : [map { read_reply($sock) } 1 .. $rest] if $type eq '*';
    die "unexpected redis reply: $line";
}

1;
