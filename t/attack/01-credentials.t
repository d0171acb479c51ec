# Attack matrix: credentials. Every case is one request against the shipped
# nginx configuration (Redis + nginx + module), answered with the contract's
# JSON error and status (CONTRACT.md section 4), never a 5xx or a hang.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use AttackKit;

# debug: nginx then logs every request header, on top of the refused
# request lines and duplicate or too long headers it logs at info
my ($stack, $k) = attack_stack(nginx => { env => { DS_NGINX_LOG_LEVEL => 'debug' } });
my $port   = $stack->port('nginx_http');
my $secret = $stack->token_secret;
my ($SK, $PK, $REVOKED) = @$k{qw(sk pk revoked)};
my $HEX = '0123456789abcdef' x 4;
my $UNKNOWN = 'sk_live_' . ('ab' x 32);

my $tok     = forge_token(key => $SK, secret => $secret);
my $pk_tok  = forge_token(key => $PK, secret => $secret);
(my $tok_payload, my $tok_sig) = $tok =~ /^tok_([^.]+)\.(.+)$/;
my %bad_token = (
    'expired token'                    => forge_token(key => $SK, secret => $secret, expiry => int(time) - 5),
    'token signed with another secret' => forge_token(key => $SK, secret => 'not-the-secret'),
    'tampered payload (sk->pk, old signature)' =>
        'tok_' . MIME::Base64::encode_base64url(AttackKit::key_id($SK) . '.pk.' . (int(time) + 3600)) . ".$tok_sig",
    'tampered payload (later expiry, old signature)' =>
        'tok_' . MIME::Base64::encode_base64url(AttackKit::key_id($SK) . '.sk.' . (int(time) + 99999)) . ".$tok_sig",
    'tampered signature (last char)'   => substr($tok, 0, -1) . (substr($tok, -1) eq 'A' ? 'B' : 'A'),
    'truncated signature'              => substr($tok, 0, -1),
    'no signature'                     => "tok_$tok_payload.",
    'no dot'                           => "tok_$tok_payload",
    'bare prefix'                      => 'tok_',
    'signature with = padding'         => "$tok=",
    'payload with = padding'           => "tok_$tok_payload==.$tok_sig",
    'payload padded and re-signed'     => forge_token(key => $SK, secret => $secret, sig_of => "$tok_payload=="),
    'payload of unknown key id'        => forge_token(key => $UNKNOWN, secret => $secret),
    'payload with uppercase key id'    => forge_token(payload => uc(AttackKit::key_id($SK)) . '.sk.' . (int(time) + 3600), secret => $secret),
    'payload with unknown kind'        => forge_token(payload => AttackKit::key_id($SK) . '.xk.' . (int(time) + 3600), secret => $secret),
    'payload with negative expiry'     => forge_token(payload => AttackKit::key_id($SK) . '.sk.-1', secret => $secret),
    'payload with huge expiry'         => forge_token(payload => AttackKit::key_id($SK) . '.sk.99999999999999999999999', secret => $secret),
    'token of a revoked key'           => forge_token(key => $REVOKED, secret => $secret),
);

