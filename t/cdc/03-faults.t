# Faults at the source while rows are written: datastream-cdc killed with
# SIGKILL and started again, PostgreSQL crashed (SIGKILL to every process of
# it) and restarted, and stopped cleanly and restarted, each mid-stream. The
# read model ends with exactly the rows the table holds, each once and in
# order, and a WebSocket subscriber has received every one of them.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use POSIX ':sys_wait_h';
use Time::HiRes qw(time sleep);

use DataStream::Stack;
use DataStream::Client qw(http_request ws_connect mint_token);

my $ROWS = 900;      # written in batches of $BATCH, one transaction per row
my $BATCH = 20;

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;
$stack->start_postgres;
$stack->start_cdc;
my $sk = $stack->api_key(kind => 'sk');
DataStream::Stack::wait_until('games registry',
    sub { (http_request(GET => "http://127.0.0.1:$port/api/games", headers => { 'X-API-Key' => $sk })->{content} // '') =~ /wall-street/ }, 20);
$stack->hold_channels(nginx => $sk, 'crash');
my $ws = ws_connect($port, '/ws/crash', protocol => mint_token($port, $sk));

# The writer: a child that inserts the rows in order, retrying a batch whose
# connection a fault cut (ON CONFLICT: a batch that did commit is not doubled).
my $writer = fork // die "fork: $!";
if ($writer == 0) {
    my $id = 1;
    while ($id <= $ROWS) {
        my $last = $id + $BATCH - 1;
        my $sql = join '', map {
            "INSERT INTO rounds (id, game_id, finished_at, extras) VALUES ($_, 1, now(), '{\"point\": \"1.00\"}') ON CONFLICT DO NOTHING;\n"
        } $id .. $last;
        if (eval { $stack->psql($sql); 1 }) { $id = $last + 1; sleep 0.05 } else { sleep 0.2 }
    }
    POSIX::_exit(0);
}

my $rows = sub { $stack->psql('SELECT count(*) FROM rounds') };
my $at = sub { my ($n) = @_; DataStream::Stack::wait_until("$n rows written", sub { (eval { $rows->() } // 0) >= $n }, 60) };

$at->(150);
$stack->kill_cdc;
pass 'datastream-cdc killed with SIGKILL mid-stream';
sleep 0.5;
$stack->start_cdc;
$at->(350);
$stack->restart_postgres(signal => 'KILL');
pass 'PostgreSQL crashed and restarted mid-stream';
$at->(550);
$stack->restart_postgres;
pass 'PostgreSQL stopped (fast) and restarted mid-stream';
$at->(700);
$stack->kill_cdc;
$stack->start_cdc;
pass 'datastream-cdc killed again and started';

waitpid($writer, 0);
is $?, 0, 'the writer wrote every row';
my @table = split /\n/, $stack->psql('SELECT id FROM rounds ORDER BY id DESC');
is scalar @table, $ROWS, "the table holds $ROWS rows";

my @history;
DataStream::Stack::wait_until('the read model catches up', sub {
    my $res = http_request(GET => "http://127.0.0.1:$port/api/history/crash?limit=1000", headers => { 'X-API-Key' => $sk });
    my $list = eval { decode_json($res->{content}) } // [];
    @history = map { $_->{round_id} } @$list;
    @history >= $ROWS;
}, 60);
is_deeply \@history, \@table, 'read model: every row of the table, once, newest first';

my @frames = $ws->recv_n($ROWS, 30);
my @live = map { /"round_id":(\d+)/ } @frames;
my %seen;
my @dups = grep { $seen{$_}++ } @live;
is scalar(keys %seen), $ROWS, 'WebSocket: every row arrived';
is_deeply [grep { $_ <= $ROWS } sort { $a <=> $b } keys %seen], [1 .. $ROWS], 'WebSocket: no row missing';
is_deeply \@live, [sort { $a <=> $b } @live], 'WebSocket: in order';
is scalar @dups, 0, 'WebSocket: no row twice';

like $stack->log_of('cdc'), qr/"msg":"streaming"/, 'the bridge streamed again after the faults';
done_testing;
