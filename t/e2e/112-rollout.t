# A backend rollout as EKS plays it, on loopback, at a tenth of the shipped
# timings (read from the manifests), while rounds keep flowing:
#   - a proxy stands in for the ALB in front of the backends' port 3000: at
#     deregistration it sends new connections to the new pod, and when the
#     deregistration delay ends it cuts whatever is still open to the old one
#     (the consumer does not go through the backends: it writes the rounds
#     into nchan's storage in Redis, where the new pod finds them);
#   - the old pod: preStop sleep, then SIGQUIT (the image's stop signal),
#     nginx's worker_shutdown_timeout.
# With the shipped timings (preStop + worker_shutdown_timeout + margin < the
# deregistration delay) nginx closes every subscriber itself: WebSocket
# clients get 1001, SSE streams end and resume with Last-Event-ID, the ALB
# stand-in cuts nothing, and every client gets every
# round once, in order. Then the same rollout with the timings this project
# shipped before (deregistration delay 30 s < preStop 40 s), to show what the
# test catches: the ALB cuts the connections first and WebSocket clients see
# no close frame (1006 in a browser); resume still loses nothing.
use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);

use DataStream::Stack;
use DataStream::Client qw(ws_connect sse_connect mint_token ws_meta_split);
use DataStream::Proxy;

my $SCALE = 0.1;
# t/deploy/04-project.t holds these to preStop + worker_shutdown_timeout + margin < deregistration delay.
my %shipped = shipped_timings();
note "shipped: preStop $shipped{prestop} s, worker_shutdown_timeout $shipped{shutdown} s, deregistration delay $shipped{dereg} s";

my $stack = DataStream::Stack->new;
$stack->start_redis;
$stack->start_nats;
my %nginx_env = (DS_NGINX_SHUTDOWN_TIMEOUT => sprintf('%dms', $shipped{shutdown} * $SCALE * 1000));
$stack->start_nginx(name => $_, env => \%nginx_env) for qw(nginx nginx2);
my $alb = DataStream::Proxy->new(target => $stack->http_port('nginx'));
$stack->start_consumer;
$stack->seed_games;
my $sk = $stack->api_key(kind => 'sk');

my $CLIENTS = 3;    # of each kind
my $next_id = 5000;

subtest 'rollout with the shipped timings: nginx closes every subscriber before the ALB would' => sub {
    my $r = rollout(from => 'nginx', to => 'nginx2', %{ scaled(\%shipped) });
    for my $c (grep { $_->{kind} eq 'ws' } @{ $r->{clients} }) {
        is_deeply($c->{closes}, [1001], "$c->{name}: one close, status 1001 (going away)");
    }
    for my $c (grep { $_->{kind} eq 'sse' } @{ $r->{clients} }) {
        is($c->{ends}, 1, "$c->{name}: the stream ended once (closed by nginx: the ALB stand-in cut nothing)");
    }
    is($r->{forced}, 0, 'the ALB stand-in cut no connection: all were closed by nginx');
    cmp_ok($r->{old_gone_after}, '<', $r->{dereg}, sprintf('the old nginx exited %.2f s after deregistration, before the delay (%.1f s) ended',
                                                           $r->{old_gone_after}, $r->{dereg}));
    check_rounds($r);
};

subtest 'the timings shipped before (deregistration delay below preStop): the ALB cuts first' => sub {
    my $r = rollout(from => 'nginx2', to => 'nginx3', %{ scaled({ prestop => 40, shutdown => 15, dereg => 30 }) });
    for my $c (grep { $_->{kind} eq 'ws' } @{ $r->{clients} }) {
        is_deeply($c->{closes}, ['none'], "$c->{name}: cut without a close frame (what a browser reports as 1006)");
    }
    for my $c (grep { $_->{kind} eq 'sse' } @{ $r->{clients} }) {
        is($c->{ends}, 1, "$c->{name}: the stream ended once (cut by the ALB stand-in)");
    }
    is($r->{forced}, 2 * $CLIENTS, 'the ALB stand-in cut every subscriber connection');
    check_rounds($r);
};

$stack->diag_logs unless Test::More->builder->is_passing;
done_testing;

# ---------------------------------------------------------------- helpers

# preStop sleep, worker_shutdown_timeout and the ALB deregistration delay, in
# seconds, as the manifests ship them.
sub shipped_timings {
    my $repo = DataStream::Stack::repo();
    my $read = sub { open my $fh, '<', "$repo/$_[0]" or die "$_[0]: $!"; local $/; <$fh> };
    my $backend = $read->('manifests/base/backend.yaml');
    my $ingress = $read->('manifests/overlays/eks/ingress.yaml');
    my ($prestop) = $backend =~ /command: \["sleep", "(\d+)"\]/;
    my ($shutdown) = $backend =~ /name: DS_NGINX_SHUTDOWN_TIMEOUT\s+value: (\d+)s/;
    my ($dereg) = $ingress =~ /deregistration_delay\.timeout_seconds=(\d+)/;
    die "timings not found in the manifests\n" unless $prestop && $shutdown && $dereg;
    return (prestop => $prestop, shutdown => $shutdown, dereg => $dereg);
}

sub scaled { my ($t) = @_; return { map { $_ => $t->{$_} * $SCALE } keys %$t } }

