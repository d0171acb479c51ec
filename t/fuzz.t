# Short fuzzing run as part of the test suite: fuzz/run.sh builds every
# libFuzzer target (the module's parsers, token and credential logic, and
# the consumer's Debezium decoder) and runs each for DS_FUZZ_SECONDS
# (default 5). Every input kept in t/fuzz-regressions/<target>/ is fed to
# its target first and must run clean.
use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

my $repo = abs_path(File::Spec->catdir(dirname(__FILE__), '..'));
my $secs = $ENV{DS_FUZZ_SECONDS} // 5;

# The targets carry ASan + UBSan themselves: the suite's sanitizer pass
# (DS_BUILD_DIR=.../asan) would only repeat this run.
plan skip_all => 'fuzz targets are sanitizer builds already; run once, in the release pass'
    if ($ENV{DS_BUILD_DIR} // '') =~ m{/asan/?$};

# libFuzzer needs clang and its runtime (Debian: libclang-rt-14-dev).
my $probe_dir = tempdir(CLEANUP => 1);
open my $fh, '>', "$probe_dir/p.c" or die;
print $fh "#include <stdint.h>\n#include <stddef.h>\n"
        . "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }\n";
close $fh;
plan skip_all => "clang's libFuzzer runtime is missing (install clang and libclang-rt-14-dev)"
    if system("clang -fsanitize=fuzzer -o $probe_dir/p $probe_dir/p.c >/dev/null 2>&1") != 0;

my $out = $ENV{DS_FUZZ_OUT} // File::Spec->catdir($ENV{DS_BUILD_DIR} // "$repo/build", 'fuzz');
local $ENV{DS_FUZZ_OUT} = $out;

my @targets = qw(fuzz_slug fuzz_limit fuzz_key fuzz_subprotocol fuzz_origin fuzz_json
                 fuzz_token fuzz_auth fuzz_log_scrub fuzz_cmds fuzz_decode fuzz_pgoutput);

my $output = `"$repo/fuzz/run.sh" $secs 2>&1`;
my $rc = $? >> 8;
my %result = map { /^(PASS|FAIL) (\S+?):/ ? ($2 => $_) : () } split /\n/, $output;

for my $t (@targets) {
    my $line = $result{$t} // "no result for $t";
    ok($line =~ /^PASS /, "fuzz $t for ${secs}s runs clean") or diag $line;
}
is($rc, 0, 'fuzz/run.sh exits 0') or diag $output;

# Regressions: each kept input, fed on its own to its target binary.
my @reg = sort glob("$repo/t/fuzz-regressions/*/*");
for my $input (@reg) {
    my ($target) = $input =~ m{/fuzz-regressions/([^/]+)/};
    my $name = "$target/" . (File::Spec->splitpath($input))[2];
    my $log = `"$out/$target" -runs=1 "$input" 2>&1`;
    ok($? == 0, "regression $name runs clean") or diag $log;
}

done_testing;
