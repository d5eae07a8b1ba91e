-- Forms, their submissions, payment orders and each order's event log.
CREATE TABLE forms (
    id               TEXT PRIMARY KEY,
    slug             TEXT NOT NULL UNIQUE,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    status           TEXT NOT NULL,          -- draft | published | closed
    fields_json      TEXT NOT NULL,
    opens_at         BIGINT,
    closes_at        BIGINT,
    max_submissions  BIGINT,
    success_message  TEXT NOT NULL,
    submission_count BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE submissions (
    id           TEXT PRIMARY KEY,
    form_id      TEXT NOT NULL REFERENCES forms (id),
    answers_json TEXT NOT NULL,
    -- The answers as one lower-cased text, for search.
    search_text  TEXT NOT NULL,
    amount_fen   BIGINT,
    created_at   BIGINT NOT NULL
);

CREATE INDEX submissions_form ON submissions (form_id, created_at);

CREATE TABLE orders (
    id             TEXT PRIMARY KEY,              -- unguessable, used in public links
    out_trade_no   TEXT NOT NULL UNIQUE,
    submission_id  TEXT NOT NULL REFERENCES submissions (id),
    form_id        TEXT NOT NULL REFERENCES forms (id),
    amount_fen     BIGINT NOT NULL,
    status         TEXT NOT NULL,
    channel        TEXT,
    provider       TEXT,
    pay_target     TEXT,                          -- code_url / QR content / cashier URL
    transaction_id TEXT,
    receipt_token  TEXT NOT NULL UNIQUE,
    refunded_fen   BIGINT NOT NULL DEFAULT 0,
    review_reason  TEXT,
    expires_at     BIGINT NOT NULL,
    paid_at        BIGINT,
    -- Recovery: when the reconciler looks at this order next, and how often it did.
    next_check_at  BIGINT NOT NULL,
    check_attempts BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE INDEX orders_status_check ON orders (status, next_check_at);
CREATE INDEX orders_form ON orders (form_id, created_at);
CREATE INDEX orders_submission ON orders (submission_id);

CREATE TABLE order_events (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    created_at  BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    detail      TEXT NOT NULL
);

CREATE INDEX order_events_order ON order_events (order_id, created_at);
