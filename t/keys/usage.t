# Bad command lines exit 2 with one JSON error line and leave Redis untouched;
# an unreachable Redis exits 1; --help exits 0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use KeysTest qw(start_redis stop_redis run_tool redis_cmd);

my $redis = start_redis();

sub error_line { return qq({"level":"error","msg":"$_[0]"}\n) }

my @usage = (
    [ [], 'missing command (create, list or revoke); see --help' ],
    [ ['frob'], 'unknown command \"frob\"; see --help' ],
    [ ['--bogus', 'list'], 'unknown option or missing value: --bogus; see --help' ],
    [ ['list', 'extra'], 'unexpected argument \"extra\"' ],
    [ ['list', '--name', 'x'], '--name, --kind, --origins and --rate-limit belong to create' ],
    [ ['revoke', '--json', '0123456789abcdef'], '--json belongs to create and list' ],
    [ ['revoke'], 'revoke takes exactly one key id or key' ],
    [ ['revoke', 'not-a-key'], 'revoke needs a key id (16 lowercase hex digits) or a full sk_live_/pk_live_ key' ],
    [ ['create', '--kind', 'sk'], 'create needs --name: 1-128 printable characters' ],
    [ ['create', '--name', "a\tb", '--kind', 'sk'], 'create needs --name: 1-128 printable characters' ],
    [ ['create', '--name', 'a', '--name', 'b', '--kind', 'sk'], 'option --name given twice' ],
    [ ['create', '--name', 'a'], 'create needs --kind sk or --kind pk' ],
    [ ['create', '--name', 'a', '--kind', 'xk'], 'create needs --kind sk or --kind pk' ],
    [ ['create', '--name', 'a', '--kind', 'sk', '--rate-limit', '-1'], '--rate-limit must be an integer from 0 to 1000000000' ],
    [ ['create', '--name', 'a', '--kind', 'sk', '--rate-limit', '10x'], '--rate-limit must be an integer from 0 to 1000000000' ],
    [ ['create', '--name', 'a', '--kind', 'sk', '--origins', 'https://a.example'], '--origins applies to pk keys only (sk keys have no origin check)' ],
    [ ['create', '--name', 'a', '--kind', 'pk'], 'pk keys need --origins with at least one origin, e.g. https://app.example' ],
    [ ['create', '--name', 'a', '--kind', 'pk', '--origins', ' '], 'pk keys need --origins with at least one origin, e.g. https://app.example' ],
    [ ['--redis', 'http://127.0.0.1:1', 'list'], 'bad Redis URL; expected redis://[[user]:password@]host[:port][/db]' ],
    [ ['--redis', 'redis://127.0.0.1:99999/0', 'list'], 'bad Redis URL; expected redis://[[user]:password@]host[:port][/db]' ],
);
my %bad_origin = (
    'ftp://a.example'         => 'scheme must be http:// or https://',
    'https://a.example/'      => 'no path, query or trailing slash allowed',
    'https://a.example/app'   => 'no path, query or trailing slash allowed',
    'https://A.example'       => 'host must be a lowercase name or address',
    'https://'                => 'host must be a lowercase name or address',
    'https://a.example:443'   => 'browsers omit the default port; drop it',
    'http://a.example:80'     => 'browsers omit the default port; drop it',
    'http://a.example:0'      => 'port must be 1-65535',
    'http://a.example:65536'  => 'port must be 1-65535',
);
for my $origin (sort keys %bad_origin) {
    push @usage, [ ['create', '--name', 'a', '--kind', 'pk', '--origins', "http://ok.example $origin"],
                   "invalid origin \\\"$origin\\\": $bad_origin{$origin}" ];
}

for my $case (@usage) {
    my ($argv, $msg) = @$case;
    my ($rc, $out, $err) = run_tool($redis, @$argv);
    is_deeply [$rc, $out, $err], [2, '', error_line($msg)], "usage error: @$argv";
}
is redis_cmd($redis, 'DBSIZE'), 0, 'usage errors wrote nothing to Redis';

for my $origin ('http://localhost:3000', 'https://a-b.example.com', 'http://127.0.0.1:8080', 'http://[::1]:3000') {
    my ($rc, $out) = run_tool($redis, 'create', '--name', 'ok', '--kind', 'pk', '--origins', $origin);
    is $rc, 0, "origin accepted: $origin";
}

my ($rc, $out, $err) = run_tool($redis, '--help');
is $rc, 0, '--help exits 0';
like $out, qr/\Ausage: datastream-keys /, '--help prints usage on stdout';
is $err, '', '--help is silent on stderr';

# A port nothing listens on: the server's own port once it is stopped.
my $port = $redis->{port};
stop_redis($redis);
($rc, $out, $err) = run_tool($redis, 'list');
is_deeply [$rc, $out, $err],
    [1, '', error_line("redis: cannot connect to 127.0.0.1:$port: Connection refused")],
    'unreachable Redis exits 1';

done_testing;
