# conf/debezium/application.properties: Debezium Server, PostgreSQL (pgoutput)
# -> NATS JetStream with the sink's real keys, subjects datastream.> (never
# *.*.*), file storage, tables public.rounds and public.games; it agrees with
# the consumer's settings and the KEDA trigger; start.sh parses DATABASE_URL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use DeployTest qw(repo run_cmd tmpdir docs node_ready have_cmd objs containers env_map);

my $repo = repo();
my $file = "$repo/conf/debezium/application.properties";
open my $fh, '<', $file or die "$file: $!";
my (%p, @dups);
while (<$fh>) {
    next if /^\s*(#|$)/;
    chomp;
    my ($k, $v) = /^\s*([^=\s]+)\s*=\s*(.*?)\s*$/ or do { fail("property line parses: $_"); next };
    push @dups, $k if exists $p{$k};
    $p{$k} = $v;
}
close $fh;
is_deeply(\@dups, [], 'no property is set twice');

my $sink = 'debezium.sink.nats-jetstream';
my %want = (
    'debezium.sink.type'                             => 'nats-jetstream',
    "$sink.create-stream"                            => 'true',
    "$sink.subjects"                                 => 'datastream.>',
    "$sink.storage"                                  => 'file',
    'debezium.source.connector.class'                => 'io.debezium.connector.postgresql.PostgresConnector',
    'debezium.source.plugin.name'                    => 'pgoutput',
    'debezium.source.topic.prefix'                   => 'datastream',
    'debezium.format.value'                          => 'json',
    'debezium.format.value.schemas.enable'           => 'false',
    'debezium.source.offset.storage'                 => 'org.apache.kafka.connect.storage.FileOffsetBackingStore',
);
is($p{$_}, $want{$_}, "$_=$want{$_}") for sort keys %want;
like($p{"$sink.url"} // '', qr{^(\$\{[A-Z_]+:)?nats://}, "$sink.url is a nats:// URL");
is($p{"$sink.auth.user"}, '${DS_NATS_USER:debezium}', 'the sink logs in as the NATS user debezium');
is($p{"$sink.auth.password"}, '${DS_NATS_PASSWORD}', 'with a password from the environment, no default');
like(do { local (@ARGV, $/) = "$repo/conf/nats/nats-server.conf"; <> },
     qr/user: debezium\s+password: \$DS_NATS_DEBEZIUM_PASSWORD/, 'a user that conf/nats/nats-server.conf defines');
my @sink_keys = grep { /^\Q$sink\E\./ } keys %p;
my %real = map { ("$sink.$_" => 1) } qw(url create-stream subjects storage auth.user auth.password);
ok($real{$_}, "$_ is a real key of the NATS JetStream sink") for sort @sink_keys;
ok(!exists $p{"$sink.stream"}, "no $sink.stream (not a key of the sink)");
unlike(join("\n", values %p), qr/\*\.\*\.\*/, 'no *.*.* subject anywhere');
my %tables = map { $_ => 1 } split /\s*,\s*/, $p{'debezium.source.table.include.list'} // '';
ok($tables{'public.rounds'}, 'captures public.rounds');
ok($tables{'public.games'}, 'captures public.games');
is(scalar keys %tables, 2, 'captures those two tables only');
like($p{'debezium.source.offset.storage.file.filename'} // '', qr{/offsets\.dat$}, 'offsets go to a file');
# The connector's default skipped.operations=t would drop every TRUNCATE; the read model needs op t.
is($p{'debezium.source.skipped.operations'}, 'none', 'TRUNCATE is not skipped (skipped.operations=none)');

SKIP: {
    skip 'kubectl is not installed', 6 unless have_cmd('kubectl');
    skip 'node packages unavailable', 6 if node_ready();
    my $docs = docs('eks-debezium');
    my ($con) = containers((grep { $_->{metadata}{name} eq 'consumer' } objs($docs, 'Deployment'))[0]);
    my %env = env_map($con);
    is($env{PREFIX} // 'datastream', $p{'debezium.source.topic.prefix'}, "the consumer's PREFIX is Debezium's topic.prefix");
    is($env{STREAM} // 'DebeziumStream', 'DebeziumStream', "the consumer reads the sink's default stream DebeziumStream");
    is($env{CREATE_STREAM} // '0', '0', 'the consumer leaves the stream to Debezium (create-stream=true)');
    my ($dz) = grep { $_->{metadata}{name} eq 'debezium' } objs($docs, 'Deployment');
    ok($dz, 'the debezium component renders a debezium Deployment');
    my ($dc) = containers($dz);
    my ($cm) = grep { $_->{metadata}{name} =~ /^debezium-config-/ } objs($docs, 'ConfigMap');
    is($cm->{data}{'application.properties'}, do { local (@ARGV, $/) = $file; <> },
       'the debezium ConfigMap ships conf/debezium/application.properties unchanged');
    my ($mnt) = grep { $_->{name} eq 'data' } @{ $dc->{volumeMounts} };
    like($p{'debezium.source.offset.storage.file.filename'}, qr/\Q$mnt->{mountPath}\E|DS_DEBEZIUM_DATA_DIR/,
         'the offsets file is on the PersistentVolumeClaim');
}

# start.sh: DATABASE_URL -> DS_DB_* (the exec of Debezium replaced by env).
my $start = "$repo/conf/debezium/start.sh";
open $fh, '<', $start or die "$start: $!";
my $script = do { local $/; <$fh> };
close $fh;
like($script, qr{^exec /debezium/run\.sh$}m, 'start.sh ends by running Debezium Server');
$script =~ s{^exec /debezium/run\.sh$}{env | grep '^DS_DB_' | sort}m;
my $t = tmpdir() . '/start.sh';
open $fh, '>', $t or die $!;
print $fh $script;
close $fh;
my ($rc, $out, $err) = run_cmd({ env => { DATABASE_URL => 'postgres://cdc%40x:p%2Fw%3A1@db.example:6543/games?sslmode=require' } }, 'bash', $t);
is($rc, 0, 'start.sh parses a full DATABASE_URL') or diag $err;
my %db = $out =~ /^(DS_DB_\w+)=(.*)$/mg;
is_deeply(\%db, { DS_DB_USER => 'cdc@x', DS_DB_PASSWORD => 'p/w:1', DS_DB_HOST => 'db.example',
                  DS_DB_PORT => '6543', DS_DB_NAME => 'games', DS_DB_SSLMODE => 'require' },
          'start.sh: user, password (URL-decoded), host, port, database, sslmode');
($rc, $out) = run_cmd({ env => { DATABASE_URL => 'postgresql://u:p@h/d' } }, 'bash', $t);
%db = $out =~ /^(DS_DB_\w+)=(.*)$/mg;
is("$db{DS_DB_HOST}:$db{DS_DB_PORT}/$db{DS_DB_NAME}", 'h:5432/d', 'start.sh: default port 5432');
($rc) = run_cmd({ env => { DATABASE_URL => 'postgres://h:5432' } }, 'bash', $t);
isnt($rc, 0, 'start.sh refuses a DATABASE_URL without user and database');
my %env_used = map { $_ => 1 } join(' ', values %p) =~ /\$\{(DS_DB_\w+)/g;
ok(exists $db{$_} || $_ eq 'DS_DB_SSLMODE', "start.sh sets $_, which application.properties uses") for sort keys %env_used;

done_testing;
