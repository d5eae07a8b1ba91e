-- Profit sharing (分账, issue 15): receivers of a receiving account, each
-- form's rule (a share of each payment to each receiver), and each paid
-- payment's split with its lines and what was returned before a refund.
CREATE TABLE share_receivers (
    id           TEXT PRIMARY KEY,
    -- The receiving account's id; '' for the one configured by the environment.
    account_key  TEXT NOT NULL,
    provider     TEXT NOT NULL,
    -- MERCHANT_ID | PERSONAL_OPENID (WeChat's types)
    kind         TEXT NOT NULL,
    -- The receiver's merchant id, or its openid under our app id.
    account      TEXT NOT NULL,
    name         TEXT NOT NULL,
    -- WeChat's relation_type: PARTNER, SUPPLIER, STAFF, …
    relation     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (account_key, provider, kind, account)
);
CREATE TABLE form_shares (
    form_id      TEXT NOT NULL,
    receiver_id  TEXT NOT NULL,
    -- A share in basis points of each payment (1000 = 10 %), or a fixed amount.
    basis_points BIGINT,
    fixed_fen    BIGINT,
    PRIMARY KEY (form_id, receiver_id)
);
CREATE TABLE share_orders (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    -- The payment attempt whose money is split.
    out_trade_no  TEXT NOT NULL UNIQUE,
    account_key   TEXT NOT NULL,
    provider      TEXT NOT NULL,
    -- Our number for the split at the provider.
    out_order_no  TEXT NOT NULL UNIQUE,
    -- awaiting_payment | pending | processing | finished | failed | void
    state         TEXT NOT NULL,
    -- The form's rule when the payment started, as JSON.
    rule_json     TEXT NOT NULL,
    transaction_id TEXT,
    -- The provider's id of the split.
    provider_order_id TEXT,
    amount_fen    BIGINT NOT NULL DEFAULT 0,
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    error         TEXT,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX share_orders_due ON share_orders (state, next_at);
CREATE INDEX share_orders_order ON share_orders (order_id);
CREATE TABLE share_lines (
    share_order_id TEXT NOT NULL,
    receiver_id    TEXT NOT NULL,
    kind           TEXT NOT NULL,
    account        TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL,
    -- PENDING | SUCCESS | CLOSED
    result         TEXT NOT NULL,
    fail_reason    TEXT,
    -- Given back (WeChat return-orders) before refunds.
    returned_fen   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (share_order_id, receiver_id)
);
