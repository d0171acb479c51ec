#!/usr/bin/perl
# Consumer throughput: fills the stream with N round inserts (default 20000) for 4 games,
# then starts the consumer and measures how long it takes to drain the durable.
# usage: perl bench/consumer-throughput.pl [N] [BATCH_SIZE]
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/consumer/lib";
use Time::HiRes qw(time);
use ConsumerTest::Stack;
use ConsumerTest::Events qw(round_event game_event);

my $n = shift // 20000;
my $batch = shift // 256;
my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer(undef, BATCH_SIZE => $batch);
$s->stop('consumer', 'TERM');   # leaves the streams and durables in place

my @games = ([1, 'crash', 'multiplier'], [2, 'double', 'color'], [3, 'slot', 'slots'], [4, 'wall-street', 'trending']);
$s->publish_games(map { game_event(op => 'c', id => $_->[0], slug => $_->[1], type => $_->[2], lsn => $_->[0]) } @games);
my @events = map { round_event(op => 'c', id => $_, game_id => 1 + $_ % 4, lsn => 100 + $_) } 1 .. $n;
for (my $i = 0; $i < @events; $i += 1000) {
    my $end = $i + 999 < $#events ? $i + 999 : $#events;
    $s->nats->js_publish_many('datastream.public.rounds', @events[$i .. $end]);
}

my $t0 = time;
$s->start_consumer(undef, BATCH_SIZE => $batch);
ConsumerTest::Stack::wait_until('drain', 600, sub { $s->consumer_lag('cdc-public-rounds') == 0 });
my $elapsed = time - $t0;
printf "%d rounds, BATCH_SIZE %d: %.2f s, %.0f rounds/s (read model + nchan + NATS)\n",
    $n, $batch, $elapsed, $n / $elapsed;
$s->stop('consumer', 'TERM');
