-- The monthly roll-up: what sharing_daily holds, summed by Beijing month, so that a report
-- over years that does not group by day reads a row per month and group. Kept up to date
-- in the transaction that inserts the records, kept when retention drops the records, and
-- filled here from the daily roll-up of a database shipped before it existed.
CREATE TABLE sharing_monthly (
    month          date   NOT NULL, -- the first day of the month, in Beijing time
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
    PRIMARY KEY (month, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome)
);

INSERT INTO sharing_monthly
SELECT date_trunc('month', day)::date, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome,
       sum(n), sum(bytes_released)
FROM sharing_daily
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
