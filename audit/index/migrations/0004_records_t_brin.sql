-- The records' time index becomes a BRIN index (min and max of t per 128 pages) instead of
-- a B-tree: what reads records by time (a report's partial days at either end of its
-- range, retention's records of a month written before its last) reads ranges of t, and
-- the records are written in about the order of their time (a batch is consecutive
-- records of one origin), so a block range spans minutes. A B-tree entry per record was
-- a second index to keep up on every row copied (CPU of the shipper's backends, ~40
-- bytes a record); the BRIN index is a few pages per million records. (origin, idx, t)
-- stays the one B-tree: the primary key.
DROP INDEX records_t;
CREATE INDEX records_t ON records USING brin (t);
