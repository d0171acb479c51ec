# datastream-cdc against Debezium's output: the changes that
# t/fixtures/debezium/rounds.value.*.jsonl describe (a snapshot, an insert, an update
# and a delete under each replica identity) are made in a real PostgreSQL on
# the fixtures' wider table; two bridges, with and without the schema
# wrapper, publish them; every envelope must have the fixture's shape field
# by field (names, JSON types, nesting), the same schema block, and the same
# row values. What differs by nature (times, LSNs, transaction ids, the
# version string) is compared by type and form only.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use MIME::Base64;
use B ();
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../consumer/lib";

use DataStream::Stack;
use ConsumerTest::Nats;

my $FIXTURES = DataStream::Stack->repo . '/t/fixtures/debezium';

# The fixtures were made with topic.prefix=app; the stack's NATS lets the
# debezium user publish under datastream.> only, so the bridges run with the
# project's prefix and the fixtures' names are read with it.
my $PREFIX = 'datastream';
sub read_jsonl {
    my ($file) = @_;
    open my $fh, '<', "$FIXTURES/$file" or die "$file: $!";
    return map { s/"app\.public\./"$PREFIX.public./g; s/"name":"app"/"name":"$PREFIX"/g; decode_json($_) }
           grep { /\S/ } <$fh>;
}
my @with_schema = read_jsonl('rounds.value.schemas-enabled.jsonl');
my @bare        = read_jsonl('rounds.value.schemas-disabled.jsonl');
my @index       = read_jsonl('rounds.index.jsonl');
is scalar @with_schema, 7, 'seven fixture events with the schema wrapper';
is scalar @bare, 7, 'seven without';

my $stack = DataStream::Stack->new;
$stack->start_nats;
$stack->start_postgres;

# The fixtures' table, in place of the contract's.
$stack->psql(<<'SQL');
DROP TABLE IF EXISTS public.rounds;
CREATE TABLE public.rounds (
  id bigint PRIMARY KEY, game_id integer NOT NULL, round_uuid uuid, status text,
  multiplier numeric(10,2), started_at timestamp, finished_at timestamptz, extras jsonb);
INSERT INTO rounds VALUES
  (90311, 7, '0d6c5b1e-3f7a-4c8e-9a51-2f0c8e4b7d13', 'finished', 2.35, '2025-11-14 13:49:40',
   '2025-11-14 13:49:52.418+00', '{"bets": 412, "crash_at": 2.35, "seed_hash": "9f2c1ab4"}'),
  (90312, 7, '5a0e9f44-81c2-4f3e-b7a9-6c1d2e3f4a5b', 'running', NULL, '2025-11-14 13:50:01.25', NULL,
   '{"bets": 388}'),
  (90300, 7, NULL, 'finished', 1.00, NULL, '2025-11-14 13:00:00+00', '{}');
SQL

# Two bridges on two slots read the same changes: one wraps, one does not.
for my $wrap (1, 0) {
    $stack->start_cdc(name => "cdc-$wrap", env => {
        TOPIC_PREFIX => $PREFIX, TABLES => 'public.rounds', SCHEMAS_ENABLE => $wrap,
        SLOT_NAME => "fidelity_$wrap", PUBLICATION_NAME => 'fidelity',
    });
}
# Every message of the stream, in order: {subject, data}.
sub stream_messages {
    my $n = ConsumerTest::Nats->new($stack->port('nats'), $stack->nats_credentials('operator'));
    my $info = $n->js_api('STREAM.INFO.DebeziumStream');
    my @m;
    for my $seq ($info->{state}{first_seq} .. $info->{state}{last_seq}) {
        next unless $info->{state}{messages};
        my $r = $n->js_api('STREAM.MSG.GET.DebeziumStream', qq({"seq":$seq}));
        push @m, { subject => $r->{message}{subject}, data => decode_base64($r->{message}{data}) };
    }
    $n->close;
    return @m;
}

my @seen;
my $wait = sub {
    my ($n, $what) = @_;
    my $deadline = time + 20;
    while ((@seen = stream_messages()) < $n && time < $deadline) {
        select undef, undef, undef, 0.1;
    }
    is scalar @seen, $n, "$what: $n events in the stream";
};
$wait->(6, 'snapshot of three rows by each bridge');

$stack->psql(<<'SQL');
INSERT INTO rounds VALUES (90313, 7, 'b7e2d0c4-19aa-4f06-8d3e-0e5b6a7c8d9f', 'running', NULL,
  '2025-11-14 13:50:21.004117', NULL, '{"bets": 0}');
ALTER TABLE rounds REPLICA IDENTITY FULL;
UPDATE rounds SET status = 'finished', multiplier = 12.75, finished_at = '2025-11-14 13:50:39.771203+00',
  extras = '{"bets": 455, "top_win": {"user": 5512, "amount": "840.00"}, "crash_at": 12.75}' WHERE id = 90313;
ALTER TABLE rounds REPLICA IDENTITY DEFAULT;
UPDATE rounds SET status = 'finished' WHERE id = 90313;
DELETE FROM rounds WHERE id = 90311;
INSERT INTO rounds VALUES (90311, 7, '0d6c5b1e-3f7a-4c8e-9a51-2f0c8e4b7d13', 'finished', 2.35, '2025-11-14 13:49:40',
  '2025-11-14 13:49:52.418+00', '{"bets": 412, "crash_at": 2.35, "seed_hash": "9f2c1ab4"}');
