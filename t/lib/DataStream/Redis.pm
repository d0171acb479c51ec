package DataStream::Redis;

# Seeds the Redis read model the way the consumer and the key tool write it
# (layout in docs/design.md), for the nginx module's tests.

use strict;
use warnings;
use POSIX ();
use Digest::SHA qw(sha256_hex hmac_sha256);
use DataStream::Keys qw(rkey rkey_field rkey_prefix);
use Exporter 'import';
use File::Basename ();
use File::Spec ();
use IO::Socket::INET;
use MIME::Base64 ();
use Time::HiRes ();

# rkey, rkey_field and rkey_prefix are DataStream::Keys's, exported again for the test files.
our @EXPORT = qw(redis redis_flush seed_games add_round add_key key_for round_json
                 redis_pid mint_token datastream_defaults seed_reference %ROUND
                 rkey rkey_field rkey_prefix);

my $REPO = File::Spec->rel2abs(
    File::Spec->catdir(File::Basename::dirname(__FILE__), '..', '..', '..'));

# The test runner normally provides these; a file run on its own gets its
# own Redis server and the module from the default build directory.
$ENV{TEST_NGINX_DATASTREAM_MODULE} //=
    File::Spec->catfile($REPO, 'build', 'nginx', 'ngx_http_datastream_module.so');
$ENV{TEST_NGINX_NCHAN_MODULE} //= '/usr/lib/nginx/modules/ngx_nchan_module.so';
$ENV{TEST_DATASTREAM_SECRET} //= unpack('H*', join '', map { chr int rand 256 } 1 .. 32);

my $own_redis;

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1) or die "no free port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

if (!$ENV{TEST_NGINX_REDIS_PORT}) {
    my $port = free_port();
    $own_redis = fork() // die "fork: $!\n";
    if ($own_redis == 0) {
        open(STDOUT, '>', File::Spec->devnull);
        exec('redis-server', '--bind', '127.0.0.1', '--port', $port, '--save', '',
             '--appendonly', 'no') or POSIX::_exit(1);
    }
    $ENV{TEST_NGINX_REDIS_PORT} = $port;
    for (1 .. 500) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        Time::HiRes::sleep(0.01);
    }
}

END {
    if ($own_redis) {
        kill 'CONT', $own_redis;
        kill 'TERM', $own_redis;
        waitpid($own_redis, 0);
    }
}

sub port { $ENV{TEST_NGINX_REDIS_PORT} or die "TEST_NGINX_REDIS_PORT is not set\n" }

# runs one command, returns its output without the trailing newline
sub redis {
    my @args = @_;
    open(my $fh, '-|', 'redis-cli', '-h', '127.0.0.1', '-p', port(), '--raw', @args)
        or die "redis-cli: $!\n";
    local $/;
    my $out = <$fh>;
    close($fh) or die "redis-cli @args failed\n";
    $out //= '';
    $out =~ s/\n\z//;
    return $out;
}

sub redis_flush { redis('FLUSHALL') }

sub redis_pid {
    my ($line) = grep { /^process_id:/ } split /\r?\n/, redis('INFO', 'server');
    my ($pid) = $line =~ /(\d+)/;
    return $pid;
}

my @GAMES = (
    [1, 'crash',       'Crash',        'multiplier'],
    [2, 'double',      'Double',       'color'],
    [3, 'slot',        'Slot Machine', 'slots'],
    [4, 'wall-street', 'Wall Street',  'trending'],
    [5, 'limbo',       'Limbo',        'multiplier'],
    [6, 'mines',       'Mines',        'grid'],
);

sub seed_games {
    for my $g (@GAMES) {
        my ($id, $slug, $name, $type) = @$g;
        redis('HSET', rkey('games'), $slug,
              qq({"id":$id,"slug":"$slug","name":"$name","type":"$type"}));
        redis('HSET', rkey('game_ids'), $id, $slug);
    }
}

