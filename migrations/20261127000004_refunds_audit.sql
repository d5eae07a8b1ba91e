-- Refunds, their accounting on the order, and the administrators' audit log.

-- Money asked back and not yet settled (processing, or abnormal and waiting for
-- a person at the provider): it cannot be refunded a second time.
ALTER TABLE orders ADD COLUMN refund_reserved_fen BIGINT NOT NULL DEFAULT 0;

-- The administrators' orders list (newest first) and the income statistics.
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_paid ON orders (paid_at);

CREATE TABLE refunds (
    id             TEXT PRIMARY KEY,
    order_id       TEXT NOT NULL REFERENCES orders (id),
    -- Sent to the provider: unique per merchant, reused on every retry.
    out_refund_no  TEXT NOT NULL UNIQUE,
    -- The administrator's request, so that a double submit makes one refund.
    request_key    TEXT NOT NULL UNIQUE,
    provider       TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    status         TEXT NOT NULL,          -- processing | succeeded | closed | abnormal
    refund_id      TEXT,
    failure        TEXT,
    created_by     TEXT NOT NULL,
    next_check_at  BIGINT NOT NULL,
    check_attempts BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    settled_at     BIGINT
);

CREATE INDEX refunds_order ON refunds (order_id, created_at);
CREATE INDEX refunds_status_check ON refunds (status, next_check_at);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    admin_id    TEXT NOT NULL,
    admin_email TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL
);

CREATE INDEX audit_log_created ON audit_log (created_at);
