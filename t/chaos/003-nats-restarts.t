# nats-server restarted over and over (same port, same JetStream store) while the consumer is
# busy with a backlog, every other time a few seconds after the consumer itself was restarted: the consumer survives every restart (it reconnects forever, never
# exits or crashes) and the read model ends complete. DS_CHAOS_NATS_RESTARTS (default 12).
# Every third restart is a SIGKILL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../consumer/lib";
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event);

my $RESTARTS = $ENV{DS_CHAOS_NATS_RESTARTS} // 12;
my $s = ConsumerTest::Stack->new;
$s->start_all;
my %env = (LOG_LEVEL => 'info', NAK_DELAY_MAX_MS => 1000, HISTORY_MAX => 100000);
$s->start_consumer(undef, %env);
$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('game', 20, sub { ($s->redis('HGET', rkey('game_ids'), 1) // '') eq 'crash' });

my ($id, $survived, $status) = (0, 0, undef);
for my $round (1 .. $RESTARTS) {
    my @batch = map { $id++; round_event(op => 'c', id => $id, lsn => 100 + $id) } 1 .. 300;
    $s->nats->js_publish_many('datastream.public.rounds', @batch);
    if ($round % 2) {    # a consumer started moments before NATS goes away (seen to crash)
        $s->stop('consumer', 'KILL');
        $s->start_consumer(undef, %env);
        sleep 1 + rand 3;
    } else {
        sleep rand 0.8;    # somewhere inside the consumer's work on the backlog
    }
    $s->drop_nats_client;
    $s->stop('nats', $round % 3 ? 'TERM' : 'KILL');
    sleep rand 0.5;
    $s->start_nats;
    my $pid = $s->pid('consumer');
    if (waitpid($pid, WNOHANG) == $pid) {
        $status = $?;
        diag "consumer died after restart $round, wait status $status (signal " . ($status & 127) . "):\n"
            . join "\n", (split /\n/, $s->log_of('consumer'))[-10 .. -1];
        delete $s->{procs}{consumer};
        last;
    }
    $survived++;
}
is $survived, $RESTARTS, "the consumer survived $RESTARTS NATS restarts";
SKIP: {
    skip 'consumer died', 2 if defined $status;
    eval { ConsumerTest::Stack::wait_until('all rounds', 120, sub { ($s->redis('ZCARD', rkey('history_game', 'crash')) // 0) == $id }) };
    is $s->redis('ZCARD', rkey('history_game', 'crash')), $id, 'every round applied'
        or diag sprintf 'stream holds %s rounds messages; durable lag %s',
            $s->nats->js_api('STREAM.INFO.DebeziumStream')->{state}{messages}, $s->consumer_lag('cdc-public-rounds');
    is $s->stop('consumer', 'TERM'), 0, 'clean exit';
}
done_testing;
