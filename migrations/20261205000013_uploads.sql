-- Uploads (issue 16): files payers upload for a form's upload field, stored
-- under UPLOAD_DIR by id; attached to their submission when it is stored,
-- marked gone when its answers are erased (the file is then deleted), and
-- deleted a day after upload if never attached.
CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    form_id       TEXT NOT NULL,
    field_key     TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    submission_id TEXT,
    gone          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX uploads_submission ON uploads (submission_id);
CREATE INDEX uploads_sweep ON uploads (gone, created_at);
