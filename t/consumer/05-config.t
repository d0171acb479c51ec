# Configuration: --help documents every variable; bad values fail fast with a clear message.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ConsumerTest::Stack;

my $bin = ConsumerTest::Stack->new->{consumer_bin};

sub run_consumer {
    my (%env) = @_;
    local %ENV = (%ENV, %env);
    my $out = `$bin 2>&1`;
    return ($? >> 8, $out);
}

my $help = `$bin --help`;
is $? >> 8, 0, '--help exits 0';
for my $var (qw(NATS_URL NATS_USER NATS_PASSWORD REDIS_URL REDIS_PREFIX NCHAN_BUFFER_LENGTH NCHAN_MESSAGE_TIMEOUT PREFIX STREAM DURABLE_ROUNDS DURABLE_GAMES
    BATCH_SIZE FETCH_TIMEOUT_MS ACK_WAIT MAX_DELIVER MAX_ACK_PENDING HISTORY_MAX VERSION_TTL
    MAX_MESSAGE_BYTES UNKNOWN_GAME_MAX_DELIVERIES NAK_DELAY_BASE_MS NAK_DELAY_MAX_MS
    PUBLICATION_LEASE_MS LEASE_WAIT_MS SHUTDOWN_GRACE LAG_REFRESH_MS METRICS_ADDR METRICS_PORT LOG_LEVEL CREATE_STREAM)) {
    like $help, qr/^  \Q$var\E +.+\[[^\]]*\]$/m, "--help lists $var with its default";
}
like $help, qr/^  BATCH_SIZE +.*\[64\]$/m, 'defaults shown';

my @bad = (
    [ { REDIS_URL => 'localhost:1' }, q{REDIS_URL: 'localhost:1' is not redis://host:port[/db]} ],
    [ { REDIS_URL => 'redis://h:99999' }, q{REDIS_URL: 'redis://h:99999' is not redis://host:port[/db]} ],
    [ { NCHAN_BUFFER_LENGTH => '0' }, q{NCHAN_BUFFER_LENGTH: 0 is outside 1..100000} ],
    [ { BATCH_SIZE => 'ten' }, q{BATCH_SIZE: 'ten' is not an integer} ],
    [ { BATCH_SIZE => '0' }, q{BATCH_SIZE: 0 is outside 1..1000} ],
    [ { HISTORY_MAX => '10' }, q{HISTORY_MAX: 10 is outside 1000..1000000} ],
    [ { METRICS_PORT => '70000' }, q{METRICS_PORT: 70000 is outside 1..65535} ],
    [ { LOG_LEVEL => 'loud' }, q{LOG_LEVEL: 'loud' is not debug, info, warn or error} ],
    [ { PREFIX => 'a.b' }, q{PREFIX: 'a.b' must be one subject token [A-Za-z0-9_-]+} ],
    [ { FETCH_TIMEOUT_MS => '6000', ACK_WAIT => '5' }, q{FETCH_TIMEOUT_MS must be below ACK_WAIT} ],
    [ { NAK_DELAY_BASE_MS => '5000', NAK_DELAY_MAX_MS => '1000' }, q{NAK_DELAY_BASE_MS must not exceed NAK_DELAY_MAX_MS} ],
    [ { PUBLICATION_LEASE_MS => '500' }, q{PUBLICATION_LEASE_MS: 500 is outside 1000..600000} ],
    [ { NATS_PASSWORD => 'secret', NATS_USER => '' }, q{NATS_PASSWORD is set but NATS_USER is not} ],
);
for my $case (@bad) {
    my ($rc, $out) = run_consumer(%{ $case->[0] });
    is $rc, 2, "exit 2 for $case->[1]";
    like $out, qr/^\{"ts":"[^"]+","level":"error","msg":"invalid configuration","error":"\Q$case->[1]\E"\}$/,
        'one JSON log line with the reason';
}
# NATS_URL is logged at start, with any password in it masked.
{
    local %ENV = (%ENV, NATS_URL => 'nats://consumer:s3cr3t-pw@127.0.0.1:1,nats://other:pw2@127.0.0.1:2/x,nats://127.0.0.1:3',
                  METRICS_PORT => ConsumerTest::Stack::free_port());
    my $out = `timeout -s INT 1 $bin 2>&1`;
    my ($url) = $out =~ /"msg":"starting".*?"nats_url":"([^"]*)"/;
    is $url, 'nats://consumer:***@127.0.0.1:1,nats://other:***@127.0.0.1:2/x,nats://127.0.0.1:3',
        'the starting line shows NATS_URL with its passwords as ***';
    unlike $out, qr/s3cr3t-pw|pw2/, 'no password anywhere in the log';
}
my ($xrc, $xout) = do { my $o = `$bin --bogus 2>&1`; ($? >> 8, $o) };
is $xrc, 2, 'unknown argument exits 2';
like $xout, qr/^usage: datastream-consumer/, 'and prints usage';
done_testing;
