# Attack matrix: the internal publisher and internal locations are not
# reachable through the public port. Every publish attempt is refused, and
# afterwards no message exists in any channel (checked on the internal port,
# the only place a publish works, as the positive control).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use AttackKit;

my ($stack, $k) = attack_stack();
my $port = $stack->port('nginx_http');
my $pub  = $stack->port('nginx_publish');
my $SK   = $k->{sk};
my $body = '{"round_id":666,"game_id":1,"game_slug":"crash","game_type":"multiplier"}';

my @paths = (
    '/pub/game.crash', '/pub/game.crash,type.multiplier', '/pub/type.multiplier',
    '/pub/', '/_datastream/auth', '/_datastream/nchan_status', '/nchan_status',
    '/api/../pub/game.crash', '/%70ub/game.crash', '/PUB/game.crash', '//pub/game.crash',
    '/ws/../pub/game.crash', '/sse/..%2Fpub%2Fgame.crash', '/api/pub/game.crash',
);
for my $path (@paths) {
    for my $method (qw(POST PUT DELETE GET)) {
        my $res = request($port, $method, $path,
            [['X-API-Key', $SK], ['Content-Type', 'application/json']],
            $method eq 'GET' ? undef : $body);
        my $b = $res->{body};
        ok(!$res->{hung} && $res->{status} >= 400 && $res->{status} < 500
           && $b !~ /queued messages|active subscribers|^channels:/m && $b !~ /total published/,
           "public port: $method $path -> refused (4xx), no nchan answer")
            or diag "status $res->{status}\n$res->{head}\n$b";
    }
}

# a publisher-style request with the nchan headers, on a subscriber location
for my $path ('/ws/crash', '/sse/crash') {
    my $res = request($port, 'POST', $path, [['X-API-Key', $SK], ['Content-Type', 'application/json']], $body);
    ok(!$res->{hung} && $res->{status} >= 400 && $res->{status} < 500,
       "public port: POST $path (subscriber location) -> 4xx")
        or diag "status $res->{status}\n$res->{head}\n$res->{body}";
}

# nothing was published: the channels hold no message (nchan: 404 or no messages)
for my $ch ('game.crash', 'type.multiplier') {
    my $res = request($pub, 'GET', "/pub/$ch", [['Accept', 'text/json']]);
    ok($res->{status} == 404 || $res->{body} =~ /"messages"\s*:\s*0\b/,
       "internal port: channel $ch holds no message after the attempts")
        or diag "status $res->{status}\n$res->{body}";
}

# positive control: the internal port does publish
my $res = request($pub, 'POST', '/pub/game.crash', [['Content-Type', 'application/json']], $body);
ok($res->{status} == 201 || $res->{status} == 202, 'internal port: POST /pub/game.crash publishes (control)')
    or diag "status $res->{status}\n$res->{body}";

# the internal server listens on loopback only
my $conf = do { local $/; open my $fh, '<', $stack->dir . '/nginx/nginx.conf' or die; <$fh> };
like($conf, qr/listen\s+127\.0\.0\.1:$pub\s*;/, 'internal publisher is bound to 127.0.0.1');
unlike($conf =~ /server\s*\{\s*listen\s+\S*$port\b.*?\n    \}/s ? $& : '', qr/nchan_publisher/,
       'public server block has no nchan_publisher');

check_logs($stack, [$stack->token_secret], 'nginx');
done_testing;
