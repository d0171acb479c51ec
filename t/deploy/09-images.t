# Builds both container images with deploy/build-images.sh (Podman) and runs
# its smoke tests. Slow (about 8 minutes cold): runs only with
# DS_TEST_IMAGES=1, as root, with podman and debootstrap installed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use DeployTest qw(repo run_cmd have_cmd);

plan skip_all => 'set DS_TEST_IMAGES=1 to build and smoke-test the images (slow)' unless $ENV{DS_TEST_IMAGES};
plan skip_all => 'needs root (podman image mount, chroot)' unless $> == 0;
plan skip_all => 'podman is not installed' unless have_cmd('podman');

# One stream (2>&1): the build writes a lot on both.
my ($rc, $log) = run_cmd('bash', '-c', 'exec "$0" 2>&1', repo() . '/deploy/build-images.sh');
is($rc, 0, 'deploy/build-images.sh builds and smoke-tests both images') or diag $log;
like($log, qr/nginx -t passed in datastream\/backend/, 'backend image: nginx -t passes on the rendered configuration');
like($log, qr/\/healthz answered 200 in datastream\/backend/, 'backend image: nginx serves /healthz');
like($log, qr/datastream-consumer --help ok/, 'consumer image: datastream-consumer --help runs');
like($log, qr/consumer \/healthz answered 200/, 'consumer image: the consumer serves /healthz');
like($log, qr/wget -qO- ok in datastream\/consumer/, 'consumer image: wget -qO- works (the troubleshooting commands)');
like($log, qr/consumer stopped on SIGTERM/, 'consumer image: the consumer stops on SIGTERM');

done_testing;
