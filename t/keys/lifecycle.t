# create, list and revoke against a private Redis: what is stored, what is
# printed, and that the key itself never lands anywhere.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use POSIX qw(strftime);
use KeysTest qw(start_redis stop_redis run_tool redis_cmd);
use DataStream::Keys;

my $redis = start_redis();
my @keys_created;

sub stored { my ($hash) = @_; return { @{ redis_cmd($redis, 'HGETALL', rkey('apikey', $hash)) } } }

# --- create sk, plain output ---------------------------------------------------
my ($rc, $out, $err) = run_tool($redis, qw(create --name backend-1 --kind sk));
is $rc, 0, 'create sk exits 0';
is $err, '', 'create sk is silent on stderr';
like $out, qr/\Ask_live_[0-9a-f]{64}\n\z/, 'create sk prints only the key';
chomp(my $sk = $out);
push @keys_created, $sk;
my $sk_hash = sha256_hex($sk);
my $sk_rec = stored($sk_hash);
like delete $sk_rec->{created_at}, qr/\A[1-9][0-9]{9}\z/, 'created_at is Unix seconds';
is_deeply $sk_rec, { name => 'backend-1', kind => 'sk', rate_limit => '0', origins => '',
                     prefix => substr($sk, 0, 16) }, 'sk stored under sha256(key) with metadata';
is redis_cmd($redis, 'SISMEMBER', rkey('apikeys'), $sk_hash), 1, 'sk hash is in the set of keys';

# --- create pk, JSON output ------------------------------------------------------
($rc, $out, $err) = run_tool($redis, 'create', '--name', 'web app', '--kind', 'pk',
    '--origins', ' https://app.example  http://localhost:3000 https://app.example', '--rate-limit', '250', '--json');
is $rc, 0, 'create pk exits 0';
is $err, '', 'create pk is silent on stderr';
my $pk_out = decode_json($out);
my $pk = $pk_out->{key};
push @keys_created, $pk;
like $pk, qr/\Apk_live_[0-9a-f]{64}\z/, 'pk key shape';
my $pk_hash = sha256_hex($pk);
my $pk_created = redis_cmd($redis, 'HGET', rkey('apikey', $pk_hash), 'created_at');
is_deeply $pk_out, {
    key => $pk, id => substr($pk_hash, 0, 16), prefix => substr($pk, 0, 16), name => 'web app',
    kind => 'pk', rate_limit => 250, origins => ['https://app.example', 'http://localhost:3000'],
    created_at => 0 + $pk_created,
}, 'create --json describes the new key';
like $out, qr/\A\{"key":"pk_live_[0-9a-f]{64}","id":"[0-9a-f]{16}",/, 'create --json starts with key and id';
my $pk_rec = stored($pk_hash);
delete $pk_rec->{created_at};
is_deeply $pk_rec, { name => 'web app', kind => 'pk', rate_limit => '250',
                     origins => 'https://app.example http://localhost:3000',
                     prefix => substr($pk, 0, 16) }, 'pk origins stored normalised';

# --- list --------------------------------------------------------------------------
my @expected = sort { $a->{created_at} <=> $b->{created_at} || $a->{hash} cmp $b->{hash} }
    map {
        my $h = sha256_hex($_);
        my $r = stored($h);
        +{ %$r, hash => $h };
    } @keys_created;

($rc, $out, $err) = run_tool($redis, 'list');
is $rc, 0, 'list exits 0';
is $err, '', 'list is silent on stderr';
is $out, join('', "ID\tPREFIX\tNAME\tKIND\tRATE_LIMIT\tCREATED_AT\tORIGINS\n", map {
    join("\t", substr($_->{hash}, 0, 16), $_->{prefix}, $_->{name}, $_->{kind},
         $_->{rate_limit} ? $_->{rate_limit} : 'default',
         strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_->{created_at}),
         $_->{origins} eq '' ? '-' : $_->{origins}) . "\n"
} @expected), 'list prints one tab-separated row per key';

