# Schema validation of every rendered object with the pinned kubernetes-models
# packages (JSON schema: types, enums, required fields), then TypeScript's
# excess-property check (tsc --noEmit) for misspelled or unknown fields.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(remove_tree);
use Test::More;
use DeployTest qw(repo run_cmd render_file node_ready have_cmd tmpdir);

plan skip_all => 'kubectl is not installed' unless have_cmd('kubectl');
my $why = node_ready();
plan skip_all => "node packages unavailable: $why" if $why;

my $repo = repo();
my $validate = "$repo/t/deploy/validate.mjs";
my $tsc = "$repo/t/deploy/node_modules/typescript/bin/tsc";
my %seen_kind;
my (@files, %dir_of);

for my $name (sort keys %DeployTest::DIRS) {
    my $dir = $DeployTest::DIRS{$name};
    my $f = render_file($name);
    ok($f, "kubectl kustomize $dir renders") or next;
    push @files, $f;
    $dir_of{$f} = $dir;
}

# One node process for every rendering (start-up time dominates).
my ($rc, $out, $err) = run_cmd('node', $validate, 'validate', @files);
is($rc, 0, 'validate.mjs runs') or diag $err;
for my $line (split /\n/, $out) {
    my ($status, $f, $obj, $msg) = split /\t/, $line;
    $seen_kind{ (split m{/}, $obj)[0] } = 1;
    is($status, 'ok', "$dir_of{$f}: $obj matches its schema") or diag $msg;
}

# Excess-property check: every object as a typed literal, one tsc run. The
# output dir sits inside node_modules so the generated file resolves the packages.
my $ts = "$repo/t/deploy/node_modules/.ds-tscheck";
remove_tree($ts);
($rc, $out, $err) = run_cmd('node', $validate, 'ts', $ts, @files);
is($rc, 0, 'validate.mjs generates TypeScript for every rendering') or diag $err;
($rc, $out, $err) = run_cmd('node', $tsc, '-p', "$ts/tsconfig.json");
is($rc, 0, 'tsc --noEmit accepts every field of every rendered object') or diag $out, $err;
remove_tree($ts);

for my $kind (qw(Deployment Service Ingress NetworkPolicy PodDisruptionBudget ScaledObject
                 ExternalSecret Password ConfigMap PersistentVolumeClaim Namespace)) {
    ok($seen_kind{$kind}, "a $kind was schema-checked");
}

# The checks are not vacuous: a misspelled field and a bad enum are caught.
{
    my $bad = tmpdir() . '/bad.yaml';
    open my $fh, '>', $bad or die $!;
    print $fh <<'YAML';
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      terminationGracePeriodSecond: 10
      containers:
        - name: bad
          image: bad
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: bad
spec:
  scaleTargetRef: {name: bad}
  triggers:
    - type: cpu
      metricType: Utilization
      metadata: {value: "70"}
  minReplicaCount: one
YAML
    close $fh;
    ($rc, $out) = run_cmd('node', $validate, 'validate', $bad);
    like($out, qr/^not ok\t[^\t]*\tScaledObject\/bad/m, 'self-test: schema validation rejects a string replica count');
    $ts = "$repo/t/deploy/node_modules/.ds-tscheck-selftest";
    remove_tree($ts);
    run_cmd('node', $validate, 'ts', $ts, $bad);
    ($rc, $out) = run_cmd('node', $tsc, '-p', "$ts/tsconfig.json");
    like($out, qr/terminationGracePeriodSecond/, 'self-test: tsc rejects a misspelled field');
    remove_tree($ts);
}

done_testing;
