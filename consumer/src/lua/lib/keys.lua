-- Redis key names of the read model for the consumer's scripts (inlined by embed_lua.sh where a
-- script says so). The C programs build the same names with contract/datastream_keys.h and the
-- tests with t/lib/DataStream/Keys.pm; docs/design.md says what each key holds. Every name is
-- the caller's prefix followed by one of these.
local KEY = {
  games = 'games',
  game_ids = 'game_ids',
  games_revision = 'games:rev',
  game_version = 'gv:',
  history_game = 'h:game:',
  history_type = 'h:type:',
  histories = 'h:keys',
  history_revisions = 'hrev',
  history_revision_seq = 'hrev:seq',
  round_version = 'rv:',
  truncated_lsn = 'truncated_lsn',
}

-- The key named kind, with its variable part (a game or round id, a slug or type) if it has one.
local function key(prefix, kind, part)
  return prefix .. KEY[kind] .. (part or '')
end
