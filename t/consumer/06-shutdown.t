# SIGTERM mid-stream: the consumer stops fetching, settles the batch in hand, flushes its acks
# and exits 0; nothing stays unacknowledged and a restart continues where it stopped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event);

my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer('consumer', BATCH_SIZE => 50);
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
my $n = 1000;
$s->nats->js_publish_many('datastream.public.rounds', map { round_event(op => 'c', id => $_, lsn => 10 + $_) } 1 .. $n);
ConsumerTest::Stack::wait_until('progress', 30, sub { $s->redis('ZCARD', rkey('history_game', 'crash')) > 0 });

is $s->stop('consumer', 'TERM'), 0, 'SIGTERM mid-stream exits 0';
like $s->log_of('consumer'), qr/"msg":"shutting down".*"msg":"worker stopped".*"msg":"stopped","exit_code":0/s,
    'shutdown is logged in order';
my $info = $s->nats->js_api('CONSUMER.INFO.DebeziumStream.cdc-public-rounds');
is $info->{num_ack_pending}, 0, 'no message left unacknowledged';
is $info->{num_redelivered}, 0, 'nothing needed redelivery';

$s->start_consumer('consumer', BATCH_SIZE => 50);
ConsumerTest::Stack::wait_until('drained', 60, sub { $s->consumer_lag('cdc-public-rounds') == 0 });
is $s->redis('ZCARD', rkey('history_game', 'crash')), $n, 'restart completes the stream';
is $s->metric('consumer', 'datastream_messages_processed_total{op="c",result="skipped"}'), 0,
    'the restarted consumer saw no message twice';
is $s->stop('consumer', 'TERM'), 0, 'clean exit';
done_testing;
