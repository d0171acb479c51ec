# kubectl kustomize renders every kustomization without errors or warnings.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use DeployTest qw(render have_cmd);

plan skip_all => 'kubectl is not installed' unless have_cmd('kubectl');

for my $name (sort keys %DeployTest::DIRS) {
    my $dir = $DeployTest::DIRS{$name};
    my ($rc, $out, $err) = render($name);
    is($rc, 0, "kubectl kustomize $dir exits 0") or diag $err;
    unlike($err, qr/warning/i, "kubectl kustomize $dir prints no warning") or diag $err;
    is($err, '', "kubectl kustomize $dir prints nothing on stderr");
    like($out, qr/^kind: Deployment$/m, "kubectl kustomize $dir renders Deployments");
}

my (undef, $dz) = render('eks-debezium');
like($dz, qr/^  name: debezium$/m, 'the debezium component adds the debezium Deployment');
like($dz, qr/^  name: debezium-config-/m, 'the debezium component adds the generated debezium-config ConfigMap');

done_testing;
