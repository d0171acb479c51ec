# A live stream's frames leave as they come: the backend's socket of every WebSocket and SSE
# subscriber has TCP_NODELAY set. Without it (nginx sets it only on keepalive, SSL and
# proxied upgraded connections, never on nchan's subscribers) Nagle's algorithm holds each
# frame until the client acknowledged the one before, up to the client's delayed-ACK time:
# measured as 25-40 ms stalls of whole runs of rounds at 2 500 rounds/s. The option is read
# off the worker's own socket (pidfd_getfd), so the test needs no timing. A connection that
# is still sending its request head is the control: the check can tell the two apart.
use strict;
use warnings;
use Test::More;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use POSIX ();
use Time::HiRes qw(sleep);

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token);
use DataStream::Keys qw(rkey);

use constant { SYS_PIDFD_OPEN => 434, SYS_PIDFD_GETFD => 438 };

my $stack = DataStream::Stack->new;
$stack->start_redis;
my $port = $stack->start_nginx;
# The authorizer admits subscribers of registered games and types; no round has to flow.
$stack->redis_cli('HSET', rkey('games'), crash => '{"slug":"crash","type":"multiplier"}');
my $sk = $stack->api_key(kind => 'sk');
$stack->wait_subscribable(nginx => $sk);
my ($worker) = DataStream::Stack::child_pids($stack->{nginx_pid}{nginx});
ok $worker, 'the nginx worker';

# The inode of the worker's socket whose peer is the client at $client_port.
sub server_inode {
    my ($client_port) = @_;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $table or next;
        while (<$fh>) {
            my @f = split;
            next unless ($f[1] // '') =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
            next unless ($f[2] // '') =~ /:([0-9A-F]{4})$/ && hex($1) == $client_port;
            return $f[9];
        }
    }
    return undef;
}

# TCP_NODELAY of the worker's end of the client's connection: 1 or 0, undef when not found.
sub server_nodelay {
    my ($sock) = @_;
    my $inode = server_inode($sock->sockport) // return undef;
    my ($fd) = grep { (readlink("/proc/$worker/fd/$_") // '') eq "socket:[$inode]" }
        map { m{/(\d+)$} } glob "/proc/$worker/fd/*";
    return undef unless defined $fd;
    my $pidfd = syscall(SYS_PIDFD_OPEN, $worker + 0, 0);
    return undef if $pidfd < 0;
    my $copy = syscall(SYS_PIDFD_GETFD, $pidfd + 0, $fd + 0, 0);
    POSIX::close($pidfd);
    return undef if $copy < 0;
    open my $fh, '+<&=', $copy or return undef;
    my $v = getsockopt($fh, IPPROTO_TCP, TCP_NODELAY);
    close $fh;
    return defined $v ? (unpack('i', $v) ? 1 : 0) : undef;
}

my $sse = sse_connect($port, "/sse/crash?api_key=$sk");
is $sse->status, 200, 'SSE subscriber admitted';
is server_nodelay($sse->{sock}), 1, 'SSE subscriber: TCP_NODELAY on the server side';

my $ws = ws_connect($port, '/ws/crash', protocol => mint_token($port, $sk));
is server_nodelay($ws->{sock}), 1, 'WebSocket subscriber: TCP_NODELAY on the server side';

my $fresh = sse_connect($port, "/sse/type/multiplier?api_key=$sk", headers => { 'Last-Event-ID' => '0:0' });
is server_nodelay($fresh->{sock}), 1, 'resuming SSE subscriber: TCP_NODELAY on the server side';

# The control: a connection nginx accepted and is reading a request head from.
my $rest = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die "connect: $!";
syswrite $rest, "GET /api/games HTTP/1.1\r\nHost: 127.0.0.1\r\n";
my $control;
for (1 .. 50) { last if defined($control = server_nodelay($rest)); sleep 0.05 }
is $control, 0, 'control: a connection that is no subscriber has no TCP_NODELAY (the check tells them apart)';

$_->close for $sse, $ws, $fresh;
close $rest;
done_testing;
