# One Debezium insert, with the schema wrapper, published into JetStream as
# Debezium Server would, reaches a WebSocket subscriber of /ws/crash, an SSE
# subscriber of /sse/crash and /api/latest/crash as the contract's round
# object: every hop of the pipeline is real.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(http_request ws_connect sse_connect);

my $ROUND = '{"round_id":512,"game_id":1,"game_slug":"crash","game_type":"multiplier",'
          . '"finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"11.72\"}",'
          . '"timestamp":1768621542123}';

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;

$stack->seed_games;

my $key = $stack->api_key(kind => 'sk');
$stack->wait_subscribable(nginx => $key);
my $base = "http://127.0.0.1:$port";

my $res = http_request(POST => "$base/api/auth/token", headers => { 'X-API-Key' => $key });
is $res->{status}, 200, 'token minted';
my ($token) = $res->{content} =~ /"token":"(tok_[^"]+)"/;
ok $token, 'token in the answer';

my $ws = ws_connect($port, '/ws/crash', protocol => $token);
is $ws->header('sec-websocket-protocol'), $token, 'handshake echoes the token subprotocol';

$res = http_request(GET => "$base/sse/crash?api_key=$key");
is $res->{status}, 400, 'SSE without Accept: text/event-stream is refused';
is $res->{content}, '{"error":"Server-Sent Events need the header Accept: text/event-stream","success":false}',
    'and told what is missing, in JSON';
is $res->{headers}{'content-type'}, 'application/json', 'as application/json';

my $sse = sse_connect($port, "/sse/crash?api_key=$key");
is $sse->status, 200, 'SSE subscriber admitted';
like $sse->header('content-type'), qr{^text/event-stream}, 'SSE content type';

open my $fh, '<', DataStream::Stack::repo() . '/t/fixtures/round-insert-crash-512.schema-enabled.json' or die;
my $envelope = <$fh>;
chomp $envelope;
$stack->publish('datastream.public.rounds', $envelope);

is $ws->recv(10), $ROUND, 'WebSocket frame is the round object';

my $ev = $sse->next_event(10);
is $ev && $ev->{data}, $ROUND, 'SSE data is the round object';
ok $ev && $ev->{id}, 'SSE event carries an id for resume';

$res = http_request(GET => "$base/api/latest/crash", headers => { 'X-API-Key' => $key });
is $res->{status}, 200, '/api/latest/crash answers';
is $res->{content}, substr($ROUND, 0, -1) . ',"value":"11.72"}', '/api/latest/crash is the round plus its value';

$ws->close;
$sse->close;
done_testing;