ALTER TABLE rounds REPLICA IDENTITY FULL;
DELETE FROM rounds WHERE id = 90311;
TRUNCATE rounds;
SQL
$wait->(6 + 2 * 7, 'insert, two updates, delete, insert, delete, truncate');

my (%by_wrap);
for my $m (@seen) {
    is $m->{subject}, "$PREFIX.public.rounds", 'subject <prefix>.<schema>.<table>' if $m == $seen[0];
    my $v = decode_json($m->{data});
    push @{ $by_wrap{ exists $v->{schema} ? 1 : 0 } }, $v;
}
is scalar @{ $by_wrap{1} // [] }, 10, 'ten wrapped events';
is scalar @{ $by_wrap{0} // [] }, 10, 'ten bare events';

# Which bridge event stands for which fixture line.
sub payload { exists $_[0]{schema} ? $_[0]{payload} : $_[0] }
sub row_id { my $p = payload($_[0]); ($p->{after} // $p->{before} // {})->{id} }
sub pick {
    my ($events, $case) = @_;
    my @e = @$events;
    my %cases = (
        'snapshot-read-first'             => sub { (grep { payload($_)->{op} eq 'r' && row_id($_) == 90311 } @e)[0] },
        'snapshot-read-middle'            => sub { (grep { payload($_)->{op} eq 'r' && row_id($_) == 90312 } @e)[0] },
        'insert'                          => sub { (grep { payload($_)->{op} eq 'c' && row_id($_) == 90313 } @e)[0] },
        'update-replica-identity-full'    => sub { (grep { payload($_)->{op} eq 'u' } @e)[0] },
        'update-replica-identity-default' => sub { (grep { payload($_)->{op} eq 'u' } @e)[1] },
        'delete-replica-identity-default' => sub { (grep { payload($_)->{op} eq 'd' } @e)[0] },
        'delete-replica-identity-full'    => sub { (grep { payload($_)->{op} eq 'd' } @e)[1] },
    );
    return $cases{$case}->();
}

sub json_type {
    my ($v) = @_;
    return 'null' unless defined $v;
    return 'object' if ref $v eq 'HASH';
    return 'array' if ref $v eq 'ARRAY';
    return 'boolean' if JSON::PP::is_bool($v);
    my $flags = B::svref_2object(\$v)->FLAGS;
    return ($flags & (B::SVp_IOK() | B::SVp_NOK())) && !($flags & B::SVp_POK()) ? 'number' : 'string';
}

# Differences of shape between two JSON values, as "path: what" lines.
sub shape_diff {
    my ($got, $want, $path) = @_;
    my ($tg, $tw) = (json_type($got), json_type($want));
    return ("$path: $tg, fixture has $tw") if $tg ne $tw;
    my @d;
    if ($tw eq 'object') {
        my %k = map { $_ => 1 } keys %$got, keys %$want;
        for my $k (sort keys %k) {
            if (!exists $got->{$k})  { push @d, "$path.$k: missing"; next }
            if (!exists $want->{$k}) { push @d, "$path.$k: not in the fixture"; next }
            push @d, shape_diff($got->{$k}, $want->{$k}, "$path.$k");
        }
    } elsif ($tw eq 'array') {
        return ("$path: $#$got+1 items, fixture " . ($#$want + 1)) if @$got != @$want;
        push @d, shape_diff($got->[$_], $want->[$_], "$path\[$_]") for 0 .. $#$want;
    }
    return @d;
}

my $canon = JSON::PP->new->canonical;
for my $wrap (1, 0) {
    my $fixtures = $wrap ? \@with_schema : \@bare;
    my $label = $wrap ? 'with schema' : 'bare';
    for my $i (0 .. 6) {
        my $case = $index[$i]{case};
        my $got = pick($by_wrap{$wrap}, $case);
        ok $got, "$label $case: the bridge made it" or next;
        my $want = $fixtures->[$i];
        my @diff = shape_diff($got, $want, '');
        ok !@diff, "$label $case: same shape as Debezium's" or diag join "\n", @diff;
        my ($gp, $wp) = (payload($got), payload($want));
        is $canon->encode([$gp->{before}, $gp->{after}]), $canon->encode([$wp->{before}, $wp->{after}]),
            "$label $case: before and after are Debezium's values";
        is_deeply [@{ $gp->{source} }{qw(connector schema table snapshot)}, $gp->{op}],
                  [@{ $wp->{source} }{qw(connector schema table snapshot)}, $wp->{op}],
            "$label $case: connector, schema, table, snapshot marker and op";
        is $gp->{source}{name}, $PREFIX, "$label $case: source.name is the topic prefix";
        like $gp->{source}{sequence}, qr/^\[(null|"\d+"),"\d+"\]$/, "$label $case: source.sequence";
        like $gp->{source}{version}, qr/datastream-cdc/, "$label $case: the version names the stand-in";
        if ($wrap) {
            is $canon->encode($got->{schema}), $canon->encode($want->{schema}),
                "$label $case: the schema block is Debezium's";
        }
    }
    # Truncate: Debezium's op "t" carries no row.
    my ($t) = grep { payload($_)->{op} eq 't' } @{ $by_wrap{$wrap} };
    ok $t && !defined payload($t)->{before} && !defined payload($t)->{after}
        && payload($t)->{source}{table} eq 'rounds', "$label truncate: op t, no before or after";
}

# Source positions grow with the stream, and ts_ms is the commit's.
my @lsn = map { payload($_)->{source}{lsn} } grep { payload($_)->{op} ne 'r' } @{ $by_wrap{0} };
is_deeply [@lsn], [sort { $a <=> $b } @lsn], 'source.lsn grows from change to change';
done_testing;
