-- wess-postgres schema 3: retained revisions of every module, and module names indexed
-- per namespace. Every stored module keeps its current content as its one retained
-- revision, under the number it has; a name that parses as a UUID (a module uploaded
-- without one) is not indexed, and when two modules of a namespace share a name the
-- older keeps it (the other is addressed by its id only).

CREATE TABLE revisions (
    module_id uuid NOT NULL,
    revision bigint NOT NULL,
    digest text NOT NULL,
    record bytea NOT NULL,
    wasm bytea NOT NULL,
    PRIMARY KEY (module_id, revision)
);

INSERT INTO revisions (module_id, revision, digest, record, wasm)
SELECT id, (convert_from(record, 'UTF8')::jsonb ->> 'revision')::bigint, digest, record, wasm
FROM modules;

CREATE TABLE module_names (
    namespace text NOT NULL,
    name text NOT NULL,
    module_id uuid NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE INDEX module_names_by_module ON module_names (module_id);

INSERT INTO module_names (namespace, name, module_id)
SELECT DISTINCT ON (namespace, name) namespace, name, id
FROM (
    SELECT namespace, id,
           convert_from(record, 'UTF8')::jsonb ->> 'name' AS name,
           convert_from(record, 'UTF8')::jsonb ->> 'created_at' AS created_at
    FROM modules
) AS named
-- wess.models.is_uuid: the name without urn:, uuid:, surrounding braces and hyphens is
-- 32 hex digits
WHERE replace(btrim(replace(replace(name, 'urn:', ''), 'uuid:', ''), '{}'), '-', '')
      !~ '^[0-9a-fA-F]{32}$'
ORDER BY namespace, name, created_at, id;
