-- wess-postgres schema 2: the nodes serving the store, from their heartbeats.

CREATE TABLE nodes (
    id text PRIMARY KEY,
    address text NOT NULL,
    version text NOT NULL,
    started_at timestamptz NOT NULL,
    last_seen timestamptz NOT NULL
);
