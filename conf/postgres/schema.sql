-- The source tables of the contract, as a game platform would have them, and the reference
-- games. Idempotent: applied as the datastream role at every start of the local stack and of
-- the test stack, so the role that owns the tables can also publish them for logical replication.

CREATE TABLE IF NOT EXISTS games (
    id   int PRIMARY KEY,
    slug text UNIQUE NOT NULL,
    name text NOT NULL,
    type text NOT NULL
);

CREATE TABLE IF NOT EXISTS rounds (
    id          bigint PRIMARY KEY,
    game_id     int NOT NULL REFERENCES games(id),
    finished_at timestamptz NOT NULL,
    extras      jsonb NOT NULL DEFAULT '{}'
);

-- The same ids, slugs, names and types as tools/feed/reference_games.c.
INSERT INTO games (id, slug, name, type) VALUES
    (1, 'crash',       'Crash',        'multiplier'),
    (2, 'double',      'Double',       'color'),
    (3, 'slot',        'Slot Machine', 'slots'),
    (4, 'wall-street', 'Wall Street',  'trending')
ON CONFLICT DO NOTHING;
