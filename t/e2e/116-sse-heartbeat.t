# The SSE heartbeat (datastream_sse_heartbeat, here 1 s) is a ":" comment the module writes
# itself, not nchan's EventSource ping ("event: ping", and a page of pool memory per ping): an
# idle stream gets one comment a second; while rounds flow, every round still arrives whole, once
# and in order, with the comments only between events; a WebSocket subscriber of the same
# channel gets the rounds and nothing else.
use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use File::Path qw(make_path);
use Time::HiRes qw(sleep time);

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token publish_in_background);
use DataStream::Keys qw(rkey);

my $stack = DataStream::Stack->new;
$stack->start_redis;
# The shipped configuration with the heartbeat every second instead of every 15 s.
my $conf = $stack->dir . '/conf-nginx';
make_path($conf);
my $shipped = DataStream::Stack::repo() . '/conf/nginx';
opendir my $d, $shipped or die "$shipped: $!";
copy("$shipped/$_", "$conf/$_") or die "copy $_: $!" for grep { -f "$shipped/$_" } readdir $d;
my $sub = do { local (@ARGV, $/) = "$conf/datastream-subscriber.conf"; <> };
$sub =~ s/^datastream_sse_heartbeat 15s;$/datastream_sse_heartbeat 1s;/m or die "no heartbeat line in datastream-subscriber.conf\n";
open my $fh, '>', "$conf/datastream-subscriber.conf" or die $!;
print $fh $sub;
close $fh or die $!;

my $port = $stack->start_nginx(env => { DS_NGINX_CONF_DIR => $conf, DS_SSE_LIFETIME => '0' });
my $pub = $stack->port('nginx_publish');
$stack->redis_cli('HSET', rkey('games'), crash => '{"slug":"crash","type":"multiplier"}');
my $sk = $stack->api_key(kind => 'sk');
$stack->wait_subscribable(nginx => $sk);

my $sse = sse_connect($port, "/sse/crash?api_key=$sk");
is $sse->status, 200, 'SSE subscriber admitted';
my $ws = ws_connect($port, '/ws/crash', protocol => mint_token($port, $sk));

# Idle: only the greeting and the heartbeat comments.
my $until = time + 3.5;
while (time < $until) { $sse->fill($until) and $sse->decode }
my $idle = $sse->body;
my $beats = () = $idle =~ /(?:^|\n\n)(?=:\n\n)/g;
ok $beats >= 3 && $beats <= 4, "an idle stream got a heartbeat comment every second ($beats in 3.5 s)"
    or diag explain $idle;
unlike $idle, qr/event: ping/, "no nchan ping event";
like $idle, qr/\A: hi\n\n(?::\n\n)+\z/, 'nothing but the greeting and whole ":" comments';

# Rounds 1 .. 30, one every 100 ms, from another process while the client reads.
my @want = map { qq({"round_id":$_,"game_slug":"crash"}) } 1 .. 30;
my $publisher = publish_in_background($pub, 'game.crash', \@want, 0.1);
my $from = length $sse->body;
$until = time + 4.5;
while (time < $until) { $sse->fill($until) and $sse->decode }
waitpid $publisher, 0;
is $?, 0, 'all 30 rounds published';

my @blocks = split /\n\n/, substr($sse->body, $from);
my @comments = grep { $_ eq ':' } @blocks;
my @events = grep { $_ ne ':' } @blocks;
cmp_ok scalar(@comments), '>=', 3, 'heartbeats went on while rounds flowed (' . scalar(@comments) . ')';
is_deeply [map { /^data: (.*)$/m ? $1 : "no data in: $_" } @events], \@want,
    'every round once, whole and in order, with the comments only between events';
is scalar(grep { /^:/m } @events), 0, 'no comment line inside an event';

my @ws_got = $ws->recv_n(31, 2);
is_deeply \@ws_got, \@want, 'the WebSocket subscriber got the rounds and no heartbeat';

$sse->close;
$ws->close;
$stack->stop_nginx;
my @bad = $stack->nginx_error_log =~ /^(.*(?:exited on signal|\[alert\]|\[emerg\]|\[crit\]).*)$/mg;
is scalar(@bad), 0, 'no worker crash, and no connection left open at the graceful stop'
    or diag join "\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)];
done_testing;
