-- Reconciliation (issue 15): what the fund flow bill (资金账单) says the day's
-- payments and refunds moved in the basic account, fees included; NULL where
-- the provider has no fund flow bill or it was not read.
ALTER TABLE bill_runs ADD COLUMN fund_net_fen BIGINT;
