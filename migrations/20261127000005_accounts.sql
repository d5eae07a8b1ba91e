-- Receiving (merchant) accounts kept in the database. Secrets are sealed with
-- AES-256-GCM under APP_MASTER_KEY; identifiers are in clear.
CREATE TABLE merchant_accounts (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,          -- wechat_v3 | wechat_v2 | alipay | simulator
    settings_json  TEXT NOT NULL,
    secrets_sealed TEXT NOT NULL,          -- base64(nonce || ciphertext || tag)
    fingerprint    TEXT NOT NULL,
    enabled        BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- NULL: the account configured through the environment.
ALTER TABLE forms ADD COLUMN account_id TEXT;
ALTER TABLE orders ADD COLUMN account_id TEXT;
