-- Every call to a provider and every callback from one, redacted: never a
-- key, never a full signature.
CREATE TABLE payment_log (
    id           TEXT PRIMARY KEY,
    created_at   BIGINT NOT NULL,
    provider     TEXT NOT NULL,
    operation    TEXT NOT NULL,
    direction    TEXT NOT NULL,
    out_trade_no TEXT,
    status_code  BIGINT,
    latency_ms   BIGINT NOT NULL,
    request      TEXT NOT NULL,
    response     TEXT NOT NULL,
    error        TEXT
);

CREATE INDEX payment_log_out_trade_no ON payment_log (out_trade_no, created_at);
CREATE INDEX payment_log_created_at ON payment_log (created_at);
