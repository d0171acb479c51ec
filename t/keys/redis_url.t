# --redis / REDIS_URL: password (percent-decoded), user, database.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use KeysTest qw(start_redis stop_redis run_tool);

my $password = 'p@ss:w/rd-' . join('', map { int rand 10 } 1 .. 12);
(my $encoded = $password) =~ s/([^A-Za-z0-9_-])/sprintf '%%%02X', ord $1/ge;
my $redis = start_redis('--requirepass', $password);
my $base = "127.0.0.1:$redis->{port}";

my ($rc, $out, $err) = run_tool($redis, '--redis', "redis://:$encoded\@$base/2",
                                qw(create --name with-password --kind sk));
is $rc, 0, 'create with a percent-encoded password';
like $out, qr/\Ask_live_[0-9a-f]{64}\n\z/, 'key printed';

($rc, $out) = run_tool($redis, { REDIS_URL => "redis://default:$encoded\@$base/2" }, 'list', '--json');
is $rc, 0, 'list with user and password from REDIS_URL';
like $out, qr/"name":"with-password"/, 'the key is in database 2';

($rc, $out) = run_tool($redis, { REDIS_URL => "redis://:$encoded\@$base" }, 'list', '--json');
is_deeply [$rc, $out], [0, "[]\n"], 'database 0 is empty';

($rc, $out, $err) = run_tool($redis, '--redis', "redis://:wrong\@$base", 'list');
is_deeply [$rc, $out], [1, ''], 'a wrong password exits 1';
is $err, qq({"level":"error","msg":"redis: WRONGPASS invalid username-password pair or user is disabled."}\n),
    'the server\'s refusal is reported once';

($rc, $out, $err) = run_tool($redis, '--redis', "redis://$base", 'list');
is_deeply [$rc, $out, $err], [1, '', qq({"level":"error","msg":"redis: NOAUTH Authentication required."}\n)],
    'no password exits 1';

stop_redis($redis);
done_testing;
