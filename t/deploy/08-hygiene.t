# Deployment files: Dockerfiles build from BASE_IMAGE (default
# debian:bookworm-slim) in two stages and run as non-root; no registry host
# names, no secrets, no paths of a particular machine.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Find;
use Test::More;
use DeployTest qw(repo);

my $repo = repo();
for my $img (qw(backend consumer)) {
    my $f = "$repo/deploy/$img.Dockerfile";
    ok(-f $f, "deploy/$img.Dockerfile exists") or next;
    open my $fh, '<', $f or die $!;
    my $df = do { local $/; <$fh> };
    close $fh;
    like($df, qr/^ARG BASE_IMAGE=debian:bookworm-slim$/m, "$img: ARG BASE_IMAGE defaults to debian:bookworm-slim");
    my @from = $df =~ /^FROM\s+(\S+)/mg;
    is(scalar @from, 2, "$img: two stages (build, runtime)");
    is_deeply([grep { $_ ne '${BASE_IMAGE}' } @from], [], "$img: every stage starts from \${BASE_IMAGE}");
    like($df, qr/^USER\s+[1-9]\d*(:\d+)?$/m, "$img: runs as a numeric non-root user");
    my ($runtime) = $df =~ /^FROM\s+\$\{BASE_IMAGE\}\s*$(.*)/ms;
    unlike($runtime // '', qr/-dev\b|build-essential/, "$img: runtime stage installs no -dev package");
    like($df, qr/ENTRYPOINT \["/, "$img: exec-form ENTRYPOINT");
}

my @files;
find(sub { push @files, $File::Find::name if -f && $File::Find::name !~ m{/node_modules/} },
     map { "$repo/$_" } qw(manifests deploy conf/debezium t/deploy));
push @files, grep { -f } map { "$repo/$_" } qw(conf/kustomization.yaml docs/deploy-eks.md);
for my $f (sort @files) {
    (my $rel = $f) =~ s{^\Q$repo\E/}{};
    next if $rel =~ m{^t/deploy/(package-lock\.json|08-hygiene\.t)$};
    open my $fh, '<', $f or die "$f: $!";
    my $txt = do { local $/; <$fh> };
    close $fh;
    my @hosts = grep { $_ ne 'debian:bookworm-slim' }
        $txt =~ m{\b((?:[a-z0-9-]+\.)+(?:io|com|org|net|dev|cloud)(?::\d+)?/[a-z0-9._/-]+)}g;
    @hosts = grep { !m{^(github\.com|docs\.|keda\.sh|(?:generators\.)?external-secrets\.io|kubernetes-sigs\.github\.io|debezium\.io|aws\.github\.io)} } @hosts;
    @hosts = grep { /(ecr|docker\.io|quay\.io|gcr\.io|ghcr\.io|registry)/ } @hosts;
    is_deeply(\@hosts, [], "$rel names no container registry host");
    unlike($txt, qr{(?<![\w.])/(?:work|root|home)/}, "$rel holds no path of a particular machine");
    unlike($txt, qr/^kind:\s*Secret\s*$/m, "$rel defines no plain Secret");
    unlike($txt, qr/\b(?:sk|pk)_live_[0-9a-f]{64}\b/, "$rel holds no API key");
}

done_testing;
