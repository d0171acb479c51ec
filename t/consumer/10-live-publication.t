# Live rounds reach nchan in the script run that applies them: a fetched batch becomes one nchan
# message per channel holding its rounds in stream order, each once, and neither the backend's
# state nor the NATS publication that follows holds it up: with nginx' worker stopped the
# consumer still applies, publishes to NATS and acks every round, and nchan serves them all
# once the worker runs again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event round_json);
use HTTP::Tiny;
use JSON::PP qw(decode_json);

my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer;
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('registry', 10, sub { ($s->redis('HLEN', rkey('games')) // 0) == 1 });
$s->stop('consumer', 'TERM');

my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.game.>');
my %crash = (slug => 'crash', type => 'multiplier');

sub nchan_messages {
    my ($channel) = @_;
    my $r = HTTP::Tiny->new(timeout => 5)->get('http://127.0.0.1:' . $s->port('nginx') . "/pub/$channel",
                                               { headers => { Accept => 'text/json' } });
    return $r->{status} == 200 ? decode_json($r->{content})->{messages} : 0;
}

# Five rounds wait in the stream; the consumer fetches them as one batch.
$s->publish_rounds(map { round_event(op => 'c', id => $_, lsn => 10 + $_) } 1 .. 5);
$s->start_consumer;
ConsumerTest::Stack::wait_until('batch acked', 10, sub { $s->consumer_lag('cdc-public-rounds') == 0 });
is nchan_messages('game.crash'), 1, 'game channel: the batch as one message';
is nchan_messages('type.multiplier'), 1, 'type channel: the same';
is $s->nchan_rounds('game.crash'), 5, 'game channel: every round once';
my @got = $watch->messages($sid, 5, 10);
is_deeply [ map { $_->{data} } @got ], [ map { round_json(id => $_, lsn => 10 + $_, %crash) } 1 .. 5 ],
    'NATS: every round once, in order';

# nginx' worker stopped: nothing the consumer does waits for it.
chomp(my $worker = `pgrep -P ${\ $s->pid('nginx')}`);
ok $worker, 'nginx worker found';
kill 'STOP', $worker;
$s->publish_rounds(map { round_event(op => 'c', id => $_, lsn => 10 + $_) } 6 .. 8);
my $acked = eval { ConsumerTest::Stack::wait_until('acked while nginx is stopped', 10,
                                                   sub { $s->consumer_lag('cdc-public-rounds') == 0 }); 1 };
@got = $watch->messages($sid, 3, 10);
kill 'CONT', $worker;
ok $acked, 'rounds applied and acked while the backend is stopped';
is_deeply [ map { $_->{data} } @got ], [ map { round_json(id => $_, lsn => 10 + $_, %crash) } 6 .. 8 ],
    'NATS: published meanwhile, in order';
is $s->nchan_rounds('game.crash'), 8, 'nchan: every round once, those of the stop too';
is $s->nchan_rounds('type.multiplier'), 8, 'type channel: the same';
is scalar($watch->messages($sid, 1, 1)), 0, 'nothing published twice';
is $s->redis('HGET', rkey('round_version', 8), 'pub'), sprintf('%020d', 18), 'publications recorded';
is $s->stop('consumer', 'TERM'), 0, 'clean exit';

done_testing;
