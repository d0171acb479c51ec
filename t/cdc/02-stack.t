# From a PostgreSQL row to every surface: INSERT, a transaction of several
# rows, UPDATE, DELETE under the default and the FULL replica identity, a new
# game and TRUNCATE, made with SQL in a real PostgreSQL, carried by
# datastream-cdc through JetStream and the consumer, reach REST, WebSocket and
# SSE as the contract says.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);

use DataStream::Stack;
use DataStream::Client qw(http_request ws_connect sse_connect mint_token);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;
$stack->start_postgres;
$stack->start_cdc;

my $sk = $stack->api_key(kind => 'sk');
my $base = "http://127.0.0.1:$port";
sub get {
    my ($path) = @_;
    my $res = http_request(GET => "$base$path", headers => { 'X-API-Key' => $sk });
    return ($res->{status}, $res->{content});
}
sub wait_for {
    my ($what, $cond) = @_;
    my $deadline = time + 20;
    until ($cond->()) {
        return fail "$what (timed out)" if time > $deadline;
        select undef, undef, undef, 0.05;
    }
    pass $what;
}

# The bridge's snapshot of games (op r) fills the registry.
wait_for 'the snapshot of games reaches the registry',
    sub { my ($s, $b) = get('/api/games'); $s == 200 && (() = $b =~ /"slug"/g) == 4 };

$stack->hold_channels(nginx => $sk, qw(crash type/multiplier));
my $ws = ws_connect($port, '/ws/crash', protocol => mint_token($port, $sk));
my $ws_type = ws_connect($port, '/ws/type/multiplier', protocol => mint_token($port, $sk));
my $sse = sse_connect($port, "/sse/crash?api_key=$sk");
is $sse->status, 200, 'SSE open';

