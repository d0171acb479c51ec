# History answers are cached per nginx worker and checked against the
# history's revision, which the consumer changes with every write: an answer
# is never older than the read model at the time of the request (inserts,
# updates of old rounds, deletes, game and type histories), while an
# unchanged history is not read again. The cache is made visible by changing
# a history behind the consumer's back, without a new revision.
use strict;
use warnings;
use Test::More;

use DataStream::Stack;
use DataStream::Keys;
use DataStream::Client qw(http_request);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my $port = $stack->start_nginx;
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk', name => 'server');

sub history {
    my ($path) = @_;
    my $res = http_request(GET => "http://127.0.0.1:$port/api/history/$path",
                           headers => { 'X-API-Key' => $sk });
    is $res->{status}, 200, "GET /api/history/$path: 200" or diag $res->{content};
    return $res->{content};
}

sub ids { join ',', map { /"round_id":(\d+)/ } split /(?<=\}),(?=\{)/, $_[0] }

sub in_redis {
    my ($key, $want) = @_;
    DataStream::Stack::wait_until("$key holds $want",
        sub { join(',', map { /"round_id":(\d+)/ } split /\n/, $stack->redis_cli('ZREVRANGE', $key, 0, -1)) eq $want }, 20);
}

my %json;
my @pairs = map { [DataStream::Stack::round_pair(round_id => $_)] } 1 .. 5;
$json{ $_ + 1 } = $pairs[$_][1] for 0 .. 4;
$stack->publish('datastream.public.rounds', map { $_->[0] } @pairs);
in_redis(rkey('history_game', 'crash'), '5,4,3,2,1');

like $stack->redis_cli('HGET', rkey('history_revisions'), rkey_field('history_game', 'crash')), qr/^\d+\.\d+\.\d+$/, 'the consumer gave the game history a revision';
like $stack->redis_cli('HGET', rkey('history_revisions'), rkey_field('history_type', 'multiplier')), qr/^\d+\.\d+\.\d+$/, 'and the type history';

is history('crash?limit=3'), "[$json{5},$json{4},$json{3}]", 'first answer: the newest three, exact bytes';

# A member written without a new revision shows which answers come from the cache.
my $marker = '{"round_id":99,"marker":true}';
$stack->redis_cli('ZADD', rkey('history_game', 'crash'), 99, $marker);
is history('crash?limit=3'), "[$json{5},$json{4},$json{3}]", 'same revision: answered from the cache, Redis members not read';
is history('crash?limit=2'), "[$json{5},$json{4}]", 'a smaller limit is a prefix of the cached answer';
is history('crash?limit=5'), "[$marker,$json{5},$json{4},$json{3},$json{2}]",
    'a larger limit than the cached answer holds: members read again';
is history('crash?limit=1'), "[$marker]", 'and that answer is cached in turn';
$stack->redis_cli('ZREM', rkey('history_game', 'crash'), $marker);

# Every write of the consumer changes the revision: the next request sees it.
my ($env6, $json6) = DataStream::Stack::round_pair(round_id => 6);
$stack->publish('datastream.public.rounds', $env6);
in_redis(rkey('history_game', 'crash'), '6,5,4,3,2,1');
is history('crash?limit=3'), "[$json6,$json{5},$json{4}]", 'insert: the very next answer has it';

my ($env2u) = DataStream::Stack::round_pair(round_id => 2);
$env2u =~ s/"op":"c"/"op":"u"/;
$env2u =~ s/\\"point\\": \\"[^\\]+\\"/\\"point\\": \\"77.77\\"/;
$stack->publish('datastream.public.rounds', $env2u);
DataStream::Stack::wait_until('update applied',
    sub { $stack->redis_cli('ZRANGEBYSCORE', rkey('history_game', 'crash'), 2, 2) =~ /77\.77/ }, 20);
like history('crash?limit=10'), qr/^\[\Q$json6\E,.*"round_id":2,[^]]*77\.77.*\]$/s,
    'update of an old round (newest members unchanged): the next answer has the new version';
is ids(history('crash?limit=10')), '6,5,4,3,2,1', 'still once each, newest first';

my ($del3) = DataStream::Stack::round_pair(round_id => 3);
$del3 =~ s/"before":null,"after":\{.*?\},"source"/"before":{"id":3},"after":null,"source"/;
$del3 =~ s/"op":"c"/"op":"d"/;
$stack->publish('datastream.public.rounds', $del3);
in_redis(rkey('history_game', 'crash'), '6,5,4,2,1');
is ids(history('crash?limit=10')), '6,5,4,2,1', 'delete: gone from the next answer';

is ids(history('type/multiplier?limit=10')), '6,5,4,2,1', 'type history, first answer';
$stack->redis_cli('ZADD', rkey('history_type', 'multiplier'), 99, $marker);
is ids(history('type/multiplier?limit=10')), '6,5,4,2,1', 'type history answered from the cache';
$stack->redis_cli('ZREM', rkey('history_type', 'multiplier'), $marker);
my ($env7, $json7) = DataStream::Stack::round_pair(round_id => 7);
$stack->publish('datastream.public.rounds', $env7);
in_redis(rkey('history_type', 'multiplier'), '7,6,5,4,2,1');
is ids(history('type/multiplier?limit=10')), '7,6,5,4,2,1', 'type history: the consumer\'s write is seen at once';

# A history without a revision is read from Redis every time.
$stack->redis_cli('HDEL', rkey('history_revisions'), rkey_field('history_game', 'crash'));
$stack->redis_cli('ZADD', rkey('history_game', 'crash'), 99, $marker);
is history('crash?limit=2'), "[$marker,$json7]", 'no revision: members read';
$stack->redis_cli('ZREM', rkey('history_game', 'crash'), $marker);
is history('crash?limit=2'), "[$json7,$json6]", 'no revision: members read again, never cached';

# datastream_history_cache 0: every answer reads the members, revision or not.
$stack->redis_cli('HSET', rkey('history_revisions'), rkey_field('history_game', 'crash'), 'some-revision');
my $port2 = $stack->start_nginx(name => 'nginx2', env => { DS_HISTORY_CACHE => 0 });
my $direct = sub {
    my $res = http_request(GET => "http://127.0.0.1:$port2/api/history/crash?limit=2", headers => { 'X-API-Key' => $sk });
    return "$res->{status} $res->{content}";
};
is $direct->(), "200 [$json7,$json6]", 'cache off: first answer';
$stack->redis_cli('ZADD', rkey('history_game', 'crash'), 99, $marker);
is $direct->(), "200 [$marker,$json7]", 'cache off: same revision, members read again';
$stack->redis_cli('ZREM', rkey('history_game', 'crash'), $marker);

my $errlog = $stack->nginx_error_log;
unlike $errlog, qr/\[(?:alert|emerg|crit)\]|exited on signal/, 'no worker trouble in the error log';

done_testing;
