# Who may write what on NATS (conf/nats/nats-server.conf): every user of the
# shipped configuration is refused what its role does not need, so no pod that
# holds one password can forge change events or live rounds, or destroy the
# stream. The roles' own work (Debezium's publishes, the consumer's durables,
# dead letters and rounds, browsers' subscriptions) runs in every other
# end-to-end test on the same configuration.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);

use DataStream::Stack;

my $stack = DataStream::Stack->new;
$stack->start_nats;

# Connects as $user (undef: no credentials), sends @ops, and returns every line
# the server answered until the PONG of a final PING, or until it closed.
sub session {
    my ($user, $password, @ops) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $stack->port('nats'), Proto => 'tcp')
        or die "connect: $!";
    my %connect = (verbose => JSON::PP::false, pedantic => JSON::PP::false, protocol => 1);
    @connect{qw(user pass)} = ($user, $password) if defined $user;
    print $sock 'CONNECT ' . JSON::PP->new->canonical->encode(\%connect) . "\r\n", map("$_\r\n", @ops), "PING\r\n";
    my ($buf, @lines) = ('');
    my $deadline = time + 5;
    while (time < $deadline) {
        while ($buf =~ s/^([^\r]*)\r\n//) {
            my $line = $1;
            next if $line =~ /^INFO /;
            return @lines if $line eq 'PONG';
            push @lines, $line;
        }
        last unless IO::Select->new($sock)->can_read($deadline - time);
        sysread($sock, my $chunk, 65536) or last;
        $buf .= $chunk;
    }
    push @lines, '(closed)';
    return @lines;
}

sub publish_op { my ($subject) = @_; return ("PUB $subject 2", '{}') }
sub publish_refused { qq(-ERR 'Permissions Violation for Publish to "$_[0]"') }
sub subscribe_refused { qq(-ERR 'Permissions Violation for Subscription to "$_[0]"') }

is_deeply [session(undef, undef)], ["-ERR 'Authorization Violation'", '(closed)'],
    'no credentials on the client port: refused and disconnected';
is_deeply [session('debezium', 'not-' . $stack->nats_password('debezium'))],
    ["-ERR 'Authorization Violation'", '(closed)'], 'a wrong password: refused and disconnected';

my %refused = (
    debezium => [
        [publish_op('rounds.game.crash'), publish_refused('rounds.game.crash'), 'a live round'],
        [publish_op('dlq.datastream.public.rounds'), publish_refused('dlq.datastream.public.rounds'), 'a dead letter'],
        [publish_op('$JS.API.STREAM.DELETE.DebeziumStream'), publish_refused('$JS.API.STREAM.DELETE.DebeziumStream'),
         'deleting the stream'],
        [publish_op('$JS.API.STREAM.PURGE.DebeziumStream'), publish_refused('$JS.API.STREAM.PURGE.DebeziumStream'),
         'purging the stream'],
        ['SUB rounds.> 1', subscribe_refused('rounds.>'), 'reading live rounds'],
    ],
    consumer => [
        [publish_op('datastream.public.rounds'), publish_refused('datastream.public.rounds'), 'a change event'],
        [publish_op('$JS.API.STREAM.PURGE.DebeziumStream'), publish_refused('$JS.API.STREAM.PURGE.DebeziumStream'),
         'purging the stream'],
        [publish_op('$JS.API.CONSUMER.DELETE.DebeziumStream.cdc-public-rounds'),
         publish_refused('$JS.API.CONSUMER.DELETE.DebeziumStream.cdc-public-rounds'), 'deleting a durable'],
        ['SUB datastream.> 1', subscribe_refused('datastream.>'), 'reading change events outside its durables'],
    ],
    subscriber => [
        [publish_op('datastream.public.rounds'), publish_refused('datastream.public.rounds'), 'a change event'],
        [publish_op('rounds.game.crash'), publish_refused('rounds.game.crash'), 'a live round'],
        [publish_op('$JS.API.INFO'), publish_refused('$JS.API.INFO'), 'any JetStream request'],
        ['SUB dlq.> 1', subscribe_refused('dlq.>'), 'reading dead letters'],
        ['SUB _INBOX.> 1', subscribe_refused('_INBOX.>'), "reading other clients' replies"],
    ],
);
for my $user (sort keys %refused) {
    for my $case (@{ $refused{$user} }) {
        my @ops = @$case[0 .. $#$case - 2];
        my ($error, $what) = @$case[-2, -1];
        is_deeply [session($user, $stack->nats_password($user), @ops)], [$error], "$user: $what is refused";
    }
}

# The same sessions with what each role does need: nothing refused.
my %allowed = (
    debezium   => [publish_op('datastream.public.rounds.probe'), 'SUB _INBOX.x 1'],
    consumer   => [publish_op('rounds.game.probe'), publish_op('dlq.probe'), 'SUB _INBOX.x 1'],
    subscriber => ['SUB rounds.game.crash 1', 'SUB rounds.type.multiplier 2'],
    operator   => [publish_op('$JS.API.INFO'), 'SUB > 1'],
);
for my $user (sort keys %allowed) {
    is_deeply [session($user, $stack->nats_password($user), @{ $allowed{$user} })], [],
        "$user: its own subjects are allowed";
}

done_testing;
