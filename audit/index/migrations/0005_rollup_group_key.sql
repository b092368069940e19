-- The roll-ups become unique on (period, group_key): group_key is SHA-256 over the group's
-- texts, each as its length (4 bytes, big-endian) then its UTF-8 bytes, computed by the
-- shipper in Go (index.groupKey) once per group and batch, instead of a unique index on
-- nine columns, six of them md5(...) expressions the backend computed and compared for
-- every group upserted (~a third of the shipper's backends' CPU). The texts stay stored:
-- the upsert adds to a row only when every text is equal (ON CONFLICT ... DO UPDATE
-- WHERE), and the shipper refuses a batch in which a group added to no row, so two
-- groups of one key can never be merged into one. SHA-256, not SM3: PostgreSQL computes
-- it here for the rows already in; it keys an index, it protects nothing.
-- Every table the migration changes is locked first, records first: a shipper of the
-- version before holds records between its batch's COPY and its roll-up upsert, and a
-- migration that took sharing_daily before records deadlocked with it (PostgreSQL aborted
-- the migration: on a live database, nearly every time).
LOCK TABLE records, sharing_daily, sharing_monthly IN ACCESS EXCLUSIVE MODE;

CREATE FUNCTION rollup_key_text(s text) RETURNS bytea
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$ SELECT int4send(length(convert_to(s, 'UTF8'))) || convert_to(s, 'UTF8') $$;

CREATE FUNCTION rollup_group_key(origin text, kind text, consumer_dept text, provider_dept text, pool text,
        resource text, agreement text, reason text, outcome text) RETURNS bytea
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$ SELECT sha256(rollup_key_text(origin) || rollup_key_text(kind) || rollup_key_text(consumer_dept)
        || rollup_key_text(provider_dept) || rollup_key_text(pool) || rollup_key_text(resource)
        || rollup_key_text(agreement) || rollup_key_text(reason) || rollup_key_text(outcome)) $$;

ALTER TABLE sharing_daily ADD COLUMN group_key bytea;
UPDATE sharing_daily SET group_key = rollup_group_key(origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome);
ALTER TABLE sharing_daily ALTER COLUMN group_key SET NOT NULL;
DROP INDEX sharing_daily_key;
CREATE UNIQUE INDEX sharing_daily_group ON sharing_daily (day, group_key);

ALTER TABLE sharing_monthly ADD COLUMN group_key bytea;
UPDATE sharing_monthly SET group_key = rollup_group_key(origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome);
ALTER TABLE sharing_monthly ALTER COLUMN group_key SET NOT NULL;
DROP INDEX sharing_monthly_key;
CREATE UNIQUE INDEX sharing_monthly_group ON sharing_monthly (month, group_key);

-- The records' BRIN index summarizes each block range as soon as it is full (an
-- autovacuum work item), not only at the next vacuum of the partition: a report's partial
-- days read the recent ranges, which were unsummarized (read whole) until then. The option
-- is set on each partition's index, which reads nothing: rebuilding the index would read
-- every record under the lock above (0.7 s a million rows: hours for a province's
-- billions, with every shipper and report waiting). PostgreSQL refuses the option on the
-- partitioned parent index, so a partition created later gets it from the shipper that
-- creates it (index.ensurePartitions).
DO $$
DECLARE
  ix regclass;
BEGIN
  FOR ix IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'records_t'::regclass LOOP
    EXECUTE format('ALTER INDEX %s SET (autosummarize = on)', ix);
  END LOOP;
END
$$;