sub round_id { ($_[0] // '') =~ /^\{"round_id":(\d+),/ ? $1 : undef }

# One subscriber through the ALB stand-in: connects, reads, and on a close
# reconnects at once and resumes from the last id it saw, as the clients of
# docs/streaming.md do (EventSource by itself, WebSocket with ws+meta.nchan).
sub subscribe {
    my ($c) = @_;
    my $port = $alb->port;
    my $id = $c->{last_id};
    if ($c->{kind} eq 'ws') {
        my $path = '/ws/crash' . (defined $id ? "?last_event_id=$id" : '');
        $c->{conn} = eval { ws_connect($port, $path, protocol => 'ws+meta.nchan, ' . mint_token($port, $sk)) };
    } else {
        my $s = eval { sse_connect($port, "/sse/crash?api_key=$sk", headers => { defined $id ? ('Last-Event-ID' => $id) : () }) };
        $c->{conn} = $s && ($s->status // 0) == 200 ? $s : undef;
    }
    $c->{error} = $@ unless $c->{conn};
    $c->{connects}++ if $c->{conn};
    return $c->{conn};
}

# Reads every client for $seconds; a closed one is recorded and resubscribed.
sub pump {
    my ($clients, $seconds) = @_;
    my $deadline = time + $seconds;
    while (time < $deadline) {
        for my $c (@$clients) {
            if (!$c->{conn}) { subscribe($c) or next }
            if ($c->{kind} eq 'ws') {
                my $frame = $c->{conn}->recv(0.005);
                if (defined $frame) {
                    my ($id, $data) = ws_meta_split($frame);
                    next unless defined round_id($data);
                    push @{ $c->{got} }, $data;
                    $c->{last_id} = $id;
                } elsif ($c->{conn}->closed) {
                    push @{ $c->{closes} }, $c->{conn}->close_code // 'none';
                    undef $c->{conn};
                }
            } else {
                my $ev = $c->{conn}->next_event(0.005);
                if ($ev) {
                    next unless $ev->{event} eq 'message' && defined round_id($ev->{data});
                    push @{ $c->{got} }, $ev->{data};
                    $c->{last_id} = $ev->{id};
                } elsif ($c->{conn}->ended) {
                    $c->{ends}++;
                    undef $c->{conn};
                }
            }
        }
    }
}

# Replaces backend $from by $to behind both proxies while a child process
# publishes rounds into JetStream, and returns what every client received.
sub rollout {
    my (%o) = @_;
    $stack->start_nginx(name => $o{to}, env => \%nginx_env) unless $stack->{nginx}{ $o{to} };
    my @clients = map { { kind => $_->[0], name => "$_->[0] client $_->[1]", got => [], closes => [], ends => 0 } }
                  map { my $k = $_; map { [$k, $_] } 1 .. $CLIENTS } qw(ws sse);
    subscribe($_) or die "$_->{name}: no connection: " . ($_->{error} // "") . "\n" for @clients;
    pump(\@clients, 0.3);
    my $forced0 = $alb->forced;

    my @ids = map { $next_id++ } 1 .. 300;
    my $pid = fork // die "fork: $!";
    if (!$pid) {   # the source: two rounds every 50 ms, about 6 s in all
        my $failed = 0;
        while (my @two = splice @ids, 0, 2) {
            eval { $stack->publish_rounds(@two); 1 } or $failed = 1;
            sleep 0.05;
        }
        POSIX::_exit($failed);
    }
    pump(\@clients, 1);

    # Termination of the old pod: deregistration and preStop start together.
    my $t0 = time;
    $alb->deregister($stack->http_port($o{to}), $o{dereg});
    pump(\@clients, $o{prestop});
    my $old_pid = $stack->{nginx_pid}{ $o{from} };
    kill 'QUIT', $old_pid;
    my ($gone, $source_ok);
    my $deadline = time + 60;
    while (time < $deadline) {
        pump(\@clients, 0.1);
        $gone //= time - $t0 unless kill 0, $old_pid;
        next unless defined $gone;
        next unless waitpid($pid, POSIX::WNOHANG()) == $pid;
        $source_ok = $? == 0;
        last;
    }
    # Past the end of the deregistration delay, so a cut would have happened.
    pump(\@clients, $t0 + $o{dereg} + 0.3 - time) if time < $t0 + $o{dereg} + 0.3;
    my @want = map { (DataStream::Stack::round_pair(round_id => $_))[1] } @ids;
    my $until = time + 20;
    pump(\@clients, 0.2) while time < $until && grep { @{ $_->{got} } < @want } @clients;
    pump(\@clients, 0.5);   # a duplicate would come now
    $stack->stop_nginx($o{from});
    $_->{conn} && $_->{conn}->close for @clients;
    return { clients => \@clients, want => \@want, forced => $alb->forced - $forced0, dereg => $o{dereg},
             old_gone_after => $gone, source_ok => $source_ok };
}

sub check_rounds {
    my ($r) = @_;
    ok($r->{source_ok}, scalar(@{ $r->{want} }) . ' rounds published during the rollout');
    for my $c (@{ $r->{clients} }) {
        my @got = @{ $c->{got} };
        is(scalar @got, scalar @{ $r->{want} }, "$c->{name}: every round once (connected $c->{connects} times)");
        is_deeply(\@got, $r->{want}, "$c->{name}: the same bytes, in publication order")
            or diag sprintf 'first difference at %d', (grep { ($got[$_] // '') ne $r->{want}[$_] } 0 .. $#{ $r->{want} })[0] // -1;
        is($c->{connects}, 2, "$c->{name}: resumed once, on the new pod");
    }
}
