# Who may open a stream, on each of the four subscriber locations
# (/ws/<slug>, /ws/type/<type>, /sse/<slug>, /sse/type/<type>) of the shipped
# nginx configuration: every accepted credential, every refusal with its exact
# status and JSON body, and 404 in the handshake itself (never a 101 or a 200
# stream that is closed later) for unknown games and types and invalid names.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(http_request ws_handshake sse_connect mint_token);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;
$stack->seed_games;

my $ORIGIN = 'https://app.example';
my $sk = $stack->api_key(kind => 'sk', name => 'server');
my $pk = $stack->api_key(kind => 'pk', name => 'browser', origins => $ORIGIN);
my $err = sub { qq({"error":"$_[0]","success":false}) };

my %CHANNELS = (game => 'crash', type => 'multiplier');
my %PATH = (game => sub { $_[0] }, type => sub { "type/$_[0]" });

# ---------------------------------------------------------------- WebSocket

for my $kind (qw(game type)) {
    my $path = '/ws/' . $PATH{$kind}->($CHANNELS{$kind});
    subtest "WebSocket $path" => sub {
        my $token = mint_token($port, $sk);
        my $hs = ws_handshake($port, $path, protocol => $token);
        is $hs->{status}, 101, 'token as subprotocol: 101';
        is $hs->{headers}{'sec-websocket-protocol'}, $token, 'the token subprotocol is echoed';
        $hs->{ws}->close if $hs->{ws};

        # Browsers offer the token among other subprotocols; the token is picked and echoed.
        $token = mint_token($port, $sk);
        $hs = ws_handshake($port, $path, protocol => "chat, $token");
        is $hs->{status}, 101, 'token second among offered subprotocols: 101';
        is $hs->{headers}{'sec-websocket-protocol'}, $token, '... and that token is echoed';
        $hs->{ws}->close if $hs->{ws};

        # A token minted with a pk_ key from its allowed Origin, used from that Origin.
        my $ptoken = mint_token($port, $pk, headers => { Origin => $ORIGIN });
        $hs = ws_handshake($port, $path, protocol => $ptoken, headers => { Origin => $ORIGIN });
        is $hs->{status}, 101, 'pk_ token from its allowed Origin: 101';
        $hs->{ws}->close if $hs->{ws};

        $hs = ws_handshake($port, $path);
        is $hs->{status}, 401, 'no credentials: 401';
        is $hs->{body}, $err->('Missing API key'), '... with the JSON error';

        $hs = ws_handshake($port, $path, protocol => 'tok_AAAA.BBBB');
        is $hs->{status}, 401, 'forged token: 401';
        is $hs->{body}, $err->('Invalid token'), '... with the JSON error';

        $hs = ws_handshake($port, $path, protocol => 'chat');
        is $hs->{status}, 401, 'a subprotocol that is no token: 401';

        $hs = ws_handshake($port, $path, headers => { 'X-API-Key' => $pk, Origin => 'https://evil.example' });
        is $hs->{status}, 403, 'pk_ key from a foreign Origin: 403';
        is $hs->{body}, $err->('Origin not allowed for this API key'), '... with the JSON error';

        # A token minted from a pk_ key keeps that key's Origin binding.
        $hs = ws_handshake($port, $path, protocol => mint_token($port, $pk, headers => { Origin => $ORIGIN }),
                           headers => { Origin => 'https://evil.example' });
        is $hs->{status}, 403, 'pk_ token from a foreign Origin: 403';
        is $hs->{body}, $err->('Origin not allowed for this API key'), '... with the JSON error';
    };
}

# ---------------------------------------------------------------- SSE

