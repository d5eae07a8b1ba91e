-- Daily reconciliation against the providers' bills (issue 15): one run per
-- receiving account, provider and Beijing day (run again, it is replaced),
-- the discrepancies it found, and the provider's fee of each line it read.
CREATE TABLE bill_runs (
    id                TEXT PRIMARY KEY,
    -- The receiving account's id; '' for the one configured by the environment.
    account_key       TEXT NOT NULL,
    provider          TEXT NOT NULL,
    -- YYYY-MM-DD, Beijing time.
    bill_date         TEXT NOT NULL,
    -- matched | discrepancies | no_bill | not_ready | failed
    status            TEXT NOT NULL,
    bill_payments     BIGINT NOT NULL DEFAULT 0,
    bill_refunds      BIGINT NOT NULL DEFAULT 0,
    matched           BIGINT NOT NULL DEFAULT 0,
    discrepancies     BIGINT NOT NULL DEFAULT 0,
    ours_paid_fen     BIGINT NOT NULL DEFAULT 0,
    ours_refunded_fen BIGINT NOT NULL DEFAULT 0,
    bill_paid_fen     BIGINT NOT NULL DEFAULT 0,
    bill_refunded_fen BIGINT NOT NULL DEFAULT 0,
    fee_fen           BIGINT NOT NULL DEFAULT 0,
    error             TEXT,
    ran_at            BIGINT NOT NULL,
    UNIQUE (account_key, provider, bill_date)
);
CREATE TABLE bill_discrepancies (
    id            TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL,
    -- unknown_payment | not_paid_here | amount_mismatch | missing_from_bill
    -- | unknown_refund | refund_mismatch | refund_missing_from_bill
    kind          TEXT NOT NULL,
    out_trade_no  TEXT NOT NULL,
    out_refund_no TEXT,
    order_id      TEXT,
    ours_fen      BIGINT,
    bill_fen      BIGINT,
    detail        TEXT NOT NULL
);
CREATE INDEX bill_discrepancies_run ON bill_discrepancies (run_id);
CREATE INDEX bill_discrepancies_order ON bill_discrepancies (order_id);
CREATE TABLE bill_fees (
    run_id   TEXT NOT NULL,
    -- out_trade_no of a payment, out_refund_no of a refund.
    line_key TEXT NOT NULL,
    order_id TEXT,
    fee_fen  BIGINT NOT NULL,
    PRIMARY KEY (run_id, line_key)
);
CREATE INDEX bill_fees_order ON bill_fees (order_id);
