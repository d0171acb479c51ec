# One message of several rounds (round objects joined by "\n", as the
# consumer publishes the rounds of a channel that are ready together) reaches
# every subscriber as one WebSocket frame / one SSE event per round, in order
# (datastream_unbatch). Every round has an id of its own: the last of a
# message the message's id, round k before it "<previous message's id>.<k>";
# a resume from any of them, SSE or WebSocket, replays exactly the rounds
# after it. A fresh subscriber knows the previous id from its first message
# on (the channel's newest when it connected, "0:0" on a channel with none).
# A one-round message passes unchanged; a round a stream got lately is not
# sent again.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token ws_meta_split http_request);
use URI::Escape qw(uri_escape);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');
$stack->hold_channels(nginx => $sk, qw(crash));
my $pub = $stack->port('nginx_publish');

my $n = 0;
sub rounds { map { sprintf '{"round_id":%d,"game_slug":"crash"}', ++$n } 1 .. $_[0] }

sub post {
    my ($channel, @rounds) = @_;
    my $res = http_request(POST => "http://127.0.0.1:$pub/pub/$channel", body => join("\n", @rounds),
                           headers => { 'Content-Type' => 'application/json' });
    die "publish: $res->{status}\n" unless $res->{status} == 201 || $res->{status} == 202;
}

my $ws   = ws_connect($port, '/ws/crash', protocol => mint_token($port, $sk));
my $meta = ws_connect($port, '/ws/crash', protocol => 'ws+meta.nchan, ' . mint_token($port, $sk));
my $sse  = sse_connect($port, "/sse/crash?api_key=$sk");
$sse->events_n(1, 10) if ($sse->next_event(0.5) // {})->{event};   # an initial event, if any

my @one = rounds(1);
my @three = rounds(3);
my @big = rounds(200);
post('game.crash', @one);
post('game.crash', @three);
post('game.crash', @big);
my @all = (@one, @three, @big);

is_deeply [$ws->recv_n(scalar @all, 10)], \@all, 'plain WebSocket: one frame per round, in order';

my @frames = $meta->recv_n(scalar @all, 10);
my @split = map { [ws_meta_split($_)] } @frames;
is_deeply [map { $_->[1] } @split], \@all, 'ws+meta.nchan: one frame per round, in order';
my ($id1, $id3, $id200) = map { $split[$_][0] } 0, 3, $#split;
ok $id1 && $id3 && $id200 && $id1 ne $id3 && $id3 ne $id200, 'ws+meta.nchan: each message has its own id';
is_deeply [map { $_->[0] } @split[1 .. 3]], ["$id1.1", "$id1.2", $id3],
    'a message of three: "<previous id>.<k>" on the first two, its own id on the last';
is_deeply [map { $_->[0] } @split[4 .. $#split]], [(map { "$id3.$_" } 1 .. 199), $id200],
    'a message of 200: "<previous id>.1" to ".199", then its own';
my @meta_ids = map { $_->[0] } @split;

my @events = $sse->events_n(scalar @all, 10);
is_deeply [map { $_->{data} } @events], \@all, 'SSE: one event per round, in order';
is_deeply [map { $_->{event} // 'message' } @events], [('message') x @all], '... all of them message events';
is_deeply [map { $_->{id} } @events], \@meta_ids, '... each with the id its ws+meta.nchan frame has';

# a resume from any round's id: exactly the rounds after it
my $resumed = sse_connect($port, "/sse/crash?api_key=$sk", headers => { 'Last-Event-ID' => $id3 });
is_deeply [map { $_->{data} } $resumed->events_n(200, 10)], \@big, 'SSE resume from a message id: every later round, once';
my $mid = sse_connect($port, "/sse/crash?api_key=$sk", headers => { 'Last-Event-ID' => "$id3.57" });
my @rest = $mid->events_n(143, 10);
is_deeply [map { $_->{data} } @rest], [@big[57 .. 199]], 'SSE resume from round 57 of 200: the 143 after it';
is_deeply [map { $_->{id} } @rest], [@meta_ids[61 .. $#meta_ids]], '... with the same ids as before';
my $again = ws_connect($port, "/ws/crash?last_event_id=$id1", protocol => mint_token($port, $sk));
is_deeply [$again->recv_n(203, 10)], [@three, @big], 'WebSocket resume: every later round, once';
my $ws_mid = ws_connect($port, "/ws/crash?last_event_id=$id1.2", protocol => mint_token($port, $sk));
is_deeply [$ws_mid->recv_n(201, 10)], [$three[2], @big], 'WebSocket resume from round 2 of 3: the 201 after it';
my $meta_mid = ws_connect($port, "/ws/crash?last_event_id=" . uri_escape("$id3.198"),
                          protocol => 'ws+meta.nchan, ' . mint_token($port, $sk));
is_deeply [map { [ws_meta_split($_)] } $meta_mid->recv_n(2, 10)], [["$id3.199", $big[198]], [$id200, $big[199]]],
    'ws+meta.nchan resume from an escaped round id: the last two rounds, with their ids';
is $ws_mid->recv(0.3), undef, 'nothing more';

# a fresh subscriber's first message: ids from the channel's newest message on
my $fresh = sse_connect($port, "/sse/crash?api_key=$sk");
$fresh->events_n(1, 10) if ($fresh->next_event(0.5) // {})->{event};
my @two = rounds(2);
post('game.crash', @two);
my @next = $fresh->events_n(2, 10);
is_deeply [map { $_->{data} } @next], \@two, 'a fresh SSE subscriber: the next message, one event per round';
is $next[0]{id}, "$id200.1", '... its first round "<channel\'s newest id>.1"';

# a channel with no stored message starts from its oldest: "0:0"
my $empty = ws_connect($port, '/ws/double', protocol => 'ws+meta.nchan, ' . mint_token($port, $sk));
my @first = map { sprintf '{"round_id":%d,"game_slug":"double"}', 9000 + $_ } 1 .. 2;
post('game.double', @first);
my @got = map { [ws_meta_split($_)] } $empty->recv_n(2, 10);
is_deeply [map { $_->[1] } @got], \@first, 'a channel without messages: its first message, a frame per round';
is $got[0][0], '0:0.1', '... the first round "0:0.1"';
my $from_oldest = ws_connect($port, '/ws/double?last_event_id=0:0.1', protocol => mint_token($port, $sk));
is_deeply [$from_oldest->recv_n(1, 10)], [$first[1]], '... from which a resume gets the second round only';

# a repeated publication (the consumer never saw nchan's answer) reaches no one twice
my @four = rounds(4);
post('game.crash', @four[0 .. 2]);
post('game.crash', @four);
post('game.crash', $four[3]);
my @once = (@two, @four);
is_deeply [$ws->recv_n(scalar @once, 10)], \@once, 'plain WebSocket: each repeated round once';
is $ws->recv(0.3), undef, '... and nothing after';
my @ev = $fresh->events_n(4, 10);
is_deeply [map { $_->{data} } @ev], \@four, 'SSE: each repeated round once';
is $fresh->next_event(0.3), undef, '... and nothing after';

$_->close for $ws, $meta, $sse, $resumed, $mid, $again, $ws_mid, $meta_mid, $fresh, $empty, $from_oldest;
done_testing;