for my $kind (qw(game type)) {
    my $path = '/sse/' . $PATH{$kind}->($CHANNELS{$kind});
    subtest "SSE $path" => sub {
        my @accepted = (
            ['X-API-Key header', $path, { 'X-API-Key' => $sk }],
            ['Authorization: Bearer key', $path, { Authorization => "Bearer $sk" }],
            ['?api_key=', "$path?api_key=$sk", {}],
            ['?token=', "$path?token=" . mint_token($port, $sk), {}],
            ['Authorization: Bearer token', $path, { Authorization => 'Bearer ' . mint_token($port, $sk) }],
            ['pk_ key from its allowed Origin', "$path?api_key=$pk", { Origin => $ORIGIN }],
            ['pk_ token from its allowed Origin', "$path?token=" . mint_token($port, $pk, headers => { Origin => $ORIGIN }),
             { Origin => $ORIGIN }],
        );
        for my $case (@accepted) {
            my ($what, $url, $headers) = @$case;
            my $sse = sse_connect($port, $url, headers => $headers);
            is $sse->status, 200, "$what: 200";
            like $sse->header('content-type') // '', qr{^text/event-stream}, "$what: event stream";
            $sse->close;
        }

        my @refused = (
            ['no credentials', $path, {}, 401, 'Missing API key'],
            ['unknown key', "$path?api_key=sk_live_" . ('0' x 64), {}, 401, 'Invalid API key'],
            ['malformed key', "$path?api_key=hello", {}, 401, 'Invalid API key'],
            ['forged token', "$path?token=tok_AAAA.BBBB", {}, 401, 'Invalid token'],
            ['pk_ key from a foreign Origin', "$path?api_key=$pk", { Origin => 'https://evil.example' },
             403, 'Origin not allowed for this API key'],
            ['pk_ key without Origin', "$path?api_key=$pk", {}, 403, 'Origin header required for this API key'],
            ['pk_ token from a foreign Origin', "$path?token=" . mint_token($port, $pk, headers => { Origin => $ORIGIN }),
             { Origin => 'https://evil.example' }, 403, 'Origin not allowed for this API key'],
        );
        for my $case (@refused) {
            my ($what, $url, $headers, $status, $msg) = @$case;
            my $sse = sse_connect($port, $url, headers => $headers);
            is $sse->status, $status, "$what: $status";
            is $sse->full_body, $err->($msg), "$what: JSON error";
            like $sse->header('content-type') // '', qr{^application/json}, "$what: JSON content type";
            $sse->close;
        }
    };
}

# ---------------------------------------------------------------- 404

subtest 'unknown game or type: 404 in the handshake' => sub {
    my @cases = (
        ['/ws/nope', 'Game not found'],
        ['/ws/type/nope', 'Game type not found'],
        ['/sse/nope', 'Game not found'],
        ['/sse/type/nope', 'Game type not found'],
    );
    for my $case (@cases) {
        my ($path, $msg) = @$case;
        my ($status, $body);
        if ($path =~ m{^/ws/}) {
            my $hs = ws_handshake($port, $path, protocol => mint_token($port, $sk));
            ($status, $body) = @$hs{qw(status body)};
        } else {
            my $sse = sse_connect($port, "$path?api_key=$sk");
            ($status, $body) = ($sse->status, $sse->full_body);
        }
        is $status, 404, "$path: 404";
        is $body, $err->($msg), "$path: JSON error";
    }
};

subtest 'invalid channel names: 404 before any credential check' => sub {
    for my $path ('/ws/Crash', '/ws/-crash', '/ws/cr.ash', '/ws/type/', '/ws/crash/more', '/ws/type/Multi',
                  '/sse/Crash', '/sse/_x', '/sse/a%2Fb', '/sse/type/', '/sse/type/a/b', '/sse/' . ('a' x 65)) {
        if ($path =~ m{^/ws/}) {
            my $hs = ws_handshake($port, $path, protocol => mint_token($port, $sk));
            is $hs->{status}, 404, "$path: 404";
            is $hs->{body}, $err->('Unknown channel'), "$path: JSON error";
        } else {
            my $sse = sse_connect($port, $path);
            is $sse->status, 404, "$path: 404";
            is $sse->full_body, $err->('Unknown channel'), "$path: JSON error";
        }
    }
};

$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;
