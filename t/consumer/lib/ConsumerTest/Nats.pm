package ConsumerTest::Nats;
# Minimal NATS text-protocol client for the tests: core publish/subscribe with headers and
# JetStream publish (a PUB with a reply inbox, answered by the stream's +ack JSON).
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time);

# $user and $password: for a server that requires them (conf/nats/nats-server.conf).
sub new {
    my ($class, $port, $user, $password) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
        or die "nats connect $port: $!";
    binmode $sock;
    my $self = bless { sock => $sock, buf => '', sid => 0, msgs => [] }, $class;
    $self->_line(5) =~ /^INFO / or die 'no INFO from nats';
    my %connect = (verbose => JSON::PP::false, pedantic => JSON::PP::false,
                   headers => JSON::PP::true, no_responders => JSON::PP::true);
    @connect{qw(user pass)} = ($user, $password) if defined $user;
    $self->_send('CONNECT ' . JSON::PP->new->canonical->encode(\%connect) . "\r\nPING\r\n");
    $self->_wait_pong(5);
    return $self;
}

sub _send { my ($self, $data) = @_; print { $self->{sock} } $data or die "nats write: $!" }

sub _fill {
    my ($self, $deadline) = @_;
    my $left = $deadline - time;
    return 0 if $left <= 0;
    return 0 unless IO::Select->new($self->{sock})->can_read($left);
    my $n = sysread $self->{sock}, my $chunk, 65536;
    die 'nats connection closed' unless $n;
    $self->{buf} .= $chunk;
    return 1;
}

sub _line {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    while (1) {
        if ((my $i = index $self->{buf}, "\r\n") >= 0) {
            my $line = substr $self->{buf}, 0, $i;
            substr($self->{buf}, 0, $i + 2) = '';
            return $line;
        }
        $self->_fill($deadline) or return undef;
    }
}

sub _bytes {
    my ($self, $n, $deadline) = @_;
    while (length $self->{buf} < $n + 2) {
        $self->_fill($deadline) or die 'nats: truncated message';
    }
    my $data = substr $self->{buf}, 0, $n;
    substr($self->{buf}, 0, $n + 2) = '';
    return $data;
}

# Reads one protocol item; returns a message hash, 'PONG', or undef on timeout.
sub _read_item {
    my ($self, $deadline) = @_;
    while (1) {
        my $line = $self->_line($deadline - time);
        return undef unless defined $line;
        if ($line eq 'PING') { $self->_send("PONG\r\n"); next }
        return 'PONG' if $line eq 'PONG';
        next if $line =~ /^(\+OK|INFO )/;
        die "nats error: $line" if $line =~ /^-ERR/;
        my ($verb, @f) = split ' ', $line;
        if ($verb eq 'MSG') {
            my ($subject, $sid, $reply, $len) = @f == 4 ? @f : ($f[0], $f[1], undef, $f[2]);
            my $data = $self->_bytes($len, $deadline + 5);
            return { subject => $subject, sid => $sid, reply => $reply, data => $data, headers => {} };
        }
        if ($verb eq 'HMSG') {
            my ($subject, $sid, $reply, $hlen, $tlen) = @f == 5 ? @f : ($f[0], $f[1], undef, $f[2], $f[3]);
            my $all = $self->_bytes($tlen, $deadline + 5);
            my ($head, $data) = (substr($all, 0, $hlen), substr($all, $hlen));
            my %h;
            for my $l (split /\r\n/, $head) {
                $h{$1} = $2 if $l =~ /^([^:]+):\s*(.*)$/;
            }
            return { subject => $subject, sid => $sid, reply => $reply, data => $data, headers => \%h };
        }
        die "nats: unexpected line '$line'";
    }
}

sub _wait_pong {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $item = $self->_read_item($deadline) // die 'nats: no PONG';
        return if !ref $item && $item eq 'PONG';
        push @{ $self->{msgs} }, $item;
    }
}

sub subscribe {
    my ($self, $subject) = @_;
    my $sid = ++$self->{sid};
    $self->_send("SUB $subject $sid\r\nPING\r\n");
    $self->_wait_pong(5);
    return $sid;
}

# Collects messages of subscription $sid until $count arrived or $timeout seconds passed.
sub messages {
    my ($self, $sid, $count, $timeout) = @_;
    my $deadline = time + $timeout;
    my (@got, @keep);
    for my $m (@{ $self->{msgs} }) {
        if ($m->{sid} == $sid) { push @got, $m } else { push @keep, $m }
    }
    $self->{msgs} = \@keep;
    while (@got < $count) {
        my $item = $self->_read_item($deadline) // last;
        next unless ref $item;
        if ($item->{sid} == $sid) { push @got, $item } else { push @{ $self->{msgs} }, $item }
    }
    return @got;
}

# Core publish; returns once the server has it (PING / PONG).
sub publish {
    my ($self, $subject, $data) = @_;
    $self->_send(sprintf "PUB %s %d\r\n%s\r\nPING\r\n", $subject, length $data, $data);
    $self->_wait_pong(5);
}

# JetStream publish: waits for the stream's ack and returns its JSON.
sub js_publish {
    my ($self, $subject, $data, $headers) = @_;
    my $inbox = '_INBOX.t' . int(rand 1e9);
    my $sid = $self->subscribe($inbox);
    if ($headers && %$headers) {
        my $h = "NATS/1.0\r\n" . join('', map { "$_: $headers->{$_}\r\n" } sort keys %$headers) . "\r\n";
        $self->_send(sprintf "HPUB %s %s %d %d\r\n%s%s\r\n", $subject, $inbox, length $h,
            length($h) + length($data), $h, $data);
    } else {
        $self->_send(sprintf "PUB %s %s %d\r\n%s\r\n", $subject, $inbox, length $data, $data);
    }
    my ($ack) = $self->messages($sid, 1, 10);
    $self->_send("UNSUB $sid\r\n");
    die "no JetStream ack for $subject" unless $ack;
    my $json = decode_json($ack->{data});
    die "JetStream error: $ack->{data}" if $json->{error};
    return $json;
}

# JetStream publish of many messages in one pipeline; waits for every ack.
sub js_publish_many {
    my ($self, $subject, @data) = @_;
    my $inbox = '_INBOX.m' . int(rand 1e9);
    my $sid = $self->subscribe($inbox);
    $self->_send(join '', map { sprintf "PUB %s %s %d\r\n%s\r\n", $subject, $inbox, length $_, $_ } @data);
    my @acks = $self->messages($sid, scalar @data, 60);
    $self->_send("UNSUB $sid\r\n");
    die sprintf 'only %d of %d JetStream acks', scalar @acks, scalar @data if @acks != @data;
    return scalar @acks;
}

# JetStream API request ($JS.API.<what>) with a JSON body; returns the decoded answer.
sub js_api {
    my ($self, $what, $body) = @_;
    my $inbox = '_INBOX.api' . int(rand 1e9);
    my $sid = $self->subscribe($inbox);
    $body //= '';
    $self->_send(sprintf "PUB \$JS.API.%s %s %d\r\n%s\r\n", $what, $inbox, length $body, $body);
    my ($answer) = $self->messages($sid, 1, 10);
    $self->_send("UNSUB $sid\r\n");
    die "no answer to \$JS.API.$what" unless $answer;
    return decode_json($answer->{data});
}

sub close { my $self = shift; close $self->{sock} if $self->{sock}; delete $self->{sock} }

1;
