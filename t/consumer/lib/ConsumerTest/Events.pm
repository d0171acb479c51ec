package ConsumerTest::Events;
# Builds Debezium change events (bare envelope, or with the schema wrapper).
use strict;
use warnings;
use Exporter 'import';
use JSON::PP;

our @EXPORT_OK = qw(round_event game_event truncate_event wrap_schema round_json);

my $json = JSON::PP->new->canonical;

sub _source { my ($lsn, $table) = @_; return { ts_ms => 1768621542000 + $lsn, lsn => $lsn, table => $table, schema => 'public', name => 'datastream' } }

# round_event(op => 'c', id => 1, game_id => 1, lsn => 10, finished_at => ..., extras => ...)
sub round_event {
    my %a = @_;
    my $row = {
        id => $a{id}, game_id => $a{game_id} // 1,
        finished_at => exists $a{finished_at} ? $a{finished_at} : '2026-01-17T03:45:42.735266Z',
        extras => exists $a{extras} ? $a{extras} : '{"point": "1.50"}',
        %{ $a{columns} // {} },
    };
    my $ev = { op => $a{op}, ts_ms => 1768621542999, source => _source($a{lsn}, 'rounds') };
    if ($a{op} eq 'd') {
        $ev->{before} = { id => $a{id}, game_id => 0, finished_at => undef, extras => undef };
        $ev->{after} = undef;
    } else {
        $ev->{before} = undef;
        $ev->{after} = $row;
    }
    return $json->encode($ev);
}

sub game_event {
    my %a = @_;
    my $row = { id => $a{id}, slug => $a{slug}, name => $a{name} // ucfirst($a{slug} // ''), type => $a{type} };
    my $ev = { op => $a{op}, ts_ms => 1768621542999, source => _source($a{lsn}, 'games'),
        before => $a{op} eq 'd' ? { id => $a{id}, slug => '', name => '', type => '' } : undef,
        after => $a{op} eq 'd' ? undef : $row };
    return $json->encode($ev);
}

sub truncate_event {
    my %a = @_;
    return $json->encode({ op => 't', before => undef, after => undef, ts_ms => 1, source => _source($a{lsn}, 'rounds') });
}

sub wrap_schema {
    my ($event) = @_;
    return '{"schema":{"type":"struct","fields":[],"optional":false,"name":"datastream.public.rounds.Envelope"},"payload":'
        . $event . '}';
}

# The round object the consumer must produce for round_event(%a) with the given game.
sub round_json {
    my (%a) = @_;
    my $fin = exists $a{finished_at} ? $a{finished_at} : '2026-01-17T03:45:42.735266Z';
    my $extras = exists $a{extras} ? $a{extras} : '{"point": "1.50"}';
    $extras //= '{}';
    return sprintf '{"round_id":%d,"game_id":%d,"game_slug":%s,"game_type":%s,"finished_at":%s,"extras":%s,"timestamp":%d}',
        $a{id}, $a{game_id} // 1, $json->encode($a{slug}), $json->encode($a{type}),
        defined $fin ? $json->encode($fin) : 'null', $json->encode($extras), 1768621542000 + $a{lsn};
}

1;
