# yamllint passes on every YAML file of the deployment (kubectl-style indentation).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Find;
use Test::More;
use DeployTest qw(repo run_cmd have_cmd render_file);

plan skip_all => 'yamllint is not installed (apt-get install yamllint)' unless have_cmd('yamllint');

my $repo = repo();
my $conf = "$repo/t/deploy/yamllint.yaml";
my @files;
find(sub { push @files, $File::Find::name if /\.ya?ml$/ }, "$repo/manifests");
push @files, grep { -f } map { "$repo/$_" }
    qw(conf/kustomization.yaml conf/debezium/kustomization.yaml t/deploy/yamllint.yaml);

# One yamllint run (start-up time dominates); one assertion per file.
my ($rc, $out, $err) = run_cmd('yamllint', '-f', 'parsable', '-c', $conf, sort @files);
is($err, '', 'yamllint runs') or diag $err;
my %problems;
for (split /\n/, $out) {
    my ($file) = /^(.*?):\d+:\d+: / or next;
    push @{ $problems{$file} }, $_;
}
for my $f (sort @files) {
    (my $rel = $f) =~ s{^\Q$repo\E/}{};
    ok(!$problems{$f}, "yamllint $rel") or diag join "\n", @{ $problems{$f} };
}

# The rendered output too (what kubectl apply reads).
my %rendered = map { $_ => render_file($_) } sort keys %DeployTest::DIRS;
ok($rendered{$_}, "kubectl kustomize $DeployTest::DIRS{$_} renders") for sort keys %rendered;
($rc, $out, $err) = run_cmd('yamllint', '-f', 'parsable', '-d',
    '{extends: default, rules: {indentation: {indent-sequences: whatever}, line-length: disable, document-start: disable}}',
    grep { $_ } values %rendered);
for my $name (sort keys %rendered) {
    my @p = grep { /^\Q$rendered{$name}\E:/ } split /\n/, $out;
    is(scalar @p, 0, "yamllint on the rendering of $DeployTest::DIRS{$name}") or diag join "\n", @p;
}

done_testing;
