-- How long personal data is kept (PIPL): a form may keep its answers only so
-- many days after submission. `formpay purge` (and the server, every hour)
-- erases older answers; the orders (the financial records) stay.
ALTER TABLE forms ADD COLUMN retention_days BIGINT;
-- When a submission's answers were erased (NULL: they are kept).
ALTER TABLE submissions ADD COLUMN erased_at BIGINT;
