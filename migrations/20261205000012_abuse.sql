-- Abuse control (风控, issue 16): a blocklist of phone numbers and addresses,
-- and who each submission is from (a SHA-256 of the payer's phone number,
-- never the number; erased with the answers), for the per-payer daily limits.
CREATE TABLE blocklist (
    -- phone (11 digits) or address (an IP address or a CIDR block).
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);

ALTER TABLE submissions ADD COLUMN payer_digest TEXT;
CREATE INDEX submissions_payer_day ON submissions (payer_digest, created_at);

-- When each kind of alert was last raised (one instance raises it, then
-- none for a while).
CREATE TABLE alerts (
    kind    TEXT PRIMARY KEY,
    last_at BIGINT NOT NULL
);
