package DataStream::Keys;

# Redis key names of the read model, for the tests and the benchmarks: the same names the C
# programs build with contract/datastream_keys.h and the consumer's Lua scripts with
# consumer/src/lua/lib/keys.lua (docs/design.md says what each key holds).
#
#   rkey('history_game', 'crash')          # "ds:h:game:crash"
#   rkey('rate', $id, $window)             # "ds:rl:<id>:<window>"
#   rkey_field('history_game', 'crash')    # "h:game:crash", a field of rkey('history_revisions')

use strict;
use warnings;
use Carp ();
use Exporter 'import';

our @EXPORT = qw(rkey rkey_field rkey_prefix);

my %STEM = (
    games                => ['games', 0],
    game_ids             => ['game_ids', 0],
    games_revision       => ['games:rev', 0],
    game_version         => ['gv', 1],
    history_game         => ['h:game', 1],
    history_type         => ['h:type', 1],
    histories            => ['h:keys', 0],
    history_revisions    => ['hrev', 0],
    history_revision_seq => ['hrev:seq', 0],
    round_version        => ['rv', 1],
    truncated_lsn        => ['truncated_lsn', 0],
    apikey               => ['apikey', 1],
    apikeys              => ['apikeys', 0],
    rate                 => ['rl', 2],
);

# The prefix every key starts with: the tests' and the programs' default unless set.
sub rkey_prefix { $ENV{TEST_DATASTREAM_PREFIX} // 'ds:' }

sub rkey_field {
    my ($kind, @parts) = @_;
    my $stem = $STEM{$kind} or Carp::croak("unknown Redis key '$kind'");
    @parts == $stem->[1]
        or Carp::croak("Redis key '$kind' takes $stem->[1] part(s), got " . scalar @parts);
    return join ':', $stem->[0], @parts;
}

sub rkey { rkey_prefix() . rkey_field(@_) }

1;
