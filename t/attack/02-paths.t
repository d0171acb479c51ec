# Attack matrix: path tricks on /api/, /ws/ and /sse/ with valid
# credentials. Each is answered with a JSON error (404 for a bad slug, 400
# for a bad limit), never a 5xx or a hang, and no bad channel id reaches
# nchan (no subscriber admitted, no channel created).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use AttackKit;

my ($stack, $k) = attack_stack();
my $port = $stack->port('nginx_http');
my $SK = $k->{sk};
my $tok = forge_token(key => $SK, secret => $stack->token_secret);

# slug tricks: the text after /api/latest/, /api/history/type/, /ws/,
# /sse/, /sse/type/. Kinds:
#   json404 - refused by the module or the template's catch-all: 404 JSON;
#   nginx400 - refused by nginx's URI parser: 400, as JSON per the contract
#              (the shipped template needs an error_page for that);
#   escapes  - dot segments that nginx resolves to a path outside the
#              endpoint (the dashboard, /api/, a static 404): whatever it is,
#              never a subscriber, never a 5xx, never a hang.
my @slugs = (
    ['dot-dot',                       '..',                        'escapes'],
    ['encoded dot-dot %2e%2e',        '%2e%2e',                    'escapes'],
    ['encoded slash into /pub/',      '..%2F..%2Fpub%2Fgame.crash', 'escapes'],
    ['dot-dot back to the endpoint',  'x/..',                      'json404'],
    ['encoded dot-dot back to it',    'x/%2e%2e',                  'json404'],
    ['encoded slash %2F',             'crash%2Fx',                 'json404'],
    ['double-encoded slash %252F',    'crash%252Fx',               'json404'],
    ['double-encoded dot-dot',        '%252e%252e',                'json404'],
    ['65-byte slug',                  'a' x 65,                    'json404'],
    ['4000-byte slug',                'a' x 4000,                  'json404'],
    ['uppercase slug',                'CRASH',                     'json404'],
    ['mixed-case slug',               'Crash',                     'json404'],
    ['non-ASCII slug (UTF-8)',        'cr%C3%A4sh',                'json404'],
    ['raw non-ASCII byte',            "cr\xe4sh",                  'json404'],
    ['overlong UTF-8 slash',          'crash%C0%AFx',              'json404'],
    ['CRLF header injection',         'crash%0d%0aSet-Cookie:%20injected=1', 'json404'],
    ['LF header injection',           'crash%0aX-Injected:%201',   'json404'],
    ['comma (nchan multi-channel)',   'crash,game.double',         'json404'],
    ['encoded comma',                 'crash%2Cdouble',            'json404'],
    ['channel prefix game.',          'game.crash',                'json404'],
    ['leading dash',                  '-crash',                    'json404'],
    ['leading underscore',            '_crash',                    'json404'],
    ['empty slug',                    '',                          'json404'],
    ['space %20',                     'cr%20ash',                  'json404'],
    ['semicolon parameter',           'crash;x=1',                 'json404'],
    ['backslash',                     'crash%5Cx',                 'json404'],
    ['trailing slash',                'crash/',                    'json404'],
    ['unknown well-formed slug',      'no-such-game',              'json404'],
    ['NUL byte %00',                  'crash%00',                  'nginx400'],
    ['NUL in the middle',             'cr%00ash',                  'nginx400'],
);

# what an answer must never contain: a reflected header
sub no_injection {
    my ($res) = @_;
    return !grep { /^(set-cookie|x-injected)$/ } keys %{ $res->{headers} };
}

