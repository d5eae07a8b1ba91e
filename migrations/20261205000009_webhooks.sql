-- Webhooks (issue 16): a form's endpoints, their deliveries, and the outbox
-- marks on the rows that become events (NULL: not looked at yet).
CREATE TABLE webhook_endpoints (
    id            TEXT PRIMARY KEY,
    form_id       TEXT NOT NULL REFERENCES forms (id),
    url           TEXT NOT NULL,
    -- The signing secret (whsec_…), sealed under the master key.
    secret_sealed TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_form ON webhook_endpoints (form_id);

CREATE TABLE webhook_deliveries (
    -- The message id (`webhook-id`): the same on every try.
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- pending, delivered or failed (the retries are over).
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- What happened before this version is not sent.
ALTER TABLE submissions ADD COLUMN webhooked_at BIGINT;
UPDATE submissions SET webhooked_at = created_at;
CREATE INDEX submissions_webhook_pending ON submissions (created_at) WHERE webhooked_at IS NULL;
ALTER TABLE order_events ADD COLUMN webhooked_at BIGINT;
UPDATE order_events SET webhooked_at = created_at;
CREATE INDEX order_events_webhook_pending ON order_events (created_at) WHERE webhooked_at IS NULL;
