# Every environment variable the manifests set on the consumer is one the
# consumer reads (its variable table / getenv calls, and --help when built).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use DeployTest qw(repo docs node_ready have_cmd objs containers run_cmd);

plan skip_all => 'kubectl is not installed' unless have_cmd('kubectl');
my $why = node_ready();
plan skip_all => "node packages unavailable: $why" if $why;

my $repo = repo();
my %reads;
for my $f (glob "$repo/consumer/src/*.c") {
    open my $fh, '<', $f or die "$f: $!";
    my $src = do { local $/; <$fh> };
    $reads{$1} = 1 while $src =~ /\bgetenv\s*\(\s*"([A-Z0-9_]+)"/g;
    $reads{$1} = 1 while $src =~ /\b(?:TEXT|INT)\s*\(\s*"([A-Z0-9_]+)"/g;
}
ok(scalar keys %reads, 'the consumer sources name the variables they read') or BAIL_OUT('no variables found');

my $bin = ($ENV{DS_BUILD_DIR} // "$repo/build") . "/bin/datastream-consumer";
my %help;
if (-x $bin) {
    my ($rc, $out, $err) = run_cmd($bin, '--help');
    %help = map { $_ => 1 } ("$out$err" =~ /^\s+([A-Z][A-Z0-9_]+)\s/mg);
}

my $docs = docs('eks-debezium');
my ($dep) = grep { $_->{metadata}{name} eq 'consumer' } objs($docs, 'Deployment');
my @env = map { $_->{name} } map { @{ $_->{env} // [] } } containers($dep);
ok(scalar @env, 'the consumer Deployment sets environment variables');
for my $name (@env) {
    ok($reads{$name}, "consumer reads $name (sources)");
    SKIP: {
        skip "$bin is not built", 1 unless %help;
        ok($help{$name}, "datastream-consumer --help lists $name");
    }
}
for my $name (qw(NATS_URL REDIS_URL METRICS_ADDR METRICS_PORT SHUTDOWN_GRACE)) {
    ok((grep { $_ eq $name } @env), "the consumer Deployment sets $name");
}

done_testing;