($rc, $out, $err) = run_tool($redis, 'list', '--json');
is $rc, 0, 'list --json exits 0';
is_deeply decode_json($out), [ map { {
    id => substr($_->{hash}, 0, 16), prefix => $_->{prefix}, name => $_->{name}, kind => $_->{kind},
    rate_limit => 0 + $_->{rate_limit}, origins => [ split ' ', $_->{origins} ],
    created_at => 0 + $_->{created_at},
} } @expected ], 'list --json mirrors the stored metadata';

# --- the key itself is nowhere ----------------------------------------------------------
my @everything = @{ redis_cmd($redis, 'KEYS', '*') };
for my $name (@{ redis_cmd($redis, 'KEYS', '*') }) {
    my $type = redis_cmd($redis, 'TYPE', $name);
    my $v = $type eq 'hash' ? redis_cmd($redis, 'HGETALL', $name)
          : $type eq 'set'  ? redis_cmd($redis, 'SMEMBERS', $name)
          :                   [ redis_cmd($redis, 'GET', $name) ];
    push @everything, @$v;
}
my @listings = map { (run_tool($redis, @$_))[1] } ['list'], ['list', '--json'];
for my $key (@keys_created) {
    my $secret = substr($key, length 'sk_live_');
    is scalar(grep { index($_, $secret) >= 0 } @everything, @listings), 0,
        'secret part of the key is in no Redis key or value and no listing';
}

# --- prefix and database are honoured ----------------------------------------------------
($rc, $out) = run_tool($redis, { REDIS_PREFIX => 'other:', REDIS_URL => "redis://127.0.0.1:$redis->{port}/4" },
                       qw(create --name elsewhere --kind sk));
is $rc, 0, 'create with REDIS_PREFIX and db 4';
chomp(my $other = $out);
is redis_cmd($redis, 'EXISTS', 'other:' . rkey_field('apikey', sha256_hex($other))), 0, 'not in db 0';
($rc, $out) = run_tool($redis, { REDIS_URL => "redis://127.0.0.1:$redis->{port}/4" },
                       qw(--prefix other: list --json));
is_deeply [ map { $_->{name} } @{ decode_json($out) } ], ['elsewhere'], 'listed under --prefix other: in db 4';

# --- revoke ------------------------------------------------------------------------------
my $sk_id = substr($sk_hash, 0, 16);
($rc, $out, $err) = run_tool($redis, 'revoke', $sk_id);
is_deeply [$rc, $out, $err], [0, "revoked $sk_id\n", ''], 'revoke by id';
is redis_cmd($redis, 'EXISTS', rkey('apikey', $sk_hash)), 0, 'revoked hash deleted';
is redis_cmd($redis, 'SISMEMBER', rkey('apikeys'), $sk_hash), 0, 'revoked hash unlisted';

($rc, $out, $err) = run_tool($redis, 'revoke', $sk_id);
is_deeply [$rc, $out, $err], [1, '', qq({"level":"error","msg":"no key with id $sk_id"}\n)],
    'revoking twice by id is not found';

my $pk_id = substr($pk_hash, 0, 16);
($rc, $out, $err) = run_tool($redis, 'revoke', $pk);
is_deeply [$rc, $out, $err], [0, "revoked $pk_id\n", ''], 'revoke by full key';
($rc, $out, $err) = run_tool($redis, 'revoke', $pk);
is_deeply [$rc, $out, $err], [1, '', qq({"level":"error","msg":"no such key (id $pk_id)"}\n)],
    'revoking twice by key is not found';

($rc, $out) = run_tool($redis, 'list');
is $out, "ID\tPREFIX\tNAME\tKIND\tRATE_LIMIT\tCREATED_AT\tORIGINS\n", 'list is empty after revoking';
is_deeply redis_cmd($redis, 'KEYS', rkey_prefix() . '*'), [], 'no keys under the prefix left';

stop_redis($redis);
done_testing;