sub check_kind {
    my ($res, $kind, $name) = @_;
    if ($kind eq 'json404') {
        check_error($res, 404, undef, "$name -> 404 JSON");
    } elsif ($kind eq 'nginx400') {
        check_error($res, 400, undef, "$name -> 400 JSON");
    } else {
        my $stream = ($res->{headers}{'content-type'}[0] // '') =~ /event-stream/;
        ok(!$res->{hung} && $res->{status} && $res->{status} != 101 && !$stream
           && $res->{status} < 500, "$name -> resolved elsewhere, no subscriber, no 5xx")
            or diag "status $res->{status}\n" . ($res->{head} // '');
    }
}

for my $s (@slugs) {
    my ($name, $slug, $kind) = @$s;

    check_kind(request($port, 'GET', "/api/latest/$slug", [['X-API-Key', $SK]]), $kind,
               "/api/latest/: $name");
    check_kind(request($port, 'GET', "/api/history/type/$slug", [['X-API-Key', $SK]]), $kind,
               "/api/history/type/: $name");
    my $res = request($port, 'GET', "/ws/$slug", [ws_headers(['Sec-WebSocket-Protocol', $tok])]);
    check_kind($res, $kind, "/ws/: $name");
    ok(no_injection($res), "/ws/: $name -> no injected header") if $name =~ /injection/;
    # SSE with the token in the query (a key there would be logged by nginx
    # itself on a refused request line, see check_logs)
    check_kind(request($port, 'GET', "/sse/$slug?token=$tok", []), $kind, "/sse/: $name");
    check_kind(request($port, 'GET', "/sse/type/$slug?token=$tok", []), $kind, "/sse/type/: $name");
}

# limit tricks
my @limits = (
    ['zero', '0'], ['negative', '-1'], ['plus sign', '%2B5'], ['leading zero', '010'],
    ['1001', '1001'], ['huge', '9' x 40], ['hex', '0x10'], ['float', '1.5'],
    ['space', '%205'], ['NUL', '5%00'], ['CRLF', '5%0d%0aX-Injected:%201'], ['empty', ''],
    ['array syntax', '5&limit=6000'],
);
for my $l (@limits) {
    my ($name, $v) = @$l;
    my $res = request($port, 'GET', "/api/history/crash?limit=$v", [['X-API-Key', $SK]]);
    my $want = $name eq 'array syntax' ? 200 : 400;   # the first limit counts
    if ($want == 200) {
        check_status($res, 200, "/api/history?limit=: $name -> first value used, 200");
    } else {
        check_error($res, 400, 'Invalid limit: expected an integer from 1 to 1000',
                    "/api/history?limit=: $name -> 400 JSON");
    }
}

# request-line level tricks nginx itself may refuse: still no 5xx, no hang
my @raw = (
    ['absolute-form request to another host', "GET http://evil.test/api/latest/crash HTTP/1.1\r\nHost: evil.test\r\nX-API-Key: $SK\r\nConnection: close\r\n\r\n", [200, 400, 404]],
    ['HTTP/1.0 without Host',                 "GET /api/latest/crash HTTP/1.0\r\nX-API-Key: $SK\r\n\r\n", [200]],
    ['two Host headers',                      "GET /api/latest/crash HTTP/1.1\r\nHost: a\r\nHost: b\r\nX-API-Key: $SK\r\nConnection: close\r\n\r\n", [400]],
    ['header line with NUL',                  "GET /api/latest/crash HTTP/1.1\r\nHost: a\r\nX-API-Key: sk_live_\0x\r\nConnection: close\r\n\r\n", [400, 401]],
);
for my $r (@raw) {
    my ($name, $bytes, $ok) = @$r;
    my $res = raw_request($port, $bytes);
    ok(!$res->{hung} && grep({ $res->{status} == $_ } @$ok), "raw: $name -> one of @$ok")
        or diag "status $res->{status}\n$res->{head}";
}

# credentials sent to a path that is not an endpoint (a mistyped URL, a
# probe): refused without writing them anywhere (see check_logs below)
for my $path ("/favicon.ico?api_key=$SK", "/no-such-page.js?token=$tok", "/api?api_key=$SK",
              "/ws?token=$tok", "/sse?api_key=$SK") {
    my $res = request($port, 'GET', $path, []);
    ok(!$res->{hung} && $res->{status} == 404, "GET $path -> 404 (credential in a stray query string)")
        or diag "status $res->{status}";
}

# nothing of the above reached nchan: it holds no channel and no subscriber
my $status = request($stack->port('nginx_publish'), 'GET', '/nchan_status', []);
ok($status->{body} =~ /^channels: 0$/m && $status->{body} =~ /^subscribers: 0$/m,
   'nchan: no channel and no subscriber after the path attacks')
    or diag $status->{body};

check_logs($stack, [$stack->token_secret], 'nginx');
done_testing;
