-- wess-postgres schema 1: one table per kind of data, module data partitioned by a hash
-- of the namespace. Records are stored in the same encoded form as the embedded store
-- (wess.storage.records), so every backend decodes them with one code.

CREATE TABLE system (
    key text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE modules (
    namespace text NOT NULL,
    id uuid NOT NULL,
    digest text NOT NULL,
    size bigint NOT NULL,
    record bytea NOT NULL,
    wasm bytea NOT NULL,
    PRIMARY KEY (namespace, id)
) PARTITION BY HASH (namespace);

CREATE TABLE modules_p0 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE modules_p1 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE modules_p2 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE modules_p3 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE modules_p4 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE modules_p5 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE modules_p6 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE modules_p7 PARTITION OF modules FOR VALUES WITH (MODULUS 8, REMAINDER 7);

-- reads by id alone (a module's namespace is not known before it is read), and the
-- listing of every namespace in id order
CREATE INDEX modules_by_id ON modules (id);

CREATE TABLE artifacts (
    module_id uuid NOT NULL,
    digest text NOT NULL,
    flavor text NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (module_id, digest, flavor)
);

CREATE TABLE usage (
    module_id uuid PRIMARY KEY,
    count bigint NOT NULL
);

CREATE TABLE api_keys (
    id text PRIMARY KEY,
    record bytea NOT NULL
);

CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    entry bytea NOT NULL
);