# The round object the contract promises for a row, as PostgreSQL holds it;
# "timestamp" is the commit time, which the caller bounds.
sub round_json {
    my ($id, $slug, $type) = @_;
    my ($game_id, $fin, $extras) = split /\|/, $stack->psql(
        "SELECT game_id, to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        . " extras::text FROM rounds WHERE id = $id");
    my $esc = JSON::PP->new->allow_nonref->encode($extras);
    return qq({"round_id":$id,"game_id":$game_id,"game_slug":"$slug","game_type":"$type","finished_at":"$fin","extras":$esc,"timestamp":);
}
sub check_round {
    my ($got, $want_prefix, $t0, $t1, $what) = @_;
    my ($head, $ts) = ($got // '') =~ /^(.*"timestamp":)(\d+)\}$/;
    is $head, $want_prefix, "$what: the round object, field by field";
    ok $ts && $ts >= int($t0 * 1000) - 1 && $ts <= int($t1 * 1000) + 1,
        "$what: timestamp is the commit time (" . ($ts // 'none') . ')';
    return $ts;
}
sub sse_message {
    my @ev = grep { $_->{event} eq 'message' } $sse->events_n(1, 10);
    return $ev[0] ? $ev[0]{data} : undef;
}

# ---- INSERT
my $t0 = time;
$stack->psql(q{INSERT INTO rounds (id, game_id, finished_at, extras) VALUES (1001, 1, '2026-01-17 03:45:42.735266+00', '{"point": "11.72"}')});
my $t1 = time;
my $want = round_json(1001, 'crash', 'multiplier');
is $want, q({"round_id":1001,"game_id":1,"game_slug":"crash","game_type":"multiplier","finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"11.72\"}","timestamp":),
    'the row as the contract writes it';
my ($frame) = $ws->recv_n(1, 10);
my $ts = check_round($frame, $want, $t0, $t1, 'INSERT on WebSocket');
is sse_message(), $frame, 'INSERT on SSE: the same bytes';
my ($s, $b) = get('/api/latest/crash');
is $b, "$want$ts," . '"value":"11.72"}', 'INSERT: /api/latest/crash is the round plus its value';

# ---- a transaction of three rows: one commit, three rounds, in order
$t0 = time;
$stack->psql(<<'SQL');
BEGIN;
INSERT INTO rounds (id, game_id, finished_at, extras) VALUES (1002, 1, now(), '{"point": "1.02"}');
INSERT INTO rounds (id, game_id, finished_at, extras) VALUES (1003, 1, now(), '{"point": "1.03"}');
INSERT INTO rounds (id, game_id, finished_at, extras) VALUES (1004, 1, now(), '{"point": "1.04"}');
COMMIT;
SQL
$t1 = time;
my @frames = $ws->recv_n(3, 10);
is scalar @frames, 3, 'transaction: three WebSocket frames';
my @ts = map { check_round($frames[$_], round_json(1002 + $_, 'crash', 'multiplier'), $t0, $t1, "transaction row " . ($_ + 1)) } 0 .. 2;
is scalar(grep { defined && $_ == ($ts[0] // -1) } @ts), 3, 'transaction: one commit time for the three rows';
is_deeply [map { sse_message() } 1 .. 3], \@frames, 'transaction: SSE has the same three, in order';

# ---- UPDATE: a live publication with the new values
$t0 = time;
$stack->psql(q{UPDATE rounds SET extras = '{"point": "9.99"}' WHERE id = 1004});
$t1 = time;
($frame) = $ws->recv_n(1, 10);
$ts = check_round($frame, round_json(1004, 'crash', 'multiplier'), $t0, $t1, 'UPDATE on WebSocket');
like $frame, qr/"extras":"\{\\"point\\": \\"9\.99\\"\}"/, 'UPDATE: the new extras';
is sse_message(), $frame, 'UPDATE on SSE';
wait_for 'UPDATE: /api/latest/crash shows the new value', sub { (get('/api/latest/crash'))[1] =~ /"value":"9\.99"/ };

# ---- DELETE, default replica identity: the round leaves history and latest
$stack->psql('DELETE FROM rounds WHERE id = 1004');
wait_for 'DELETE (default identity): latest falls back to 1003', sub { (get('/api/latest/crash'))[1] =~ /"round_id":1003,/ };
# ---- DELETE, FULL replica identity
$stack->psql("ALTER TABLE rounds REPLICA IDENTITY FULL; DELETE FROM rounds WHERE id = 1003; ALTER TABLE rounds REPLICA IDENTITY DEFAULT");
wait_for 'DELETE (FULL identity): latest falls back to 1002', sub { (get('/api/latest/crash'))[1] =~ /"round_id":1002,/ };
($s, $b) = get('/api/history/crash');
is_deeply [map { $_->{round_id} } @{ decode_json($b) }], [1002, 1001], 'history: 1002, 1001, newest first';

# ---- a new game, and a round of it on the type channel
$stack->psql(q{INSERT INTO games (id, slug, name, type) VALUES (6, 'dice', 'Dice', 'multiplier')});
wait_for 'new game: /api/games lists dice', sub { (get('/api/games'))[1] =~ /"slug":"dice","name":"Dice","type":"multiplier"/ };
$t0 = time;
$stack->psql(q{INSERT INTO rounds (id, game_id, finished_at, extras) VALUES (1005, 6, now(), '{"point": "2.00"}')});
$t1 = time;
my @type = $ws_type->recv_n(6, 10);
is scalar @type, 6, '/ws/type/multiplier: every multiplier round';
is_deeply [map { /"round_id":(\d+)/ } @type], [1001 .. 1004, 1004, 1005],
    '/ws/type/multiplier: inserts, the update and the new game\'s round, in order';
check_round($type[-1], round_json(1005, 'dice', 'multiplier'), $t0, $t1, "the new game's round");
is scalar($ws->recv_n(1, 1)), 0, '/ws/crash: nothing of dice';

# ---- TRUNCATE empties the rounds read model
$stack->psql('TRUNCATE rounds');
wait_for 'TRUNCATE: /api/history/crash is empty', sub { my ($s, $b) = get('/api/history/crash'); $s == 200 && $b eq '[]' };
($s, $b) = get('/api/history/type/multiplier');
is $b, '[]', 'TRUNCATE: the type history is empty too';
is((get('/api/latest/crash'))[0], 404, 'TRUNCATE: no latest round');

$stack->stop_cdc;
unlike $stack->log_of('cdc'), qr/"level":"error"|Sanitizer|runtime error/, 'the bridge logged no error';
like $stack->log_of('cdc'), qr/"msg":"datastream-cdc stopped"/, 'the bridge stopped cleanly on SIGTERM';
done_testing;
