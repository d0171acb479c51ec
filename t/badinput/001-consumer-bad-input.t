# Bad input to the consumer: every malformed change event on <prefix>.public.rounds is
# dead-lettered to the JetStream stream DataStreamDeadLetters, subject
# dlq.datastream.public.rounds, with its original bytes and the exact reason in the
# Datastream-Dlq-Reason header, and the valid round published right after it is still
# applied. Table-driven: one assertion per case.
#
# The servers are the shipped configuration (t/lib/DataStream/Stack.pm: conf/nats with
# max_payload 8MB, so a message above the consumer's MAX_MESSAGE_BYTES reaches it).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../consumer/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use DataStream::Stack;
use DataStream::Keys;
use ConsumerTest::Nats;

my $LIMIT = 1048576;    # MAX_MESSAGE_BYTES default

my $SOURCE = '"source":{"version":"3.4.2.Final","connector":"postgresql","name":"datastream","ts_ms":1768621542123,'
           . '"snapshot":"false","db":"datastream","schema":"public","table":"rounds","txId":1,"lsn":%s}';
# A round insert with the given pieces replaced (raw JSON text).
sub ev {
    my (%p) = @_;
    my $after = $p{after} // sprintf '{"id":%s,"game_id":%s,"finished_at":%s,"extras":%s}',
        $p{id} // 7, $p{game_id} // 1, $p{finished_at} // '"2026-01-17T03:45:42.735266Z"', $p{extras} // '"{}"';
    my $source = $p{source} // sprintf $SOURCE, $p{lsn} // 100;
    return sprintf '{"before":null,"after":%s,%s,"op":%s,"ts_ms":1768621542200}', $after, $source, $p{op} // '"c"';
}
my $WRAP = '{"schema":{"type":"struct","fields":[],"optional":false,"name":"datastream.public.rounds.Envelope"}';

my $big = ev(extras => '"' . ('x' x $LIMIT) . '"');
my @cases = (
    # name, message bytes, expected reason (string: exact; Regexp: pattern)
    [ 'oversize message (limit + 1 bytes)', ev(extras => '"' . ('x' x ($LIMIT - length(ev(extras => '""')) + 1)) . '"'),
      sprintf('message: too large (%d bytes, limit %d)', $LIMIT + 1, $LIMIT) ],
    [ 'oversize message (2 MiB)', $big . (' ' x (2 * $LIMIT - length $big)),
      sprintf('message: too large (%d bytes, limit %d)', 2 * $LIMIT, $LIMIT) ],
    [ 'invalid UTF-8: stray continuation byte', ev(extras => qq{"\x80abc"}),
      'message: invalid JSON at position 97: unable to decode byte 0x80 near \'"\'' ],
    [ 'invalid UTF-8: 0xff byte', ev(extras => qq{"{\\"point\\": \\"\xff\\"}"}),
      'message: invalid JSON at position 111: unable to decode byte 0xff near \'"{\\"point\\": \\"\'' ],
    [ 'invalid UTF-8: overlong encoding of /', ev(extras => qq{"\xc0\xaf"}),
      'message: invalid JSON at position 97: unable to decode byte 0xc0 near \'"\'' ],
    [ 'invalid UTF-8: truncated sequence', ev(extras => qq{"\xe2\x9c"}),
      'message: invalid JSON at position 97: unable to decode byte 0xe2 near \'"\'' ],
    [ 'invalid UTF-8: encoded surrogate', ev(extras => qq{"\xed\xa0\x80"}),
      'message: invalid JSON at position 97: unable to decode byte 0xed near \'"\'' ],
    [ 'lone surrogate escape', ev(extras => '"\\ud800"'),
      'message: invalid JSON at position 104: invalid Unicode \'\\uD800\' near \'"\\ud800"\'' ],
    [ 'NUL escape in a string', ev(extras => '"a\\u0000b"'),
      'message: invalid JSON at position 106: \\u0000 is not allowed without JSON_ALLOW_NUL near \'"a\\u0000b"\'' ],
    [ 'nested 33 levels', ev(extras => '"{}"', after => '{"id":7,"game_id":1,"x":' . ('[' x 31) . (']' x 31) . '}'),
      'message: nested deeper than 32 levels' ],
    [ 'nested 100000 levels', ('[' x 100000) . (']' x 100000), 'message: nested deeper than 32 levels' ],
    [ 'after.id zero', ev(id => 0), 'after.id: out of range' ],
    [ 'after.id negative', ev(id => -5), 'after.id: out of range' ],
    [ 'after.id above int64', ev(id => '9223372036854775808'), 'message: invalid JSON at position 48: too big integer near \'9223372036854775808\'' ],
    [ 'after.game_id above int32', ev(game_id => 2147483648), 'after.game_id: out of range' ],
    [ 'source.lsn negative', ev(lsn => -1), 'source.lsn: out of range' ],
    [ 'after.id fraction', ev(id => '7.5'), 'after.id: not an integer' ],
    [ 'after.id exponent', ev(id => '1e3'), 'after.id: not an integer' ],
    [ 'after.id as string (no Decimal schema)', ev(id => '"7"'), 'after.id: not an integer' ],
    [ 'after.game_id as boolean', ev(game_id => 'true'), 'after.game_id: not an integer' ],
    [ 'after.extras as object', ev(extras => '{"point":"1.5"}'), 'after.extras: not a string' ],
    [ 'after.finished_at as number', ev(finished_at => 1768621542), 'after.finished_at: not a string' ],
    [ 'after.finished_at not ISO-8601 UTC', ev(finished_at => '"2026-01-17 03:45:42+02"'),
      'after.finished_at: not an ISO-8601 UTC timestamp' ],
    [ 'after.game_slug not a valid name', ev(after => '{"id":7,"game_id":1,"game_slug":"Bad Slug","game_type":"x","extras":"{}"}'),
      'after.game_slug: not a valid name' ],
    [ 'source as string', ev(source => '"source":"pg"'), 'source: missing' ],
    [ 'source without lsn', ev(source => '"source":{"ts_ms":1}'), 'source.lsn: missing' ],
    [ 'after.id missing', ev(after => '{"game_id":1,"extras":"{}"}'), 'after.id: missing' ],
    [ 'insert with after null', ev(after => 'null'), 'after: missing' ],
    [ 'update without after', '{"before":null,' . sprintf($SOURCE, 100) . ',"op":"u","ts_ms":1}', 'after: missing' ],
    [ 'after as array', ev(after => '[7,1]'), 'after: missing' ],
    [ 'delete without before', '{"before":null,"after":null,' . sprintf($SOURCE, 100) . ',"op":"d","ts_ms":1}', 'before: missing' ],
    [ 'op missing', '{"before":null,"after":{"id":7,"game_id":1},' . sprintf($SOURCE, 100) . ',"ts_ms":1}', 'op: missing' ],
    [ 'op null', ev(op => 'null'), 'op: missing' ],
    [ 'op unknown letter', ev(op => '"x"'), 'op: unknown value' ],
    [ 'op two letters', ev(op => '"cu"'), 'op: unknown value' ],
    [ 'op empty', ev(op => '""'), 'op: unknown value' ],
    [ 'not JSON', 'not json at all', 'message: invalid JSON at position 3: \'[\' or \'{\' expected near \'not\'' ],
    [ 'truncated JSON', substr(ev(), 0, 40), 'message: invalid JSON at position 40: \':\' expected near end of file' ],
    [ 'duplicate key', ev(after => '{"id":7,"id":8,"game_id":1}'), 'message: invalid JSON at position 35: duplicate object key near \'"id"\'' ],
    [ 'JSON array', '[' . ev() . ']', 'message: not a JSON object' ],
    [ 'empty body', '', 'message: invalid JSON at position 0: \'[\' or \'{\' expected near end of file' ],
    [ 'whitespace body', "  \t ", 'message: invalid JSON at position 4: \'[\' or \'{\' expected near end of file' ],
    [ 'schema wrapper, payload missing', "$WRAP}", 'op: missing' ],
    [ 'schema wrapper, payload null', "$WRAP,\"payload\":null}", 'payload: not an object' ],
    [ 'schema wrapper, payload a string', "$WRAP,\"payload\":\"x\"}", 'payload: not an object' ],
    [ 'schema wrapper, payload without after', "$WRAP,\"payload\":" . ev(after => 'null') . '}', 'after: missing' ],
);

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
$stack->start_nginx;
$stack->start_consumer(env => { LOG_LEVEL => 'info', FETCH_TIMEOUT_MS => 300 });
DataStream::Stack::wait_until('consumer subscribed',
    sub { $stack->log_of('consumer') =~ /"msg":"subscribed".*"durable":"cdc-public-rounds"/s }, 30);
