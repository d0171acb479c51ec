package DeployTest;
# Helpers shared by t/deploy/*.t: render the kustomizations once per test
# file, decode them (through t/deploy/validate.mjs), look objects up.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IPC::Open3 qw(open3);
use JSON::PP ();
use Symbol qw(gensym);
use Exporter 'import';

our @EXPORT_OK = qw(repo run_cmd render render_file docs node_ready find_obj objs containers
                    env_map have_cmd tmpdir);

my $REPO = abs_path(dirname(__FILE__) . '/../../..');
sub repo { $REPO }

my $TMP;
sub tmpdir { $TMP //= tempdir('datastream-deploy-t.XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub have_cmd {
    my ($cmd) = @_;
    for my $d (split /:/, $ENV{PATH} // '') { return 1 if -x "$d/$cmd" }
    return 0;
}

# Runs a command (list form); returns (exit code, stdout, stderr).
sub run_cmd {
    my (%o) = ref $_[0] eq 'HASH' ? %{ shift() } : ();
    my @cmd = @_;
    my $err = gensym;
    local %ENV = (%ENV, %{ $o{env} // {} });
    my $pid = open3(my $in, my $out, $err, @cmd);
    close $in;
    my ($o_txt, $e_txt) = ('', '');
    # Read both without deadlock: stderr is small for every command used here.
    {
        local $/;
        $o_txt = <$out> // '';
        $e_txt = <$err> // '';
    }
    waitpid $pid, 0;
    return ($? >> 8, $o_txt, $e_txt);
}

# Kustomization dirs (relative to the repo) used by the tests.
our %DIRS = (
    base            => 'manifests/base',
    eks             => 'manifests/overlays/eks',
    'eks-debezium'  => 'manifests/overlays/eks-debezium',
);

my %rendered;
# Returns (exit code, yaml, stderr) of `kubectl kustomize` for a name of %DIRS.
sub render {
    my ($name) = @_;
    $rendered{$name} //= [ run_cmd('kubectl', 'kustomize', "$REPO/$DIRS{$name}") ];
    return @{ $rendered{$name} };
}

sub render_file {
    my ($name) = @_;
    my ($rc, $yaml) = render($name);
    return undef if $rc != 0;
    my $f = tmpdir() . "/$name.yaml";
    open my $fh, '>', $f or die "$f: $!";
    print $fh $yaml;
    close $fh;
    return $f;
}

# Installs the pinned npm packages into t/deploy/node_modules when absent.
# Returns undef when ready, else the reason.
my $node_reason;
sub node_ready {
    return $node_reason if defined $node_reason;
    my $dir = "$REPO/t/deploy";
    return $node_reason = 'node is not installed' unless have_cmd('node');
    my @pkgs = qw(kubernetes-models @kubernetes-models/keda @kubernetes-models/external-secrets
                  typescript yaml);
    if (grep { !-f "$dir/node_modules/$_/package.json" } @pkgs) {
        return $node_reason = 'npm is not installed' unless have_cmd('npm');
        my ($rc, $out, $err) = run_cmd('npm', '--prefix', $dir, 'ci', '--no-audit', '--no-fund',
                                       '--loglevel=error');
        return $node_reason = "npm ci failed: $err" if $rc != 0;
    }
    return $node_reason = '';
}

my %docs;
# Decoded documents of a rendering (array ref).
sub docs {
    my ($name) = @_;
    return $docs{$name} if $docs{$name};
    my $f = render_file($name) or die "kubectl kustomize $DIRS{$name} failed";
    die "node packages: " . node_ready() if node_ready();
    my ($rc, $out, $err) = run_cmd('node', "$REPO/t/deploy/validate.mjs", 'json', $f);
    die "validate.mjs json: $err" if $rc != 0;
    return $docs{$name} = JSON::PP->new->decode($out);
}

sub objs {
    my ($docs, $kind) = @_;
    return grep { $_->{kind} eq $kind } @$docs;
}

sub find_obj {
    my ($docs, $kind, $name) = @_;
    my @o = grep { $_->{kind} eq $kind && $_->{metadata}{name} eq $name } @$docs;
    return $o[0];
}

sub containers {
    my ($dep) = @_;
    return @{ $dep->{spec}{template}{spec}{containers} // [] };
}

# name => literal value (valueFrom entries map to undef).
sub env_map {
    my ($container) = @_;
    return map { $_->{name} => $_->{value} } @{ $container->{env} // [] };
}

1;
