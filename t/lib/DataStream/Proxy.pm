package DataStream::Proxy;

# A TCP load balancer on loopback, in a child process, standing in for what
# sits between a client and a server: the ALB in front of a backend pod's
# port 3000 during a rollout, the network between the consumer and Redis.
#
# Every new connection goes to the current target. deregister($port, $delay)
# sends new connections to another target from then on and, once $delay
# seconds have passed, closes every connection still open to the old one
# without a word (no WebSocket close frame, no last chunk): what an ALB does
# when a target's deregistration delay ends. Bytes are relayed as they come,
# so a close frame or last chunk the backend sends reaches the client before
# the backend's FIN does.
#
# answers($mode) stands in for a network that loses a backend's answers after
# the request got through: 'hold' discards what backends send and keeps the
# connections open (an answer that never comes), 'cut' discards it and closes
# the connection as soon as the backend answered, 'pass' (the default) relays.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);

sub new {
    my ($class, %opt) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128, ReuseAddr => 1)
        or die "proxy listen: $!";
    pipe(my $ctl_r, my $ctl_w) or die "pipe: $!";
    pipe(my $stat_r, my $stat_w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $ctl_w;
        close $stat_r;
        eval { relay($listen, $ctl_r, $stat_w, $opt{target}); 1 } or warn "proxy: $@";
        POSIX::_exit(0);
    }
    close $ctl_r;
    close $stat_w;
    $ctl_w->autoflush(1);
    my $port = $listen->sockport;
    close $listen;
    return bless { pid => $pid, port => $port, ctl => $ctl_w, stat => $stat_r, forced => 0 }, $class;
}

sub port { $_[0]{port} }

sub deregister {
    my ($self, $target, $delay) = @_;
    print { $self->{ctl} } "deregister $target $delay\n";
}

# Connections the proxy closed itself when a deregistration delay ended.
sub answers {
    my ($self, $mode) = @_;
    print { $self->{ctl} } "answers $mode\n";
}

sub forced {
    my ($self) = @_;
    my $sel = IO::Select->new($self->{stat});
    while ($sel->can_read(0)) {
        sysread($self->{stat}, my $buf, 4096) or last;
        $self->{forced} += $_ for $buf =~ /forced (\d+)\n/g;
    }
    return $self->{forced};
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { local $?; $_[0]->stop }

# ---------------------------------------------------------------- the child

sub relay {
    my ($listen, $ctl, $stat, $target) = @_;
    $stat->autoflush(1);
    my $sel = IO::Select->new($listen, $ctl);
    my %peer;       # fileno => the other socket of its pair
    my %sock;       # fileno => socket
    my %target_of;  # fileno => target port of its pair
    my %upstream;   # fileno => 1 for the backend's side of a pair
    my @cutoffs;    # [time, old target]
    my $answers = 'pass';
    my $drop = sub {
        my ($s) = @_;
        my @pair = ($s, $peer{ fileno $s });
        for my $x (@pair) {
            next unless $x;
            my $fd = fileno $x;
            next unless defined $fd;
            $sel->remove($x);
            delete $peer{$fd};
            delete $sock{$fd};
            delete $target_of{$fd};
            delete $upstream{$fd};
            close $x;
        }
    };
    while (1) {
        my $wait = @cutoffs ? $cutoffs[0][0] - time : 1;
        $wait = 0 if $wait < 0;
        for my $r ($sel->can_read($wait)) {
            next unless defined fileno $r;   # closed with its peer earlier in this round
            if ($r == $listen) {
                my $client = $listen->accept or next;
                my $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $target, Timeout => 2);
                if (!$up) { close $client; next }
                for ([$client, $up], [$up, $client]) {
                    my ($a, $b) = @$_;
                    $peer{ fileno $a } = $b;
                    $sock{ fileno $a } = $a;
                    $target_of{ fileno $a } = $target;
                    $sel->add($a);
                }
                $upstream{ fileno $up } = 1;
            } elsif ($r == $ctl) {
                my $n = sysread($ctl, my $line, 4096);
                return unless $n;
                for (split /\n/, $line) {
                    my ($cmd, $new, $delay) = split / /;
                    if ($cmd eq 'answers') { $answers = $new; next }
                    next unless $cmd eq 'deregister';
                    push @cutoffs, [time + $delay, $target];
                    @cutoffs = sort { $a->[0] <=> $b->[0] } @cutoffs;
                    $target = $new;
                }
            } elsif ($peer{ fileno $r }) {
                my $n = sysread($r, my $buf, 65536);
                if (!$n) { $drop->($r); next }
                if ($upstream{ fileno $r } && $answers ne 'pass') {
                    $drop->($r) if $answers eq 'cut';
                    next;
                }
                my $out = $peer{ fileno $r };
                my $off = 0;
                while ($off < $n) {
                    my $w = syswrite($out, $buf, $n - $off, $off);
                    if (!defined $w) { $drop->($r); last }
                    $off += $w;
                }
            }
        }
        while (@cutoffs && $cutoffs[0][0] <= time) {
            my (undef, $old) = @{ shift @cutoffs };
            my %cut;
            for my $fd (keys %target_of) {
                next unless $target_of{$fd} == $old;
                my $s = $sock{$fd};
                my $p = $peer{$fd};
                next unless $s && $p;
                $cut{ join ',', sort { $a <=> $b } fileno($s), fileno($p) } = $s;
            }
            $drop->($_) for values %cut;
            print $stat 'forced ' . scalar(keys %cut) . "\n";
        }
    }
}

1;