# the round object exactly as stored (compact, fixed key order)
sub round_json {
    my (%r) = @_;
    my $extras = $r{extras} // '{}';
    $extras =~ s/(["\\])/\\$1/g;
    my $finished = defined $r{finished_at} ? qq("$r{finished_at}") : 'null';
    return qq({"round_id":$r{round_id},"game_id":$r{game_id},"game_slug":"$r{slug}",)
         . qq("game_type":"$r{type}","finished_at":$finished,"extras":"$extras",)
         . qq("timestamp":$r{timestamp}});
}

my $REVISION = 0;

sub add_round {
    my (%r) = @_;
    my $json = round_json(%r);
    for my $history (['history_game', $r{slug}], ['history_type', $r{type}]) {
        redis('ZADD', rkey(@$history), $r{round_id}, $json);
        redis('HSET', rkey('history_revisions'), rkey_field(@$history),
              sprintf('%.6f.%d', Time::HiRes::time(), ++$REVISION));
    }
    return $json;
}

# a deterministic key per name, so tests can refer to it
sub key_for {
    my ($kind, $name) = @_;
    return "${kind}_live_" . sha256_hex("datastream-test-key:$kind:$name");
}

sub add_key {
    my (%k) = @_;
    my $key = key_for($k{kind}, $k{name});
    my $hash = sha256_hex($key);
    redis('HSET', rkey('apikey', $hash), 'name', $k{name}, 'kind', $k{kind},
          'rate_limit', $k{rate_limit} // 0, 'origins', $k{origins} // '',
          'created_at', 1768600000, 'prefix', substr($key, 0, 16));
    redis('SADD', rkey('apikeys'), $hash);
    return $key;
}

# the reference data set of the module's tests; %ROUND holds the stored JSON
our %ROUND;

sub seed_reference {
    redis_flush();
    seed_games();
    my @rounds = (
        [crash_old => 510, 1, 'crash', 'multiplier', '2026-01-17T03:45:40.1Z', '{"point": "2.10"}', 1768621540123],
        [crash     => 512, 1, 'crash', 'multiplier', '2026-01-17T03:45:42.735266Z', '{"point": "11.72"}', 1768621542123],
        [double    => 600, 2, 'double', 'color', '2026-01-17T03:46:00Z', '{"color": "red", "result": 7}', 1768621560000],
        [wall      => 700, 4, 'wall-street', 'trending', '2026-01-17T03:47:00Z', '{"color": "green"}', 1768621620000],
        [limbo     => 800, 5, 'limbo', 'multiplier', undef, '{"result": 1.50}', 1768621680000],
        [mines     => 900, 6, 'mines', 'grid', '2026-01-17T03:49:00Z', '{}', 1768621740000],
    );
    for my $r (@rounds) {
        $ROUND{$r->[0]} = add_round(round_id => $r->[1], game_id => $r->[2], slug => $r->[3],
            type => $r->[4], finished_at => $r->[5], extras => $r->[6], timestamp => $r->[7]);
    }
    add_key(kind => 'sk', name => 'server');
    add_key(kind => 'pk', name => 'browser', origins => 'https://a.example https://b.example');
    add_key(kind => 'sk', name => 'tiny', rate_limit => 2);
}

# a streaming token as the module mints it (see docs/design.md)
sub mint_token {
    my (%t) = @_;
    my $secret = $t{secret} // $ENV{TEST_DATASTREAM_SECRET};
    my $payload = MIME::Base64::encode_base64url(
        join('.', substr(sha256_hex($t{key}), 0, 16), substr($t{key}, 0, 2), $t{expiry}));
    return "tok_$payload." . MIME::Base64::encode_base64url(hmac_sha256($payload, $secret));
}

# A block preprocessor filling in the usual nginx configuration; a block
# overrides any part by giving that section itself.
# Use: add_block_preprocessor(\&datastream_defaults);
sub datastream_defaults {
    my $block = shift;
    $block->set_value('main_config', <<'MAIN') unless defined $block->main_config;
    load_module $TEST_NGINX_NCHAN_MODULE;
    load_module $TEST_NGINX_DATASTREAM_MODULE;
MAIN
    # generous by default: a loaded machine or a sanitizer build is slow
    my $timeout = $ENV{TEST_DATASTREAM_REDIS_TIMEOUT} // '2s';
    $block->set_value('http_config', <<'HTTP' . "    datastream_redis_timeout $timeout;\n")
    datastream_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    datastream_token_secret_env DS_TOKEN_SECRET;
HTTP
        unless defined $block->http_config;
    $block->set_value('config', <<'CONFIG') unless defined $block->config;
    location /api/ { datastream_api; }
    location = /healthz { datastream_healthz; }
    location = /readyz { datastream_readyz; }
    location = /metrics { datastream_metrics; }
CONFIG
    # A WebSocket handshake keeps its connection (after 101, and after an error
    # answer to a keep-alive Upgrade request), while Test::Nginx reads until the
    # server closes: such a block ends by a short client timeout that --- abort
    # makes no failure; what arrived before it is checked as usual.
    my @headers = map { ref $_ ? @$_ : $_ } grep { defined } scalar $block->more_headers;
    if (!defined $block->abort && grep { /^Upgrade: websocket/mi } @headers) {
        $block->set_value('abort', 1);
        $block->set_value('timeout', $ENV{TEST_DATASTREAM_WS_TIMEOUT} // '1');
    }
}

1;