my $nats = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('operator'));
my $dlq = $nats->subscribe('dlq.>');
$nats->js_publish('datastream.public.games',
    '{"before":null,"after":{"id":1,"slug":"crash","name":"Crash","type":"multiplier"},"source":{"ts_ms":1,"lsn":1},"op":"r","ts_ms":1}');
DataStream::Stack::wait_until('games registry', sub { $stack->redis_cli('HGET', rkey('game_ids'), 1) =~ /^crash\s*$/  }, 20);

my $round = 1000;
for my $case (@cases) {
    my ($name, $bytes, $reason) = @$case;
    my $next = ++$round;
    my $ack = $nats->js_publish('datastream.public.rounds', $bytes);
    $nats->js_publish('datastream.public.rounds', ev(id => $next, lsn => 1000 + $next));
    my ($dead) = $nats->messages($dlq, 1, 30);
    my $applied = eval {
        DataStream::Stack::wait_until("round $next", sub { $stack->redis_cli('ZCOUNT', rkey('history_game', 'crash'), $next, $next) == 1 }, 30)
    };
    my %got = (
        subject   => $dead && $dead->{subject},
        reason    => $dead && $dead->{headers}{'Datastream-Dlq-Reason'},
        seq       => $dead && $dead->{headers}{'Datastream-Dlq-Stream-Seq'},
        body      => $dead && $dead->{data} eq $bytes ? 'original bytes' : 'changed',
        next_round => $applied ? 'applied' : 'not applied',
    );
    my %want = (subject => 'dlq.datastream.public.rounds', reason => $reason, seq => $ack->{seq},
                body => 'original bytes', next_round => 'applied');
    if (ref $reason) {
        $want{reason} = $got{reason} if defined $got{reason} && $got{reason} =~ $reason;
    }
    diag "$name: " . ($got{reason} // '(none)') if $ENV{DS_BADINPUT_SHOW};
    is_deeply \%got, \%want, $name
        or diag "reason header: " . ($got{reason} // '(none)');
}

my $info = $nats->js_api('STREAM.INFO.DataStreamDeadLetters');
diag sprintf '%d cases, %d dead letters stored', scalar @cases, $info->{state}{messages};
$nats->close;
done_testing;
