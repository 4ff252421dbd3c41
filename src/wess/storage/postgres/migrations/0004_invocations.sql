-- wess-postgres schema 3: asynchronous invocations, a queue every node takes work from.
-- ``due`` is when a claim may take the row (not_before while queued, the lease's end
-- while running; NULL once finished); ``record`` is the whole encoded record.

CREATE TABLE invocations (
    id uuid PRIMARY KEY,
    namespace text NOT NULL,
    idempotency_key text,
    due timestamptz,
    expires_at timestamptz,
    record bytea NOT NULL
);
CREATE UNIQUE INDEX invocations_idempotency ON invocations (namespace, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX invocations_due ON invocations (due) WHERE due IS NOT NULL;
CREATE INDEX invocations_expiry ON invocations (expires_at) WHERE expires_at IS NOT NULL;
