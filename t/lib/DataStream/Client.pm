package DataStream::Client;

# Client sides of the backend's three protocols, for tests: REST (HTTP/1.1),
# WebSocket (RFC 6455 via Protocol::WebSocket) and Server-Sent Events.

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use Protocol::WebSocket::Frame;
use Protocol::WebSocket::Handshake::Client;
use POSIX ();
use Time::HiRes qw(time);

our @EXPORT_OK = qw(http_request ws_connect ws_handshake sse_connect mint_token ws_meta_split publish_in_background);

# Up to $n items from $next->(seconds left), fewer when one deadline (default 10 s) passes or
# $next returns undef.
sub collect_n {
    my ($n, $timeout, $next) = @_;
    my $deadline = time + ($timeout // 10);
    my @got;
    while (@got < $n) {
        my $left = $deadline - time;
        last if $left <= 0;
        my $item = $next->($left);
        last unless defined $item;
        push @got, $item;
    }
    return @got;
}

# Publishes each of @$bodies to $channel through nchan's publisher endpoint on $pub_port, one
# every $pause seconds, from a child process, so that the caller reads while they flow. The
# child's pid; it exits 0 once nchan took every one, 1 at the first refusal.
sub publish_in_background {
    my ($pub_port, $channel, $bodies, $pause) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    for my $body (@$bodies) {
        my $res = http_request(POST => "http://127.0.0.1:$pub_port/pub/$channel", body => $body,
                               headers => { 'Content-Type' => 'application/json' });
        POSIX::_exit(1) unless $res->{status} == 201 || $res->{status} == 202;
        Time::HiRes::sleep($pause);
    }
    POSIX::_exit(0);
}

# Returns { status, headers (lower-case names), content }.
sub http_request {
    my ($method, $url, %opt) = @_;
    my $res = HTTP::Tiny->new(timeout => $opt{timeout} // 10, keep_alive => 0)
        ->request($method, $url, { headers => $opt{headers} // {}, (defined $opt{body} ? (content => $opt{body}) : ()) });
    return $res;
}

# A fresh streaming token (tok_...) minted from an API key, or dies.
sub mint_token {
    my ($port, $key, %opt) = @_;
    my $res = http_request(POST => "http://127.0.0.1:$port/api/auth/token",
                           headers => { 'X-API-Key' => $key, %{ $opt{headers} // {} } });
    my ($token) = $res->{status} == 200 ? $res->{content} =~ /"token":"(tok_[^"]+)"/ : ();
    return $token // die "token: $res->{status} $res->{content}\n";
}

# A frame of nchan's ws+meta.nchan subprotocol: "id: <id>\n[content-type: …\n]\n<data>".
# Returns (id, data), or () for a frame in another shape.
sub ws_meta_split {
    my ($frame) = @_;
    return () unless defined $frame && $frame =~ /\A((?:[a-z-]+: [^\n]*\n)+)\n(.*)\z/s;
    my ($head, $data) = ($1, $2);
    my ($id) = $head =~ /^id: ([^\n]*)$/m;
    return ($id, $data);
}

# ---------------------------------------------------------------- WebSocket

# Connects and completes the handshake. Returns the client, or dies with the
# HTTP status line when the server refuses the upgrade.
sub ws_connect {
    my ($port, $path, %opt) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or die "connect: $!";
    $sock->autoflush(1);
    my $hs = Protocol::WebSocket::Handshake::Client->new(url => "ws://127.0.0.1:$port$path");
    my $req = $hs->to_string;
    my $extra = '';
    $extra .= "Sec-WebSocket-Protocol: $opt{protocol}\r\n" if defined $opt{protocol};
    $extra .= "$_: $opt{headers}{$_}\r\n" for keys %{ $opt{headers} // {} };
    # An Origin given by the caller replaces the handshake library's default
    # one (two Origin headers would leave the server to pick either).
    $req =~ s/^Origin: [^\r]*\r\n//mi if grep { lc eq 'origin' } keys %{ $opt{headers} // {} };
    $req =~ s/\r\n\r\n$/\r\n$extra\r\n/;
    print $sock $req;

    my $head = '';
    my $deadline = time + ($opt{timeout} // 5);
    while ($head !~ /\r\n\r\n/) {
        die "handshake timed out\n" if time > $deadline;
        my $n = sysread($sock, my $buf, 4096);
        die "connection closed during handshake: $head\n" unless $n;
        $head .= $buf;
    }
    my ($headers, $rest) = split /\r\n\r\n/, $head, 2;
    my ($status) = $headers =~ m{^HTTP/1\.\d (\d{3})};
    my %h = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k => $v) } grep { /:/ } split /\r\n/, $headers;
    if ($opt{keep_refusal} && !($status && $status == 101)) {
        # The refusal's body, by Content-Length (or up to EOF).
        my $body = $rest // '';
        my $len = $h{'content-length'};
        while (!defined $len || length $body < $len) {
            last if time > $deadline;
            my $n = sysread($sock, my $buf, 4096) or last;
            $body .= $buf;
        }
        close $sock;
        die { status => $status, headers => \%h, body => $body };
    }
    die "handshake refused: $status\n" unless $status && $status == 101;
    my $frame = Protocol::WebSocket::Frame->new(max_payload_size => 1 << 20);
    $frame->append($rest) if length $rest;
    return bless { sock => $sock, frame => $frame, headers => \%h }, 'DataStream::Client::WebSocket';
}

# Like ws_connect, but a refused upgrade is an answer, not an error: returns
# { status, headers, body, ws } where ws is the connected client on 101.
sub ws_handshake {
    my ($port, $path, %opt) = @_;
    my $ws = eval { ws_connect($port, $path, %opt, keep_refusal => 1) };
    return { status => 101, headers => $ws->{headers}, body => '', ws => $ws } if $ws;
    my $err = $@;
    return $err if ref $err eq 'HASH';
    die $err;
}

package DataStream::Client::WebSocket;

use POSIX ();
use Time::HiRes qw(time);

sub header { $_[0]{headers}{ lc $_[1] } }

# The next text message, or undef after `timeout` seconds or on close.
sub recv {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        while (defined(my $msg = $self->{frame}->next_bytes)) {
            my $op = $self->{frame}->opcode;
            if ($op == 8) {
                $self->{closed} = 1;
                ($self->{close_code}, $self->{close_reason}) = length $msg >= 2 ? unpack('n a*', $msg) : (1005, '');
                return undef;
            }
            if ($op == 9) { $self->send_frame($msg, 'pong'); next }
            next if $op == 10;
            return $msg;
        }
        return undef if $self->{closed};
        my $left = $deadline - time;
        return undef if $left <= 0;
        my $sel = IO::Select->new($self->{sock});
        next unless $sel->can_read($left);
        my $n = sysread($self->{sock}, my $buf, 65536);
        if (!$n) { $self->{closed} = 1; return undef }
        $self->{frame}->append($buf);
    }
}

sub send_frame {
    my ($self, $data, $type) = @_;
    my $f = Protocol::WebSocket::Frame->new(buffer => $data, type => $type // 'text', masked => 1);
    syswrite($self->{sock}, $f->to_bytes);
}

sub closed { $_[0]{closed} }

# Up to $n text messages, fewer if `timeout` seconds pass first (one deadline for all).
sub recv_n {
    my ($self, $n, $timeout) = @_;
    return DataStream::Client::collect_n($n, $timeout, sub { $self->recv($_[0]) });
}

# Status code and reason of the server's close frame (1005: none given).
sub close_code   { $_[0]{close_code} }
sub close_reason { $_[0]{close_reason} }

sub close {
    my ($self) = @_;
    $self->send_frame('', 'close') unless $self->{closed};
    close $self->{sock};
}

package DataStream::Client;

# ---------------------------------------------------------------- SSE

sub sse_connect {
    my ($port, $path, %opt) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or die "connect: $!";
    my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nAccept: text/event-stream\r\n";
    $req .= "$_: $opt{headers}{$_}\r\n" for keys %{ $opt{headers} // {} };
    syswrite($sock, "$req\r\n");
    my $self = bless { sock => $sock, buf => '', status => undef, headers => {} }, 'DataStream::Client::SSE';
    $self->read_head($opt{timeout} // 5);
    return $self;
}

package DataStream::Client::SSE;

use IO::Select;
use POSIX ();
use Time::HiRes qw(time);

sub status { $_[0]{status} }
sub header { $_[0]{headers}{ lc $_[1] } }
sub body   { $_[0]{buf} }

sub fill {
    my ($self, $deadline) = @_;
    my $left = $deadline - time;
    return 0 if $left <= 0 || $self->{eof};
    return 0 unless IO::Select->new($self->{sock})->can_read($left);
    my $n = sysread($self->{sock}, my $buf, 65536);
    if (!$n) { $self->{eof} = 1; return 0 }
    $self->{raw} .= $buf;
    return 1;
}

sub read_head {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    $self->{raw} = '';
    until ($self->{raw} =~ /\r\n\r\n/) {
        $self->fill($deadline) or last;
    }
    my ($head, $rest) = split /\r\n\r\n/, $self->{raw}, 2;
    ($self->{status}) = ($head // '') =~ m{^HTTP/1\.\d (\d{3})};
    $self->{headers} = { map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k => $v) } grep { /:/ } split /\r\n/, $head // '' };
    $self->{chunked} = ($self->{headers}{'transfer-encoding'} // '') =~ /chunked/i;
    $self->{raw} = $rest // '';
    $self->decode;
}

# Moves complete chunks from raw bytes to the event buffer.
sub decode {
    my ($self) = @_;
    if (!$self->{chunked}) { $self->{buf} .= $self->{raw}; $self->{raw} = ''; return }
    while ($self->{raw} =~ /^([0-9a-fA-F]+)\r\n/) {
        my $len = hex $1;
        my $hl = length($1) + 2;
        last if length($self->{raw}) < $hl + $len + 2;
        $self->{buf} .= substr($self->{raw}, $hl, $len);
        substr($self->{raw}, 0, $hl + $len + 2) = '';
        if ($len == 0) { $self->{eof} = 1; last }
    }
}

# The next event as { event, id, data }, comments skipped; undef on timeout or EOF.
sub next_event {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        while ($self->{buf} =~ s/^(.*?)\r?\n\r?\n//s) {
            my %ev = (event => 'message', data => undef, id => undef);
            my @data;
            for my $line (split /\r?\n/, $1) {
                next if $line =~ /^:/;
                my ($k, $v) = $line =~ /^([^:]+):? ?(.*)$/ or next;
                if ($k eq 'data') { push @data, $v }
                elsif ($k eq 'event' || $k eq 'id') { $ev{$k} = $v }
            }
            next unless @data;
            $ev{data} = join "\n", @data;
            return \%ev;
        }
        $self->fill($deadline) or return undef;
        $self->decode;
    }
}

# Reads the rest of a finite answer (a refusal): up to Content-Length or EOF.
sub full_body {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $len = $self->{headers}{'content-length'};
    until ($self->{eof} || (defined $len && !$self->{chunked} && length $self->{buf} >= $len)) {
        $self->fill($deadline) or last;
        $self->decode;
    }
    return $self->{buf};
}

# Up to $n events ({event, id, data}), fewer if `timeout` seconds pass first.
sub events_n {
    my ($self, $n, $timeout) = @_;
    return DataStream::Client::collect_n($n, $timeout, sub { $self->next_event($_[0]) });
}

# True once the server has ended the stream (EOF or the last chunk).
sub ended { $_[0]{eof} }

sub close { close $_[0]{sock} }

1;
