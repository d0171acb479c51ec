# While nchan keeps the consumer's publishing thread waiting, the fetch thread goes on: the
# rounds it fetches meanwhile are applied to the read model at once, and the batches queue
# behind the publication in progress as one, so that they go out together, as one nchan message
# per channel, in stream order, each round once, when the publisher answers again.
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
# One round per fetch; ACK_WAIT well above the pause, so nothing is redelivered meanwhile.
$s->start_consumer(undef, BATCH_SIZE => 1, ACK_WAIT => 30);
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('registry', 10, sub { ($s->redis('HLEN', rkey('games')) // 0) == 1 });

my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.game.>');
my %crash = (slug => 'crash', type => 'multiplier');

sub applied { defined $s->redis('HGET', rkey('round_version', $_[0]), 'lsn') }
sub undelivered { $s->nats->js_api('CONSUMER.INFO.DebeziumStream.cdc-public-rounds')->{num_pending} }
sub nchan_messages {
    my ($channel) = @_;
    my $r = HTTP::Tiny->new(timeout => 5)->get('http://127.0.0.1:' . $s->port('nginx') . "/pub/$channel",
                                               { headers => { Accept => 'text/json' } });
    return $r->{status} == 200 ? decode_json($r->{content})->{messages} : 0;
}

# nginx' worker stopped: the publication of round 1 waits for its answer (within the
# consumer's 5 s I/O timeout, so that it is not retried).
chomp(my $worker = `pgrep -P ${\ $s->pid('nginx')}`);
ok $worker, 'nginx worker found';
kill 'STOP', $worker;
$s->publish_rounds(round_event(op => 'c', id => 1, lsn => 11));
ConsumerTest::Stack::wait_until('round 1 applied', 3, sub { applied(1) });
$s->publish_rounds(map { round_event(op => 'c', id => $_, lsn => 10 + $_) } 2 .. 5);
my $went_on = eval { ConsumerTest::Stack::wait_until('rounds 2-5 applied', 2, sub { applied(5) && undelivered() == 0 }); 1 };
kill 'CONT', $worker;
ok $went_on, 'rounds fetched while the publication hangs are applied at once';

my @got = $watch->messages($sid, 5, 10);
is_deeply [ map { $_->{data} } @got ], [ map { round_json(id => $_, lsn => 10 + $_, %crash) } 1 .. 5 ],
    'NATS: every round once, in order';
ConsumerTest::Stack::wait_until('all acked', 10, sub { $s->consumer_lag('cdc-public-rounds') == 0 });
is $s->nchan_rounds('game.crash'), 5, 'nchan: every round once';
is nchan_messages('game.crash'), 2, 'game channel: round 1, then the four queued meanwhile as one message';
is nchan_messages('type.multiplier'), 2, 'type channel: the same';
is scalar($watch->messages($sid, 1, 1)), 0, 'nothing published twice';
is $s->redis('HGET', rkey('round_version', 5), 'pub'), sprintf('%020d', 15), 'publications recorded';
is $s->metric('consumer', 'datastream_sink_errors_total{sink="nchan"}') // 0, 0, 'no failed publication';
is $s->stop('consumer', 'TERM'), 0, 'clean exit';

done_testing;
