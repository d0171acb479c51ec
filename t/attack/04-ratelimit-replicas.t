# Attack matrix: the per-key rate limit holds across replicas. Two nginx
# instances share one Redis; requests alternate between them with a key
# limited to 5 per minute. Within one fixed window, the allowed requests
# across both add up to exactly the limit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use AttackKit;

my ($stack, $k) = attack_stack();
$stack->start_nginx(name => 'nginx2');
my @ports = ($stack->port('nginx_http'), $stack->port('nginx2_http'));
my $LIMIT = 5;
my $TINY = $k->{tiny};

# the whole burst must fall in one minute window
wait_fresh_window(20);
my $minute = int(time / 60);

my (@status, @limit_hdr, $first_429);
for my $i (0 .. 2 * $LIMIT + 1) {
    my $res = request($ports[$i % 2], 'GET', '/api/latest/crash', [['X-API-Key', $TINY]]);
    push @status, $res->{status};
    push @limit_hdr, $res->{headers}{'x-ratelimit-limit'}[0] // '';
    $first_429 //= $res if $res->{status} == 429;
}
my $same_window = int(time / 60) == $minute;

ok($same_window, 'the burst stayed inside one rate-limit window');
is(scalar(grep { $_ == 200 } @status), $LIMIT,
   "allowed requests across both replicas = the key's limit ($LIMIT)")
    or diag "statuses: @status";
is(scalar(grep { $_ == 429 } @status), scalar(@status) - $LIMIT,
   'every request over the limit -> 429, on either replica')
    or diag "statuses: @status";
ok(!grep({ $_ ne $LIMIT } @limit_hdr), "X-Ratelimit-Limit is $LIMIT on both replicas")
    or diag "limits: @limit_hdr";
check_error($first_429 // { status => 0, headers => {}, body => '' }, 429,
            'Too many requests, please slow down', '429 answer is the contract JSON');

# the other replica, same key, also refuses now (no per-instance budget)
check_error(request($ports[1], 'GET', '/api/latest/crash', [['X-API-Key', $TINY]]), 429,
            'Too many requests, please slow down', 'second replica refuses the exhausted key');

# an unrelated key is not affected
check_status(request($ports[1], 'GET', '/api/latest/crash', [['X-API-Key', $k->{sk}]]), 200,
             'another key still passes on the second replica');

check_logs($stack, [$stack->token_secret], 'nginx', 'nginx2');
done_testing;
