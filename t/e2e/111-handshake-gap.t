# A fresh subscriber gets every round published after its handshake answer,
# also as the first subscriber of a channel on its instance and while rounds
# flow: the module starts it from the channel's newest stored message by id
# instead of from the moment nchan's own Redis subscription is in place
# (docs/streaming.md). Each of 300 handshakes (150 SSE, 150 WebSocket) is the
# first on a channel of its own; a second process publishes to that channel
# without pause meanwhile; right after the answer the test publishes a marker,
# which must arrive, after an unbroken run of the background rounds.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token http_request);
use DataStream::Keys qw(rkey);

my $N = 150;
my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
my $pub = $stack->port('nginx_publish');
my @slugs = map { "gap-$_" } 1 .. 2 * $N;
$stack->redis_cli('HSET', rkey('games'), map { ($_ => qq({"slug":"$_","type":"multiplier"})) } @slugs);
my $sk = $stack->api_key(kind => 'sk');
$stack->wait_subscribable(nginx => $sk, slug => $slugs[0]);

sub post {
    my ($slug, $json) = @_;
    my $res = http_request(POST => "http://127.0.0.1:$pub/pub/game.$slug", body => $json,
                           headers => { 'Content-Type' => 'application/json' });
    return $res->{status} == 201 || $res->{status} == 202;
}

# the background publisher: rounds 1, 2, 3 ... to the channel being opened
my $current = $stack->dir . "/current";
my $bg = fork // die "fork: $!";
if ($bg == 0) {
    my %seq;
    while (1) {
        open my $fh, '<', $current or do { sleep 0.001; next };
        my $slug = <$fh>;
        close $fh;
        next unless $slug && $slug =~ /^gap-\d+$/;
        my $n = ++$seq{$slug};
        post($slug, qq({"round_id":$n,"game_slug":"$slug"})) or $seq{$slug}--;
    }
}

sub current {
    open my $fh, '>', "$current.tmp" or die $!;
    print $fh $_[0];
    close $fh;
    rename "$current.tmp", $current or die $!;
}

my (%missed, %broken);
for my $i (0 .. $#slugs) {
    my $slug = $slugs[$i];
    my $kind = $i < $N ? 'SSE' : 'WebSocket';
    current($slug);
    sleep 0.002;
    my $c = $kind eq 'SSE' ? sse_connect($port, "/sse/$slug?api_key=$sk")
                           : ws_connect($port, "/ws/$slug", protocol => mint_token($port, $sk));
    my $marker = qq({"round_id":0,"game_slug":"$slug","marker":true});
    post($slug, $marker) or die "marker not published on $slug\n";
    my (@seen, $got_marker);
    while (defined(my $got = $kind eq 'SSE' ? do { my $e = $c->next_event(5); $e && $e->{data} }
                                            : $c->recv(5))) {
        if ($got eq $marker) { $got_marker = 1; last }
        push @seen, $got =~ /"round_id":(\d+)/ ? $1 : -1;
    }
    $c->close;
    $missed{$kind}++ unless defined $got_marker;
    push @{ $broken{$kind} }, "$slug: @seen" if grep { $seen[$_] != $seen[$_ - 1] + 1 } 1 .. $#seen;
}
kill 'TERM', $bg;
waitpid $bg, 0;

for my $kind (qw(SSE WebSocket)) {
    is $missed{$kind} // 0, 0, "$kind: $N fresh subscribers, each got the round published right after its handshake";
    is_deeply $broken{$kind} // [], [], "$kind: no background round missing between two it got";
}
done_testing;