# ---------------------------------------------------------------- REST keys
my @rest = (
    # name, headers, status, message
    ['no credentials',                     [],                                         401, 'Missing API key'],
    ['empty X-API-Key',                    [['X-API-Key', '']],                        401, undef],
    ['unknown well-formed sk key',         [['X-API-Key', $UNKNOWN]],                  401, 'Invalid API key'],
    ['revoked key',                        [['X-API-Key', $REVOKED]],                  401, 'Invalid API key'],
    ['wrong prefix xk_live_',              [['X-API-Key', "xk_live_$HEX"]],            401, 'Invalid API key'],
    ['sk_test_ prefix',                    [['X-API-Key', "sk_test_$HEX"]],            401, 'Invalid API key'],
    ['uppercase prefix SK_LIVE_',          [['X-API-Key', 'SK_LIVE_' . substr($SK, 8)]], 401, 'Invalid API key'],
    ['63 hex digits',                      [['X-API-Key', substr($SK, 0, -1)]],         401, 'Invalid API key'],
    ['65 hex digits',                      [['X-API-Key', "${SK}0"]],                   401, 'Invalid API key'],
    ['non-hex digit',                      [['X-API-Key', substr($SK, 0, -1) . 'g']],   401, 'Invalid API key'],
    ['uppercase hex of a valid key',       [['X-API-Key', 'sk_live_' . uc substr($SK, 8)]], 401, 'Invalid API key'],
    ['space inside the key',               [['X-API-Key', substr($SK, 0, 20) . ' ' . substr($SK, 20)]], 401, 'Invalid API key'],
    ['tab inside the key',                 [['X-API-Key', substr($SK, 0, 20) . "\t" . substr($SK, 21)]], 401, 'Invalid API key'],
    ['key with a trailing comma',          [['X-API-Key', "$SK,"]],                     401, 'Invalid API key'],
    ['two keys in one header',             [['X-API-Key', "$SK, $SK"]],                 401, 'Invalid API key'],
    ['Bearer with two spaces',             [['Authorization', "Bearer  $SK"]],          401, 'Invalid API key'],
    ['Basic scheme with the key',          [['Authorization', "Basic $SK"]],            401, 'Invalid API key'],
    ['Bearer with nothing after',          [['Authorization', 'Bearer ']],              401, undef],
    ['duplicated X-API-Key, unknown first', [['X-API-Key', $UNKNOWN], ['X-API-Key', $SK]], 401, 'Invalid API key'],
    ['duplicated X-API-Key, revoked first', [['X-API-Key', $REVOKED], ['X-API-Key', $SK]], 401, 'Invalid API key'],
    ['duplicated Authorization (nginx refuses)', [['Authorization', "Bearer $SK"], ['Authorization', "Bearer $UNKNOWN"]], 400, undef],
    ['?api_key= on REST (headers only)',   [],                                         401, 'Missing API key', '?api_key=' . $SK],
    ['?token= on REST',                    [],                                         401, 'Missing API key', "?token=$tok"],
    ['token in X-API-Key on REST',         [['X-API-Key', $tok]],                      401, 'Tokens are only accepted on streaming endpoints'],
    ['token as Bearer on REST',            [['Authorization', "Bearer $tok"]],         401, 'Tokens are only accepted on streaming endpoints'],
    ['pk key without Origin',              [['X-API-Key', $PK]],                       403, undef],
    ['pk key, Origin of another site',     [['X-API-Key', $PK], ['Origin', 'https://evil.test']], 403, 'Origin not allowed for this API key'],
    ['pk key, Origin null',                [['X-API-Key', $PK], ['Origin', 'null']],    403, 'Origin not allowed for this API key'],
    ['pk key, Origin empty',               [['X-API-Key', $PK], ['Origin', '']],        403, undef],
    ['pk key, Origin in upper case',       [['X-API-Key', $PK], ['Origin', 'HTTP://LOCALHOST:3000']], 403, 'Origin not allowed for this API key'],
    ['pk key, suffix trick localhost:3000.evil.test', [['X-API-Key', $PK], ['Origin', 'http://localhost:3000.evil.test']], 403, 'Origin not allowed for this API key'],
    ['pk key, prefix trick localhost:300', [['X-API-Key', $PK], ['Origin', 'http://localhost:300']], 403, 'Origin not allowed for this API key'],
    ['pk key, Origin with a path',         [['X-API-Key', $PK], ['Origin', 'http://localhost:3000/']], 403, 'Origin not allowed for this API key'],
    ['pk key, userinfo trick',             [['X-API-Key', $PK], ['Origin', 'http://localhost:3000@evil.test']], 403, 'Origin not allowed for this API key'],
    ['pk key, other scheme',               [['X-API-Key', $PK], ['Origin', 'https://localhost:3000']], 403, 'Origin not allowed for this API key'],
    ['pk key, two origins in one header',  [['X-API-Key', $PK], ['Origin', 'http://localhost:3000 https://app.example.test']], 403, 'Origin not allowed for this API key'],
    ['pk key, Referer of another site as same-origin', [['X-API-Key', $PK], ['Sec-Fetch-Site', 'same-origin'], ['Referer', 'http://localhost:3000.evil.test/']], 403, undef],
    ['pk key, allowed Referer but cross-site', [['X-API-Key', $PK], ['Sec-Fetch-Site', 'cross-site'], ['Referer', 'http://localhost:3000/']], 403, undef],
    ['pk key, allowed Referer without Sec-Fetch-Site', [['X-API-Key', $PK], ['Referer', 'http://localhost:3000/']], 403, undef],
    ['pk key, Referer with userinfo as same-origin', [['X-API-Key', $PK], ['Sec-Fetch-Site', 'same-origin'], ['Referer', 'http://localhost:3000@evil.test/']], 403, undef],
);
for my $c (@rest) {
    my ($name, $headers, $status, $message, $query) = @$c;
    check_error(request($port, 'GET', '/api/latest/crash' . ($query // ''), $headers),
                $status, $message, "REST: $name -> $status");
}

# the positive controls, so a blanket 401 cannot pass the matrix
check_status(request($port, 'GET', '/api/latest/crash', [['X-API-Key', $SK]]), 200,
             'REST control: valid sk key -> 200');
check_status(request($port, 'GET', '/api/latest/crash', [['Authorization', "Bearer $SK"]]), 200,
             'REST control: valid sk key as Bearer -> 200');
check_status(request($port, 'GET', '/api/latest/crash', [['X-API-Key', $PK], ['Origin', 'http://localhost:3000']]), 200,
             'REST control: pk key from an allowed Origin -> 200');

for my $name (sort keys %bad_token) {
    my $status = 401;
    check_error(request($port, 'POST', '/api/auth/token', [['X-API-Key', $bad_token{$name}]], ''),
                $status, undef, "token endpoint: $name instead of a key -> 401");
}

# ---------------------------------------------------------------- streaming
my @stream_ok = (
    ['WS control: valid token as subprotocol', '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $tok])], 101],
    ['SSE control: valid token in ?token=',     "/sse/crash?token=$tok", [], 200],
    ['SSE control: sk key in ?api_key=',        "/sse/crash?api_key=$SK", [], 200],
);
for my $c (@stream_ok) {
    my ($name, $path, $headers, $status) = @$c;
    check_status(request($port, 'GET', $path, $headers), $status, "$name -> $status");
}

for my $name (sort keys %bad_token) {
    my $t = $bad_token{$name};
    check_error(request($port, 'GET', '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $t])]),
                401, $name eq 'expired token' ? 'Token expired' : undef, "WS: $name -> 401");
    check_error(request($port, 'GET', "/sse/crash?token=$t", []),
                401, $name eq 'expired token' ? 'Token expired' : undef, "SSE: $name -> 401");
}

my @stream = (
    ['WS: no credentials',                     '/ws/crash', [ws_headers()], 401, 'Missing API key'],
    ['WS: secret key as subprotocol',          '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $SK])], 401, undef],
    ['WS: revoked key as subprotocol',         '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $REVOKED])], 401, undef],
    ['WS: garbage subprotocol only',           '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', 'chat, superchat'])], 401, undef],
    ['WS: pk token without Origin',            '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $pk_tok])], 403, undef],
    ['WS: pk token from a suffix-trick Origin', '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $pk_tok], ['Origin', 'http://localhost:3000.evil.test'])], 403, undef],
    ['SSE: no credentials',                    '/sse/crash', [], 401, 'Missing API key'],
    ['SSE: revoked key in ?api_key=',          "/sse/crash?api_key=$REVOKED", [], 401, 'Invalid API key'],
    ['SSE: sk_test_ key in ?api_key=',         "/sse/crash?api_key=sk_test_$HEX", [], 401, 'Invalid API key'],
    ['SSE: percent-encoded key in ?api_key=',  '/sse/crash?api_key=' . join('', map { sprintf '%%%02X', ord } split //, $SK), [], 401, 'Invalid API key'],
    ['SSE: pk key without Origin',             "/sse/crash?api_key=$PK", [], 403, undef],
    ['SSE: pk key, Origin null',               "/sse/crash?api_key=$PK", [['Origin', 'null']], 403, undef],
    ['SSE: pk key, suffix-trick Origin',       "/sse/crash?api_key=$PK", [['Origin', 'http://localhost:3000.evil.test']], 403, undef],
    ['SSE: pk key, case-variant Origin',       "/sse/crash?api_key=$PK", [['Origin', 'http://LOCALHOST:3000']], 403, undef],
    ['SSE: pk token, wrong Origin',            "/sse/crash?token=$pk_tok", [['Origin', 'https://evil.test']], 403, undef],
);
for my $c (@stream) {
    my ($name, $path, $headers, $status, $message) = @$c;
    check_error(request($port, 'GET', $path, $headers), $status, $message, "$name -> $status");
}

# ---------------------------------------------------------------- refused by nginx itself
# nginx answers these before the module sees them, and logs the request
# line or the header as the client sent it (see check_logs at the end)
{
    my $head = "Host: 127.0.0.1:$port\r\nConnection: close\r\n";
    my $pad = 'a' x 9000;   # past large_client_header_buffers (8k)
    my @refused = (
        # name, request bytes, status
        ['invalid method, key in ?api_key=',   "G\@T /sse/crash?api_key=$SK HTTP/1.1\r\n$head\r\n", 400],
        ['control byte in the URI, ?token=',   "GET /sse/crash?token=$tok\x01 HTTP/1.1\r\n$head\r\n", 400],
        ['unsupported version, ?api_key=',     "GET /sse/crash?api_key=$SK HTTP/2.7\r\n$head\r\n", 505],
        ['too long URI with ?api_key=',        "GET /sse/crash?api_key=$SK&pad=$pad HTTP/1.1\r\n$head\r\n", 414],
        ['duplicate Authorization headers',    "GET /api/latest/crash HTTP/1.1\r\n${head}Authorization: Bearer $SK\r\nAuthorization: Bearer $PK\r\n\r\n", 400],
        ['duplicate Host headers with a key',  "GET /api/latest/crash HTTP/1.1\r\nHost: $SK\r\nHost: $PK\r\nConnection: close\r\n\r\n", 400],
        ['too long X-API-Key header',          "GET /api/latest/crash HTTP/1.1\r\n${head}X-API-Key: $SK$pad\r\n\r\n", 400],
        ['too long subprotocol with a token',  "GET /ws/crash HTTP/1.1\r\n${head}Sec-WebSocket-Protocol: $tok, $pad\r\n\r\n", 400],
    );
    for my $c (@refused) {
        my ($name, $bytes, $status) = @$c;
        check_status(raw_request($port, $bytes), $status, "refused by nginx: $name -> $status");
    }
    check_error(request($port, 'GET', "/api/latest/$SK", [['X-API-Key', $SK]]),
                404, undef, 'REST: a key as the path segment -> 404');
    check_error(request($port, 'GET', "/sse/$SK", [['X-API-Key', $SK]]),
                404, undef, 'SSE: a key as the channel -> 404');
}

# ---------------------------------------------------------------- replay after expiry
{
    my $short = forge_token(key => $SK, secret => $secret, expiry => int(time) + 2);
    check_status(request($port, 'GET', '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $short])]), 101,
                 'WS: short-lived token accepted before expiry -> 101');
    sleep 3.2;
    check_error(request($port, 'GET', '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $short])]),
                401, 'Token expired', 'WS: same token replayed after expiry -> 401 Token expired');
    check_error(request($port, 'GET', "/sse/crash?token=$short", []),
                401, 'Token expired', 'SSE: same token replayed after expiry -> 401 Token expired');
}

# a token minted by the API, then the key revoked: the token must stop working
{
    my $victim = $stack->api_key(name => 'attack-victim', kind => 'sk');
    my $res = request($port, 'POST', '/api/auth/token', [['X-API-Key', $victim]], '');
    my ($minted) = $res->{body} =~ /"token":"(tok_[^"]+)"/;
    ok($minted, 'minted a token from a fresh key') or diag $res->{body};
    local $ENV{REDIS_URL} = 'redis://127.0.0.1:' . $stack->port('redis') . '/0';
    system($stack->build . "/bin/datastream-keys revoke $victim >/dev/null") == 0 or die;
    sleep 6;   # datastream_key_cache_ttl (5 s) and then some
    check_error(request($port, 'GET', '/ws/crash', [ws_headers(['Sec-WebSocket-Protocol', $minted // 'tok_x'])]),
                401, undef, 'WS: token of a key revoked after minting -> 401');
}

# the secret, and every key's hex part (also upper case, also cut short by
# a blank), anywhere in the error log (debug level) and the access log
check_logs($stack, [$secret, map { (substr($_, 8), uc substr($_, 8), substr($_, 28, 32)) } $SK, $PK, $REVOKED],
           'nginx');
done_testing;
