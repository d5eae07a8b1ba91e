-- Several administrators with roles, invitations, two-factor login and a
-- list of one's sessions (issue 17); a form's privacy notice and the consent
-- each submission records (PIPL).

-- Every administrator of an earlier version kept every power: an owner.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
-- A disabled administrator cannot sign in; their sessions are ended.
ALTER TABLE admins ADD COLUMN disabled_at BIGINT;
-- The TOTP secret, sealed under the master key (NULL: no two-factor login),
-- one being set up and not yet confirmed, and the last time step used (a
-- code works once).
ALTER TABLE admins ADD COLUMN totp_sealed TEXT;
ALTER TABLE admins ADD COLUMN totp_pending_sealed TEXT;
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN last_login_at BIGINT;

-- One-time recovery codes (SHA-256 of each; they are random).
CREATE TABLE admin_recovery_codes (
    admin_id  TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (admin_id, code_hash)
);

-- Where a session was opened from, for the list of one's sessions.
ALTER TABLE admin_sessions ADD COLUMN client_ip TEXT;
ALTER TABLE admin_sessions ADD COLUMN user_agent TEXT;

-- An invitation: a one-time link (stored by its SHA-256) that lets its
-- holder set a password and join with this role.
CREATE TABLE admin_invites (
    token_hash  TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    invited_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- A form's privacy notice (empty: none). Each text a payer agreed to is kept
-- once, by its SHA-256, and the submission names it.
ALTER TABLE forms ADD COLUMN privacy_notice TEXT NOT NULL DEFAULT '';
CREATE TABLE privacy_notices (
    sha256     TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE submissions ADD COLUMN consent_at BIGINT;
ALTER TABLE submissions ADD COLUMN consent_notice TEXT;
