-- wess-postgres schema 4: the guests' key-value state (wess:kv@1), one keyspace per
-- namespace, and each namespace's bytes (for its quota), locked by every write.

CREATE TABLE kv (
    namespace text NOT NULL,
    key text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE kv_usage (
    namespace text PRIMARY KEY,
    bytes bigint NOT NULL
);
