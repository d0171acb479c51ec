package DataStream::BenchConf;
# The benchmarks' own servers: bench/conf/*.template with their @NAME@ placeholders filled in,
# and the bare nchan nginx (bench/conf/nginx-bare.conf.template) every comparison runs beside
# the shipped configuration.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use DataStream::Stack;

our $NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';
my $CONF_DIR = dirname(__FILE__) . '/../../conf';

# bench/conf/$template with its @NAME@ placeholders filled in from %v, written to $out.
sub render {
    my ($template, $out, %v) = @_;
    open my $in, '<', "$CONF_DIR/$template" or die "$template: $!";
    my $conf = do { local $/; <$in> };
    close $in;
    $conf =~ s/\@([A-Z_]+)\@/exists $v{$1} ? $v{$1} : die "$template: no value for $1"/ge;
    open my $fh, '>', $out or die "$out: $!";
    print $fh $conf;
    close $fh or die "$out: $!";
}

# Starts the bare nchan nginx $name in the stack's directory, stopped with the stack's other
# nginx instances. %o: workers (default 1), redis (nchan's storage on the stack's Redis
# instead of its own memory). { name, run, http, pub }.
sub start_bare_nginx {
    my ($stack, $name, %o) = @_;
    my $run  = $stack->dir . "/$name";
    my $http = $stack->{ports}{"${name}_http"} //= DataStream::Stack::free_port();
    my $pub  = $stack->{ports}{"${name}_publish"} //= DataStream::Stack::free_port();
    make_path("$run/static");
    render('nginx-bare.conf.template', "$run/nginx.conf",
        WORKERS => $o{workers} // 1, RUN => $run, NCHAN_MODULE => $NCHAN_MODULE, HTTP_PORT => $http,
        PUBLISH_PORT => $pub, USER => ($> == 0 ? 'user root;' : ''),
        REDIS_UPSTREAM => $o{redis}
            ? "upstream nchan_redis { nchan_redis_server redis://127.0.0.1:" . $stack->port('redis') . "; }" : '',
        REDIS_PASS => $o{redis} ? 'nchan_redis_pass nchan_redis;' : '',
    );
    system('nginx', '-p', $run, '-c', "$run/nginx.conf", '-e', "$run/error.log") == 0
        or die "bare nginx did not start:\n" . `tail -5 $run/error.log`;
    $stack->{nginx}{$name} = $run;
    DataStream::Stack::wait_for_port($http, 'bare nginx');
    return { name => $name, run => $run, http => $http, pub => $pub };
}

1;
