# The nginx configuration the backend-nginx ConfigMap ships, rendered by the
# image's entrypoint with the Deployment's environment, passes `nginx -t`
# with the built module.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path);
use Test::More;
use DeployTest qw(repo docs node_ready have_cmd objs run_cmd containers tmpdir);

my $repo = repo();
# The release build, as the image ships it (not TEST_NGINX_DATASTREAM_MODULE: under the
# sanitizer pass that one needs the ASan runtime preloaded into nginx).
my $module = $ENV{DS_DEPLOY_TEST_MODULE} // "$repo/build/nginx/ngx_http_datastream_module.so";
plan skip_all => "$module does not exist yet (build it with ./auto-build.sh build)" unless -f $module;
plan skip_all => 'nginx is not installed' unless have_cmd('nginx') || -x '/usr/sbin/nginx';
plan skip_all => 'kubectl is not installed' unless have_cmd('kubectl');
my $why = node_ready();
plan skip_all => "node packages unavailable: $why" if $why;
my $nchan = $ENV{TEST_NGINX_NCHAN_MODULE} // '/usr/lib/nginx/modules/ngx_nchan_module.so';
plan skip_all => "$nchan is not installed (libnginx-mod-nchan)" unless -f $nchan;

my $docs = docs('eks');
my ($cm) = grep { $_->{metadata}{name} =~ /^backend-nginx-/ } objs($docs, 'ConfigMap');
ok($cm, 'ConfigMap backend-nginx is rendered') or BAIL_OUT('no ConfigMap');
for my $f (qw(nginx.conf.template render.sh datastream-subscriber.conf mime.types)) {
    ok(defined $cm->{data}{$f}, "ConfigMap backend-nginx ships $f");
}

# The ConfigMap's files as the pod sees them (mounted directory).
my $tmp = tmpdir();
my $conf = "$tmp/etc-datastream-nginx";
my $run = "$tmp/run";
make_path($conf, $run, "$tmp/html");
for my $f (keys %{ $cm->{data} }) {
    open my $fh, '>', "$conf/$f" or die "$conf/$f: $!";
    print $fh $cm->{data}{$f};
    close $fh;
}
chmod 0755, "$conf/render.sh";

my ($dep) = grep { $_->{metadata}{name} eq 'backend' } objs($docs, 'Deployment');
my ($c) = containers($dep);
my %env = map { $_->{name} => $_->{value} } grep { defined $_->{value} } @{ $c->{env} };
my @mounts = map { $_->{mountPath} } @{ $c->{volumeMounts} };
ok((grep { $_ eq $env{DS_NGINX_RUN_DIR} } @mounts), 'DS_NGINX_RUN_DIR is a mounted (writable) volume');
ok((grep { $_ eq $env{DS_NGINX_CONF_DIR} } @mounts), 'DS_NGINX_CONF_DIR is where the ConfigMap is mounted');

# Paths of this machine instead of the image's; the secret's values stand in.
my ($rc, $out, $err) = run_cmd({ env => {
        %env,
        DS_NGINX_CONF_DIR => $conf,
        DS_NGINX_RUN_DIR => $run,
        DS_HTML_ROOT => "$tmp/html",
        DS_DATASTREAM_MODULE => $module,
        DS_NCHAN_MODULE => $nchan,
        DS_NGINX_ERROR_LOG => 'stderr',
        REDIS_URL => 'redis://127.0.0.1:6379/0',
        DATASTREAM_TOKEN_SECRET => 'test-secret',
    } }, 'bash', "$repo/deploy/backend-entrypoint.sh", '-t');
is($rc, 0, 'nginx -t accepts the configuration rendered by the image entrypoint') or diag $err;
like($err, qr/test is successful/, 'nginx -t reports success');
ok(-s "$run/nginx.conf", 'the entrypoint rendered nginx.conf into the run dir');
ok(-s "$run/dashboard-config.js", 'the entrypoint wrote dashboard-config.js into the run dir');

open my $fh, '<', "$run/nginx.conf" or die $!;
my $rendered = do { local $/; <$fh> };
close $fh;
(my $directives = $rendered) =~ s/^\s*#.*$//mg;
unlike($directives, qr/\$\{DS_/, 'no ${DS_*} placeholder is left in the rendered configuration');
like($rendered, qr/listen 127\.0\.0\.1:3001;/, 'the publisher listens on the pod\'s loopback only');
like($rendered, qr/listen $env{DS_HTTP_PORT} /, 'the public server listens on DS_HTTP_PORT');
like($rendered, qr/worker_shutdown_timeout $env{DS_NGINX_SHUTDOWN_TIMEOUT};/, 'worker_shutdown_timeout comes from the Deployment');
like($rendered, qr/nchan_redis_server redis:\/\/127\.0\.0\.1:6379;/, 'nchan Redis comes from REDIS_URL');

# The entrypoint refuses REDIS_URL forms nginx cannot use.
for my $bad ('redis://:pw@h:6379/0', 'redis://h:6379/3', 'http://h:6379') {
    ($rc, $out, $err) = run_cmd({ env => { %env, DS_NGINX_CONF_DIR => $conf, DS_NGINX_RUN_DIR => $run,
                                           REDIS_URL => $bad } },
                                'bash', "$repo/deploy/backend-entrypoint.sh", '-t');
    isnt($rc, 0, "the entrypoint refuses REDIS_URL=$bad");
}

done_testing;
