-- Trust: payment attempts with their own numbers, money received, per-order
-- locks and throttles, idle sessions, security events.

-- One row per provider order made for an order (a "payment attempt"). The
-- first uses the order's out_trade_no, later ones `{out_trade_no}_{seq}`, so
-- that switching method never reuses a number at a provider.
CREATE TABLE payment_attempts (
    id             TEXT PRIMARY KEY,
    order_id       TEXT NOT NULL REFERENCES orders (id),
    seq            BIGINT NOT NULL,
    out_trade_no   TEXT NOT NULL UNIQUE,
    provider       TEXT NOT NULL,
    channel        TEXT NOT NULL,
    pay_target     TEXT,
    -- open | closing (close not confirmed: watched) | closed | failed | paid
    state          TEXT NOT NULL,
    transaction_id TEXT,
    amount_fen     BIGINT NOT NULL,
    paid_at        BIGINT,
    next_check_at  BIGINT NOT NULL,
    check_attempts BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (order_id, seq)
);

CREATE INDEX payment_attempts_watch ON payment_attempts (state, next_check_at);

INSERT INTO payment_attempts (id, order_id, seq, out_trade_no, provider, channel, pay_target, state, transaction_id, amount_fen, paid_at, next_check_at, check_attempts, created_at, updated_at)
SELECT 'a1' || id, id, 1, out_trade_no, provider, channel, pay_target,
       CASE WHEN status IN ('paid', 'refunding', 'partially_refunded', 'refunded', 'needs_review') THEN 'paid'
            WHEN status = 'pending' THEN 'open'
            ELSE 'closed' END,
       transaction_id, amount_fen, paid_at, 0, 0, created_at, updated_at
FROM orders WHERE provider IS NOT NULL AND channel IS NOT NULL;

-- The current attempt (0: none yet); money received (more than the amount
-- when a payer paid twice); the lock that serialises starting a payment; the
-- last time a public caller made us query the provider.
ALTER TABLE orders ADD COLUMN attempt_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN received_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN pay_lock_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN last_query_at BIGINT NOT NULL DEFAULT 0;
-- Whether the order holds one of its form's places (a limited form).
ALTER TABLE orders ADD COLUMN holds_seat BIGINT NOT NULL DEFAULT 1;

UPDATE orders SET attempt_seq = 1 WHERE provider IS NOT NULL AND channel IS NOT NULL;
UPDATE orders SET received_fen = amount_fen
    WHERE status IN ('paid', 'refunding', 'partially_refunded', 'refunded', 'needs_review');
UPDATE orders SET holds_seat = 0 WHERE status IN ('expired', 'closed');
-- Places held: submissions without an order, and orders that hold one.
UPDATE forms SET submission_count =
    (SELECT COUNT(*) FROM submissions s WHERE s.form_id = forms.id
        AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.submission_id = s.id AND o.holds_seat = 0));

-- The attempt a refund goes back through.
ALTER TABLE refunds ADD COLUMN out_trade_no TEXT NOT NULL DEFAULT '';
UPDATE refunds SET out_trade_no = (SELECT o.out_trade_no FROM orders o WHERE o.id = refunds.order_id);

-- Sessions also end after being idle.
ALTER TABLE admin_sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE admin_sessions SET last_seen_at = created_at;

-- Verified messages that tried to change what they may not (a callback signed
-- with one receiving account's keys about another account's order).
CREATE TABLE security_events (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    account_id TEXT,
    detail     TEXT NOT NULL
);

CREATE INDEX security_events_created ON security_events (created_at);
