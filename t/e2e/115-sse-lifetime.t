# An SSE stream ends after its lifetime (datastream_sse_lifetime, here 1 s: each stream between
# 0.75 and 1 s) and the client resumes it with Last-Event-ID, as EventSource does by itself:
# while rounds flow without pause, the stream is ended several times and the client gets every
# round once, in order. A WebSocket subscriber of the same channel is not ended meanwhile and
# gets every round too. Ending a stream this way leaves nothing behind in the worker: its error
# log has one line per ended stream, no crash, and no connection left open when nginx stops.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token publish_in_background);
use DataStream::Keys qw(rkey);

my $COUNT = 400;
my $stack = DataStream::Stack->new;
$stack->start_redis;
my $port = $stack->start_nginx(env => { DS_SSE_LIFETIME => '1s' });
my $pub = $stack->port('nginx_publish');
$stack->redis_cli('HSET', rkey('games'), crash => '{"slug":"crash","type":"multiplier"}');
my $sk = $stack->api_key(kind => 'sk');
$stack->wait_subscribable(nginx => $sk);

my $sse = sse_connect($port, "/sse/crash?api_key=$sk");
is $sse->status, 200, 'SSE subscriber admitted';
my $ws = ws_connect($port, '/ws/crash', protocol => mint_token($port, $sk));

# Rounds 1 .. COUNT, one every 10 ms, from another process while the client reads.
my @want = map { qq({"round_id":$_,"game_slug":"crash"}) } 1 .. $COUNT;
my $publisher = publish_in_background($pub, 'game.crash', \@want, 0.01);

my (@got, $last_id);
my $ended = 0;
my $deadline = time + 60;
while (@got < $COUNT && time < $deadline) {
    my $e = $sse->next_event(5);
    if ($e) {
        push @got, $e->{data} if $e->{event} eq 'message';
        $last_id = $e->{id} if defined $e->{id};
        next;
    }
    last unless $sse->ended;
    $ended++;
    $sse->close;
    $sse = sse_connect($port, "/sse/crash?api_key=$sk",
                       headers => defined $last_id ? { 'Last-Event-ID' => $last_id } : {});
    is $sse->status, 200, "resumed after the end of stream $ended" if $ended <= 3;
}
waitpid $publisher, 0;
is $?, 0, "all $COUNT rounds published";

cmp_ok $ended, '>=', 2, "the server ended the SSE stream after its lifetime, again and again ($ended times)";
is scalar(@got), $COUNT, 'the resuming client got as many rounds as were published';
is_deeply \@got, \@want, 'every round once, in order, across the ends of stream';

my @ws_got = $ws->recv_n($COUNT, 10);
is_deeply \@ws_got, \@want, 'the WebSocket subscriber got every round once, in order';
ok !$ws->closed, 'the WebSocket stream was not ended';

# Every connection is gone once the clients are: a graceful stop finds none left open.
$sse->close;
$ws->close;
$stack->stop_nginx;
my $log = $stack->nginx_error_log;
my $lines = () = $log =~ /SSE stream ended after its lifetime/g;
cmp_ok $lines, '>=', $ended, 'one log line per ended stream';
my @bad = $log =~ /^(.*(?:exited on signal|\[alert\]|\[emerg\]).*)$/mg;
is scalar(@bad), 0, 'no worker crash, and no connection left open at the graceful stop'
    or diag join "\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)];
done_testing;
