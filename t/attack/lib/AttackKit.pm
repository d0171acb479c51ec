package AttackKit;

# Shared by the attack-matrix tests (t/attack/*.t): a full stack from
# DataStream::Stack (Redis + nginx from the shipped template; no NATS or
# consumer needed), raw HTTP/1.1 requests (duplicate headers, unnormalized
# paths, bytes HTTP::Tiny would refuse), one-assertion checks of the
# contract's JSON errors, forged tokens, and the log scan for credentials.

use strict;
use warnings;

use Exporter 'import';
use Digest::SHA qw(sha256_hex hmac_sha256);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 ();
use Test::More;
use Time::HiRes qw(time sleep);

use DataStream::Stack;
use DataStream::Keys;

our @EXPORT = qw(attack_stack raw_request request check_error check_status
                 forge_token key_id ws_headers check_logs wait_fresh_window);

# Redis with the games registry, a round, and keys:
#   sk, pk (origins http://localhost:3000 https://app.example.test),
#   revoked (created, then revoked with the key tool), tiny (rate limit 5)
sub attack_stack {
    my (%opt) = @_;
    my $stack = DataStream::Stack->new;
    $stack->start_redis;
    $stack->redis_cli('HSET', rkey('games'), 'crash',
        '{"id":1,"slug":"crash","name":"Crash","type":"multiplier"}');
    $stack->redis_cli('HSET', rkey('game_ids'), 1, 'crash');
    my $round = '{"round_id":512,"game_id":1,"game_slug":"crash","game_type":"multiplier",'
              . '"finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"11.72\"}",'
              . '"timestamp":1768621542123}';
    $stack->redis_cli('ZADD', rkey('history_game', 'crash'), 512, $round);
    $stack->redis_cli('ZADD', rkey('history_type', 'multiplier'), 512, $round);
    my %keys = (
        sk      => $stack->api_key(name => 'attack-sk', kind => 'sk'),
        pk      => $stack->api_key(name => 'attack-pk', kind => 'pk',
                                   origins => 'http://localhost:3000 https://app.example.test'),
        revoked => $stack->api_key(name => 'attack-revoked', kind => 'sk'),
        tiny    => $stack->api_key(name => 'attack-tiny', kind => 'sk', rate_limit => 5),
    );
    {
        local $ENV{REDIS_URL} = 'redis://127.0.0.1:' . $stack->port('redis') . '/0';
        system($stack->build . "/bin/datastream-keys revoke $keys{revoked} >/dev/null") == 0
            or die "datastream-keys revoke failed\n";
    }
    $stack->start_nginx(%{ $opt{nginx} // {} });
    return ($stack, \%keys);
}

sub key_id { substr(sha256_hex($_[0]), 0, 16) }

sub b64url { MIME::Base64::encode_base64url($_[0]) }

# tok_<b64url(id.kind.expiry)>.<b64url(HMAC(secret, payload text))>, with
# overrides for tampering: payload => raw text, sig_of => text to sign
sub forge_token {
    my (%t) = @_;
    my $payload = b64url($t{payload} // join '.', key_id($t{key}), $t{kind} // substr($t{key}, 0, 2),
                                                  $t{expiry} // int(time) + 3600);
    my $sig = b64url(hmac_sha256($t{sig_of} // $payload, $t{secret}));
    return "tok_$payload.$sig";
}

sub ws_headers {
    my (@extra) = @_;
    return (['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'],
            ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], @extra);
}

# Sends bytes, reads one answer. Returns { status, headers (lc name => [values]),
# body, hung }. Streaming answers (101, text/event-stream) return after the head.
sub raw_request {
    my ($port, $bytes, %opt) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or die "connect to $port: $!";
    syswrite($sock, $bytes);
    my $deadline = time + ($opt{timeout} // 5);
    my ($buf, $res) = ('', { status => 0, headers => {}, body => '', hung => 0 });
    my $sel = IO::Select->new($sock);
    my $eof = 0;
    my $complete = sub {
        return 0 unless $buf =~ /\r\n\r\n/;
        my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
        $res->{status} = $status // 0;
        $res->{head} = $head;
        my %h;
        for my $line (split /\r\n/, $head) {
            my ($k, $v) = $line =~ /^([^:\s]+):\s*(.*)$/ or next;
            push @{ $h{lc $k} }, $v;
        }
        $res->{headers} = \%h;
        return 1 if $res->{status} == 101;
        return 1 if ($h{'content-type'}[0] // '') =~ m{text/event-stream};
        if (defined(my $cl = $h{'content-length'}[0])) {
            return 0 if length($rest) < $cl;
            $res->{body} = substr($rest, 0, $cl);
            return 1;
        }
        if (($h{'transfer-encoding'}[0] // '') =~ /chunked/i) {
            my ($body, $r) = ('', $rest);
            while ($r =~ /^([0-9a-fA-F]+)\r\n/) {
                my $len = hex $1;
                my $hl = length($1) + 2;
                return 0 if length($r) < $hl + $len + 2;
                if ($len == 0) { $res->{body} = $body; return 1 }
                $body .= substr($r, $hl, $len);
                substr($r, 0, $hl + $len + 2) = '';
            }
            return 0;
        }
        if ($eof) { $res->{body} = $rest; return 1 }
        return 0;
    };
    while (1) {
        last if $complete->();
        if ($eof) { $res->{hung} = 0; last }
        my $left = $deadline - time;
        if ($left <= 0) { $res->{hung} = 1; last }
        next unless $sel->can_read($left);
        my $n = sysread($sock, my $chunk, 65536);
        if (!$n) { $eof = 1; next }
        $buf .= $chunk;
    }
    close $sock;
    return $res;
}

# headers: array of [name, value] (duplicates allowed)
sub request {
    my ($port, $method, $path, $headers, $body) = @_;
    my %has = map { (lc $_->[0] => 1) } @{ $headers // [] };
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n";
    # nchan answers 403 to anything that is not a subscriber of its kind
    $req .= "Connection: close\r\n" unless $has{connection};
    $req .= "Accept: text/event-stream\r\n" if $path =~ m{^/sse/} && !$has{accept};
    $req .= "$_->[0]: $_->[1]\r\n" for @{ $headers // [] };
    $req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    $req .= "\r\n";
    $req .= $body if defined $body;
    return raw_request($port, $req);
}

# One assertion: the contract's JSON error with this status (and message,
# when given); never a hang or a 5xx in disguise.
sub check_error {
    my ($res, $status, $message, $name) = @_;
    my $json = eval { JSON::PP->new->decode($res->{body}) };
    my @why;
    push @why, 'no answer within 5 s' if $res->{hung};
    push @why, "status $res->{status}, expected $status" if $res->{status} != $status;
    push @why, 'Content-Type is not JSON'
        unless ($res->{headers}{'content-type'}[0] // '') =~ m{^application/json};
    push @why, 'body is not {"error":...,"success":false}'
        unless ref $json eq 'HASH' && defined $json->{error} && !ref $json->{error}
            && JSON::PP::is_bool($json->{success}) && !$json->{success};
    push @why, "error is \"" . ($json->{error} // '') . "\", expected \"$message\""
        if defined $message && ref $json eq 'HASH' && ($json->{error} // '') ne $message;
    ok(!@why, $name) or diag join("\n", @why, "head: " . ($res->{head} // ''), "body: $res->{body}");
}

sub check_status {
    my ($res, $status, $name) = @_;
    ok(!$res->{hung} && $res->{status} == $status, $name)
        or diag "status $res->{status} (expected $status)" . ($res->{hung} ? ', hung' : '')
              . "\nhead: " . ($res->{head} // '') . "\nbody: $res->{body}";
}

# Waits until at least `need` seconds are left in the current minute, so a
# fixed one-minute rate-limit window is not crossed mid-test.
sub wait_fresh_window {
    my ($need) = @_;
    my $s = time % 60;
    sleep(60 - $s + 0.5) if 60 - $s < $need;
}

# No key, token or token secret in any log of the nginx instances, at
# whatever level the error log was written (01-credentials.t runs nginx at
# debug level): nginx's own lines quote refused request lines, duplicate
# and too long headers (info) and every header (debug); the module's error
# log writer redacts them, and its LOG phase handler $request and $uri.
sub find_secrets {
    my ($text, $secrets) = @_;
    my @found;
    push @found, $1 while $text =~ /((?:sk|pk)_live_[0-9a-fA-F]{8}|tok_[A-Za-z0-9_-]{8})/gi;
    for my $s (@$secrets) {
        push @found, 'a secret of the test (' . substr($s, 0, 4) . '...)' if index($text, $s) >= 0;
    }
    my %seen;
    return grep { !$seen{$_}++ } @found;
}

sub report_found {
    my ($found, $text) = @_;
    my @f = @$found;
    diag "found: @f[0 .. ($#f < 4 ? $#f : 4)]\n"
       . join("\n", grep { defined } (grep { /(?:sk|pk)_live_|tok_/i } split /\n/, $text)[0 .. 2]);
}

sub check_logs {
    my ($stack, $secrets, @names) = @_;
    for my $name (@names) {
        for my $file (qw(error.log access.log)) {
            my $path = $stack->dir . "/$name/$file";
            my $text = '';
            if (open my $fh, '<', $path) { local $/; $text = <$fh> // '' }
            my @found = find_secrets($text, $secrets);
            ok(!@found, "$name $file holds no key, token or secret") or report_found(\@found, $text);
        }
    }
}

1;
