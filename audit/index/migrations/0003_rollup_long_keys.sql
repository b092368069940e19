-- A roll-up's key holds texts of the records — an agreement or a resource a consumer named,
-- an error — which may be long: a B-tree row holds at most about 2.7 KB, and one record
-- with a longer value would fail its batch and stop its origin's shipping for good. The
-- roll-ups are unique on those texts' hashes instead (md5: the index's size, not secrecy;
-- two texts of one hash would merge two groups, which verify --db finds as roll-up rows
-- that are not their records' sums).
ALTER TABLE sharing_daily DROP CONSTRAINT sharing_daily_pkey;
CREATE UNIQUE INDEX sharing_daily_key ON sharing_daily (day, origin, kind, md5(consumer_dept), md5(provider_dept),
    md5(pool), md5(resource), md5(agreement), md5(reason), outcome);
ALTER TABLE sharing_monthly DROP CONSTRAINT sharing_monthly_pkey;
CREATE UNIQUE INDEX sharing_monthly_key ON sharing_monthly (month, origin, kind, md5(consumer_dept), md5(provider_dept),
    md5(pool), md5(resource), md5(agreement), md5(reason), outcome);
