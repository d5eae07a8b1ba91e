-- Mail notifications (issue 16): each form's receipt template (empty: the
-- default), and the queue of mails to send. Mails are written by the events
-- outbox in the transaction that claims the event.
ALTER TABLE forms ADD COLUMN receipt_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE forms ADD COLUMN receipt_body TEXT NOT NULL DEFAULT '';

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    -- receipt, admin_paid, admin_refunded, admin_review.
    kind            TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    order_id        TEXT,
    -- pending, sent or failed (the retries are over, or refused for good).
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_at);
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);
