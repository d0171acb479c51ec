# Redis and NATS outages: messages wait (NAK with delay, no busy loop), readiness reports the
# outage, and once the dependency is back everything is applied and published exactly once.
# nginx is not a dependency: the consumer writes nchan's storage in Redis itself.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(sleep);
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event round_json);

my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer;
my %rj = (slug => 'crash', type => 'multiplier');
my $retried = 'datastream_messages_processed_total{op="c",result="retried"}';
sub ready { $s->http_get('consumer', '/readyz')->{status} }

$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
$s->publish_rounds(round_event(op => 'c', id => 1, lsn => 10));
ConsumerTest::Stack::wait_until('first round', 10, sub { $s->redis('ZCARD', rkey('history_game', 'crash')) == 1 });
ConsumerTest::Stack::wait_until('ready', 10, sub { ready() == 200 });
pass 'ready with every dependency up';

# --- Redis down for about ten seconds
my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.game.crash');
$s->shutdown_redis;
$s->publish_rounds(map { round_event(op => 'c', id => $_, lsn => 10 + $_) } 2 .. 4);
ConsumerTest::Stack::wait_until('not ready', 10, sub { ready() == 503 });
like $s->http_get('consumer', '/readyz')->{content}, qr/"redis":false/, 'readyz names redis';
sleep 10;
my $retries = $s->metric('consumer', $retried);
cmp_ok $retries, '>=', 3, 'messages were retried while Redis was down';
cmp_ok $retries, '<', 150, 'retries are paced by the NAK delay, not a busy loop';
cmp_ok $s->metric('consumer', 'datastream_sink_errors_total{sink="redis"}'), '>=', 1, 'redis sink errors counted';
$s->start_redis;
ConsumerTest::Stack::wait_until('rounds after redis', 30, sub { $s->redis('ZCARD', rkey('history_game', 'crash')) == 4 });
my @after_redis = $watch->messages($sid, 3, 10);
is_deeply [ sort map { $_->{data} } @after_redis ], [ sort map { round_json(id => $_, lsn => 10 + $_, %rj) } 2 .. 4 ],
    'rounds held during the Redis outage applied and published once';
ConsumerTest::Stack::wait_until('ready again', 10, sub { ready() == 200 });
pass 'ready again after Redis is back';

# --- nginx down: the consumer does not depend on it; rounds wait in nchan's storage
$s->stop('nginx', 'TERM');
$s->publish_rounds(map { round_event(op => 'c', id => $_, lsn => 10 + $_) } 5 .. 6);
my @while_nginx = $watch->messages($sid, 2, 20);
is_deeply [ map { $_->{data} } @while_nginx ], [ map { round_json(id => $_, lsn => 10 + $_, %rj) } 5 .. 6 ],
    'published on NATS while nginx is down';
ConsumerTest::Stack::wait_until('acked while nginx down', 10, sub { $s->consumer_lag('cdc-public-rounds') == 0 });
is ready(), 200, 'ready: nginx is not a dependency of the consumer';
unlike $s->http_get('consumer', '/readyz')->{content}, qr/publisher/, 'readyz names no publisher';
$s->start_nginx;
is $s->nchan_rounds('game.crash'), 6, 'nchan holds every round once, those published while nginx was down too';

# --- NATS restarted (JetStream state kept on disk)
$watch->close;
$s->drop_nats_client;
$s->stop('nats', 'TERM');
ConsumerTest::Stack::wait_until('nats not ready', 10, sub { ready() == 503 });
pass 'not ready while NATS is down';
$s->start_nats;
ConsumerTest::Stack::wait_until('ready after nats', 30, sub { ready() == 200 });
$watch = ConsumerTest::Nats->new($s->port('nats'));
$sid = $watch->subscribe('rounds.game.crash');
$s->publish_rounds(map { round_event(op => 'c', id => $_, lsn => 10 + $_) } 7 .. 8);
my @after_nats = $watch->messages($sid, 2, 30);
is_deeply [ map { $_->{data} } @after_nats ], [ map { round_json(id => $_, lsn => 10 + $_, %rj) } 7 .. 8 ],
    'processing resumes after a NATS restart';
is $s->redis('ZCARD', rkey('history_game', 'crash')), 8, 'read model complete';
ok kill(0, $s->pid('consumer')), 'consumer survived every outage';
is $s->stop('consumer', 'TERM'), 0, 'clean exit';
done_testing;
