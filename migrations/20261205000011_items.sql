-- Items with stock and per-payer limits (issue 16). An item's stock lives
-- in the form's fields; what pending and paid orders hold of it is counted
-- here, taken with a compare-and-set when an order is created and given back
-- when the order expires or closes (with its place in the form). The same for
-- how many submissions one payer (phone or email) holds of a form.
ALTER TABLE forms ADD COLUMN per_payer_limit BIGINT;

CREATE TABLE item_holds (
    form_id  TEXT NOT NULL,
    item_key TEXT NOT NULL,
    held     BIGINT NOT NULL,
    PRIMARY KEY (form_id, item_key)
);

CREATE TABLE order_items (
    order_id TEXT NOT NULL,
    item_key TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (order_id, item_key)
);

CREATE TABLE payer_holds (
    form_id   TEXT NOT NULL,
    payer_key TEXT NOT NULL,
    held      BIGINT NOT NULL,
    PRIMARY KEY (form_id, payer_key)
);

-- Whose hold an order carries, when its form limits payers: the SHA-256 of
-- the form's id and the payer's phone number (else email), never the number.
ALTER TABLE orders ADD COLUMN payer_key TEXT;

-- Discount codes (优惠码): fixed (fen) or percentage off a form's total, with
-- a usage limit and an expiry. A use is taken when an order is created (a
-- compare-and-set) and given back with the order's other holds.
CREATE TABLE discount_codes (
    id         TEXT PRIMARY KEY,
    form_id    TEXT NOT NULL,
    -- Upper case; payers may type it in any case.
    code       TEXT NOT NULL,
    -- fixed or percent.
    kind       TEXT NOT NULL,
    -- Fen off (fixed) or percent off (1-100).
    value      BIGINT NOT NULL,
    max_uses   BIGINT,
    used       BIGINT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (form_id, code)
);

ALTER TABLE orders ADD COLUMN discount_code_id TEXT;
ALTER TABLE orders ADD COLUMN discount_fen BIGINT NOT NULL DEFAULT 0;

-- How often each form's page was opened (the funnel's first step), counted
-- in memory and added here every few seconds.
CREATE TABLE form_views (
    form_id TEXT PRIMARY KEY,
    views   BIGINT NOT NULL
);
