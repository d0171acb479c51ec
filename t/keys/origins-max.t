# The longest allowed-origins list (DATASTREAM_ORIGINS_MAX, 4095 bytes once
# normalised to single spaces): the tool accepts exactly that much and refuses
# one byte more, and a pk key with such a list works against the real nginx
# module, down to its last origin.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use KeysTest qw(start_redis stop_redis run_tool redis_cmd);
use DataStream::Keys;

my $MAX = 4095;

# Distinct origins "https://o<n>.example" joined by single spaces, then one
# last origin padded so the list is $len bytes long.
sub origins_of_length {
    my ($len) = @_;
    my @origins;
    my $used = -1;
    for (my $n = 0; ; $n++) {
        my $o = sprintf 'https://o%04d.example', $n;
        last if $used + 1 + length($o) > $len - 40;
        push @origins, $o;
        $used += 1 + length $o;
    }
    my $pad = $len - $used - 1 - length('https://last-.example');
    push @origins, 'https://last-' . ('x' x $pad) . '.example';
    my $list = join ' ', @origins;
    die "built " . length($list) . " bytes, wanted $len" unless length $list == $len;
    return ($list, @origins);
}

my ($list, @origins) = origins_of_length($MAX);
cmp_ok scalar @origins, '>', 100, 'the longest list holds many origins';

# What the command line gives may be longer: extra blanks and repeats are dropped.
my $given = join("  \t", @origins) . ' ' . $origins[0] . "\n";
cmp_ok length $given, '>', $MAX, 'the list given is longer than the limit before normalisation';

my $redis = start_redis();
my ($rc, $out, $err) = run_tool($redis, 'create', '--name', 'many origins', '--kind', 'pk',
                                '--origins', $given, '--json');
is $rc, 0, "a list of exactly $MAX bytes after normalisation is accepted" or diag $err;
is $err, '', 'and nothing is written to stderr';
my $created = eval { decode_json($out) } // {};
is_deeply $created->{origins}, \@origins, 'every origin is kept, in order, once';
my $stored = redis_cmd($redis, 'HGET', rkey('apikey', sha256_hex($created->{key} // '')), 'origins');
is $stored, $list, "the stored list is the normalised one ($MAX bytes)";

($rc, $out, $err) = run_tool($redis, 'list', '--json');
my $all = eval { decode_json($out) } // [];
my ($listed) = grep { $_->{name} eq 'many origins' } @$all;
is_deeply $listed->{origins}, \@origins, 'list shows the whole list';

my ($long) = origins_of_length($MAX + 1);
my $keys_before = redis_cmd($redis, 'DBSIZE');
($rc, $out, $err) = run_tool($redis, 'create', '--name', 'too many', '--kind', 'pk', '--origins', $long);
is_deeply [$rc, $out], [2, ''], 'one byte more is a usage error';
is $err, qq({"level":"error","msg":"origin list longer than $MAX bytes (origins separated by one space)"}\n),
    'with a clear message';
is redis_cmd($redis, 'DBSIZE'), $keys_before, 'and nothing is stored';
stop_redis($redis);

# ---------------------------------------------------------------- real module
SKIP: {
    my $module = ($ENV{DS_BUILD_DIR} || "$FindBin::Bin/../../build") . '/nginx/ngx_http_datastream_module.so';
    skip 'the nginx module is not built', 4 unless -e $module;
    require DataStream::Stack;
    require DataStream::Client;

    my $stack = DataStream::Stack->new;
    $stack->start_redis;
    my $port = $stack->start_nginx;
    my $round = '{"round_id":1,"game_id":1,"game_slug":"crash","game_type":"multiplier",'
              . '"finished_at":"2026-01-17T03:45:42.735266Z","extras":"{\"point\": \"2.00\"}","timestamp":1768621542000}';
    $stack->redis_cli('HSET', rkey('games'), 'crash', '{"id":1,"slug":"crash","name":"Crash","type":"multiplier"}');
    $stack->redis_cli('HSET', rkey('game_ids'), 1, 'crash');
    $stack->redis_cli('ZADD', rkey('history_game', 'crash'), 1, $round);

    my $key = $stack->api_key(kind => 'pk', name => 'many origins', origins => $given);
    is redis_cmd({ port => $stack->port('redis') }, 'HGET', rkey('apikey', sha256_hex($key)), 'origins'),
        $list, "the key created for the module has the $MAX-byte list";

    my $get = sub {
        my ($origin) = @_;
        return DataStream::Client::http_request(GET => "http://127.0.0.1:$port/api/latest/crash",
            headers => { 'X-API-Key' => $key, Origin => $origin });
    };
    my $res = $get->($origins[-1]);
    is $res->{status}, 200, 'the last origin of the list is allowed' or diag $res->{content};
    like $res->{content}, qr/"round_id":1\b/, 'and gets the latest round';
    $res = $get->('https://not-listed.example');
    is $res->{status}, 403, 'an origin not in the list is refused' or diag $res->{content};
    $stack->diag_logs unless Test::More->builder->is_passing;
}

done_testing;
