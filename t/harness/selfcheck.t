# Plain-Perl checks of the project's Test::Nginx::Socket implementation:
# things a Test::Nginx-format file cannot test about itself (dying on an
# unknown section, the plan arithmetic of ONLY/SKIP, file-level switches).
# Each case runs a small generated .t file in a child perl.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Spec;
use Cwd qw(abs_path);
use FindBin;

my $harness = abs_path($FindBin::Bin);
my $tmp = tempdir(CLEANUP => 1);
my $port = ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 1;

# run a test file body; returns (exit code, stdout, stderr)
sub run_spec {
    my ($name, $text, %env) = @_;
    my $file = File::Spec->catfile($tmp, "$name.t");
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
    my $out = File::Spec->catfile($tmp, "$name.out");
    my $err = File::Spec->catfile($tmp, "$name.err");
    local $ENV{TEST_NGINX_SERVROOT} = File::Spec->catdir($tmp, "servroot-$name");
    local $ENV{TEST_NGINX_SERVER_PORT} = $port;
    local @ENV{keys %env} = values %env;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', $out or die;
        open STDERR, '>', $err or die;
        exec $^X, "-I$harness", $file;
        exit 127;
    }
    waitpid $pid, 0;
    my $code = $? >> 8;
    local $/;
    open my $o, '<', $out or die;
    my $so = <$o>;
    open my $e, '<', $err or die;
    my $se = <$e>;
    return ($code, $so, $se);
}

my $head = <<'_EOC_';
use Test::Nginx::Socket;
plan tests => repeat_each() * (blocks() * 2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: fine
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
_EOC_

# 1. an unknown section makes the file die, naming the section, before
#    any nginx is started
{
    my ($code, $out, $err) = run_spec('unknown', $head . <<'_EOC_');

=== TEST 2: typo
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- respone_body
ok
_EOC_
    isnt($code, 0, 'unknown section: non-zero exit');
    like($err, qr/unknown section.*respone_body/, 'unknown section: named in the error');
    unlike($out, qr/^ok /m, 'unknown section: no test was run');
}

# 2. a preprocessor that does not use a custom section does not make it known
{
    my $spec = $head;
    $spec =~ s/^no_shuffle\(\);/no_shuffle();\nadd_block_preprocessor(sub { my \$b = shift; \$b->set_value('x', 1) if defined \$b->used });/m;
    my ($code, $out, $err) = run_spec('unknown_pp', $spec . <<'_EOC_');

=== TEST 2: custom sections
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- used: yes
--- unused: no
--- response_body
ok
_EOC_
    isnt($code, 0, 'unused custom section: non-zero exit');
    like($err, qr/unknown section.*'--- unused'/, 'unused custom section: named');
    unlike($err, qr/'--- used'/, 'section read by the preprocessor is accepted');
}

# 3. SKIP and ONLY interact with blocks() like Test::Base, and the plan holds
{
    my ($code, $out, $err) = run_spec('skip', $head . <<'_EOC_');

=== TEST 2: skipped
--- SKIP
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
not ok
_EOC_
    is($code, 0, 'SKIP: passes') or diag($out, $err);
    like($out, qr/^1\.\.2$/m, 'SKIP: plan counts one block');
}

# 4. master_off(), no_root_location(), shuffled order, repeat_each(3)
{
    my ($code, $out, $err) = run_spec('switches', <<'_EOC_');
use Test::Nginx::Socket;
repeat_each(3);
master_off();
no_root_location();
plan tests => repeat_each() * (blocks() * 2);
run_tests();

__DATA__

=== TEST 1: own root location
--- config
    location / { return 200 "root $server_port\n"; }
--- request
GET /x
--- response_body eval
"root $Test::Nginx::Socket::ServerPort\n"

=== TEST 2: second
--- config
    location / { return 201 "two\n"; }
--- request
GET /
--- error_code: 201
--- response_body
two
_EOC_
    is($code, 0, 'switches: passes') or diag($out, $err);
    like($out, qr/^1\.\.12$/m, 'switches: 3 x 2 blocks x 2 tests');
}

# 5. nginx that cannot start fails the block (with the error log), never hangs
{
    my ($code, $out, $err) = run_spec('badconf', <<'_EOC_');
use Test::Nginx::Socket;
plan tests => 2;
run_tests();

__DATA__

=== TEST 1: bad directive
--- config
    location = /t { no_such_directive; }
--- request
GET /t
--- response_body
x
_EOC_
    isnt($code, 0, 'bad config: fails');
    like($out . $err, qr/unknown directive "no_such_directive"/,
         'bad config: error.log tail shown');
}

# 6. an undefined $TEST_NGINX_ variable in the config dies loudly
{
    my $spec = $head;
    $spec =~ s/return 200 "ok\\n";/return 200 "\$TEST_NGINX_SURELY_UNSET_VAR";/;
    my ($code, $out, $err) = run_spec('unsetenv', $spec);
    isnt($code, 0, 'unset env var: fails');
    like($err, qr/TEST_NGINX_SURELY_UNSET_VAR/, 'unset env var: named');
}

# 7. a section pair the real framework treats as either/or bails out, naming
#    the pair, instead of running one and silently dropping the other
for my $pair ([qw(response_body response_body_like)], [qw(response_body_like response_body_unlike)],
              [qw(response_headers response_headers_like)]) {
    my ($first, $second) = @$pair;
    my $spec = $head . <<"_EOC_";

=== TEST 2: both
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- $first
@{[ $first =~ /headers/ ? 'Content-Type: text/plain' : 'ok' ]}
--- $second
@{[ $second =~ /headers/ ? 'Content-Type: text/.*' : 'ok' ]}
_EOC_
    my ($code, $out, $err) = run_spec("either_$second", $spec);
    isnt($code, 0, "$first with $second: non-zero exit");
    like($out . $err, qr/Bail out!.*'--- $first' and '--- $second'.*split the block/,
         "$first with $second: the pair is named, and what to do");
}

done_testing();
