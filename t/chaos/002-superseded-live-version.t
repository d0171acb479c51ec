# A round inserted and then updated while nginx is down: both changes are
# applied to the read model and both live versions published, oldest first, on
# NATS at once and into nchan's storage, where nginx finds them when it is
# back (the consumer does not wait for it).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../consumer/lib";
use Test::More;
use ConsumerTest::Stack;
use DataStream::Keys;
use ConsumerTest::Events qw(round_event game_event round_json);

my $s = ConsumerTest::Stack->new;
$s->start_all;
$s->start_consumer;
my %rj = (slug => 'crash', type => 'multiplier');
my $watch = ConsumerTest::Nats->new($s->port('nats'));
my $sid = $watch->subscribe('rounds.game.crash');

$s->publish_games(game_event(op => 'c', id => 1, slug => 'crash', type => 'multiplier', lsn => 1));
ConsumerTest::Stack::wait_until('game', 10, sub { ($s->redis('HGET', rkey('game_ids'), 1) // '') eq 'crash' });

$s->stop('nginx', 'TERM');
my $insert = round_json(id => 7, lsn => 10, %rj, extras => '{"point": "1.50"}');
my $update = round_json(id => 7, lsn => 11, %rj, extras => '{"point": "2.50"}');
$s->publish_rounds(round_event(op => 'c', id => 7, lsn => 10, extras => '{"point": "1.50"}'));
ConsumerTest::Stack::wait_until('insert applied', 20, sub { ($s->redis('ZRANGE', rkey('history_game', 'crash'), 0, -1) // '') eq $insert });
$s->publish_rounds(round_event(op => 'u', id => 7, lsn => 11, extras => '{"point": "2.50"}'));
ConsumerTest::Stack::wait_until('update applied', 20, sub { ($s->redis('ZRANGE', rkey('history_game', 'crash'), 0, -1) // '') eq $update });
ConsumerTest::Stack::wait_until('drained while nginx is down', 20, sub { $s->consumer_lag('cdc-public-rounds') == 0 });

my @got = map { $_->{data} } $watch->messages($sid, 2, 10);
is_deeply \@got, [ $insert, $update ], 'both live versions published, insert first'
    or diag "published on rounds.game.crash:\n" . join("\n", @got);
$s->start_nginx;
is $s->nchan_rounds('game.crash'), 2, 'nchan holds both versions';
is $s->stop('consumer', 'TERM'), 0, 'clean exit';
done_testing;
