-- The audit index: every record of every gateway's log, keyed by (origin, idx), with its
-- decided fields as columns and its canonical bytes, partitioned by month of its time.
CREATE TABLE records (
    origin          text        NOT NULL,
    idx             bigint      NOT NULL,
    t               timestamptz NOT NULL,
    day             date        NOT NULL, -- the day in Beijing time (UTC+8), as reports count
    kind            text        NOT NULL,
    sharing         boolean     NOT NULL, -- what a sharing report counts (audit.Kind.Sharing)
    gateway         text        NOT NULL,
    request_id      text        NOT NULL,
    consumer_dept   text        NOT NULL,
    consumer_system text        NOT NULL,
    provider_dept   text        NOT NULL, -- from the catalog given to the shipper, else ''
    pool            text        NOT NULL, -- the record's provider member: the route's pool
    route           text        NOT NULL,
    resource        text        NOT NULL,
    agreement       text        NOT NULL,
    purpose         text        NOT NULL,
    mode            text        NOT NULL,
    method          text        NOT NULL,
    allow           boolean,              -- NULL: no policy decision was made
    reasons         text[]      NOT NULL, -- the decision's reason codes
    error           text        NOT NULL,
    status          integer     NOT NULL,
    outcome         text        NOT NULL, -- allowed, denied or failed (audit.Outcome)
    reason          text        NOT NULL, -- the report's reason column; '' when allowed
    bytes_request   bigint      NOT NULL,
    bytes_response  bigint      NOT NULL,
    fields          text[]      NOT NULL, -- the fields released
    policy_revision text        NOT NULL,
    leaf_hash       bytea       NOT NULL, -- SM3(0x00 || record)
    record          bytea       NOT NULL, -- the canonical record bytes, as the log holds them
    -- A partitioned table's keys include its partition key; (origin, idx) is unique
    -- because a batch is written only where the origin's progress row (locked) says,
    -- and only records verified against a signed checkpoint: a record's time is fixed.
    PRIMARY KEY (origin, idx, t)
) PARTITION BY RANGE (t);

CREATE INDEX records_t ON records (t);

-- What the sharing reports read: one row per day and group, kept up to date in the
-- transaction that inserts the records, and kept when retention drops the records.
CREATE TABLE sharing_daily (
    day            date   NOT NULL,
    origin         text   NOT NULL,
    kind           text   NOT NULL,
    consumer_dept  text   NOT NULL,
    provider_dept  text   NOT NULL,
    pool           text   NOT NULL,
    resource       text   NOT NULL,
    agreement      text   NOT NULL,
    reason         text   NOT NULL,
    outcome        text   NOT NULL,
    n              bigint NOT NULL,
    bytes_released bigint NOT NULL,
    PRIMARY KEY (day, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome)
);

-- Every checkpoint shipped, with the note as signed.
CREATE TABLE checkpoints (
    origin  text   NOT NULL,
    size    bigint NOT NULL,
    root    bytea  NOT NULL,
    note    bytea  NOT NULL,
    shipped timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (origin, size)
);

-- Where each origin's records begin in the index, with the compact range of the records
-- before (all zero-length at 0): what verify starts from after retention.
CREATE TABLE origins (
    origin      text     NOT NULL PRIMARY KEY,
    first_idx   bigint   NOT NULL,
    first_range bytea[]  NOT NULL
);

-- The shipper's progress, written in the transaction of each batch: records [.., next_idx)
-- are in, the compact range of the first next_idx records, the last checkpoint verified.
CREATE TABLE ship_progress (
    origin     text    NOT NULL PRIMARY KEY,
    next_idx   bigint  NOT NULL,
    range      bytea[] NOT NULL,
    ckpt_size  bigint  NOT NULL,
    ckpt_root  bytea   NOT NULL,
    updated    timestamptz NOT NULL DEFAULT now()
);

-- What the shipper refused, loudly: rewritten history, records that do not verify.
CREATE TABLE alerts (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    origin  text        NOT NULL,
    kind    text        NOT NULL, -- inconsistent_checkpoint, record_invalid, bad_checkpoint, record_changed_on_disk
    idx     bigint,
    detail  text        NOT NULL
);
CREATE INDEX alerts_origin ON alerts (origin, at);
