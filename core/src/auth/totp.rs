//! Two-factor login with time-based one-time codes (RFC 6238, the codes of
//! any authenticator app) and one-time recovery codes. The secret is sealed
//! under the master key like a merchant key; a code works once (the last
//! time step used is kept), and a recovery code is kept only as its SHA-256.

use super::{now_ms, token_hash, Db};
use crate::accounts::vault::{aad, Vault};
use anyhow::Context;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Seconds per code.
const STEP: u64 = 30;
/// Recovery codes handed out when two-factor login is turned on.
pub const RECOVERY_CODES: usize = 10;
/// The issuer an authenticator app shows beside the code.
const ISSUER: &str = "FormPay";

/// Why two-factor login cannot be set up or changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TwoFactorError {
    /// Without a master key no secret can be stored safely.
    #[error("two-factor login needs APP_MASTER_KEY to be set")]
    NoMasterKey,
    #[error("the code is wrong or has been used")]
    WrongCode,
    #[error("start the set-up again")]
    NotStarted,
}

fn sealed_as(admin_id: &str) -> String {
    aad(admin_id, "admin-totp")
}

fn totp(secret: Vec<u8>, account: &str) -> anyhow::Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret,
        Some(ISSUER.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| anyhow::anyhow!("bad TOTP parameters: {e}"))
}

/// The steps a code may belong to now (one either side, for clock drift).
fn steps_now() -> [u64; 3] {
    let step = (now_ms().max(0) as u64 / 1000) / STEP;
    [step.saturating_sub(1), step, step + 1]
}

/// The step `code` belongs to, if it is a valid code for a step after
/// `last_step`.
fn matching_step(t: &TOTP, code: &str, last_step: i64) -> Option<u64> {
    let code = code.trim().replace(' ', "");
    steps_now().into_iter().find(|s| {
        i64::try_from(*s).is_ok_and(|s| s > last_step)
            && t.generate(s * STEP)
                .as_bytes()
                .ct_eq(code.as_bytes())
                .into()
    })
}

/// What an authenticator app needs: the otpauth URI (shown as a QR code)
/// and the secret in base32 (typed by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorSetup {
    pub uri: String,
    pub secret_base32: String,
}

/// Starts setting up two-factor login: a new secret, kept aside until a code
/// from it confirms that the app has it.
pub async fn begin_two_factor(
    db: &Db,
    vault: Option<&Vault>,
    admin_id: &str,
    email: &str,
) -> anyhow::Result<Result<TwoFactorSetup, TwoFactorError>> {
    let Some(vault) = vault else {
        return Ok(Err(TwoFactorError::NoMasterKey));
    };
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let t = totp(secret.clone(), email)?;
    let sealed = vault.seal(&sealed_as(admin_id), &secret)?;
    sqlx::query("UPDATE admins SET totp_pending_sealed = $1 WHERE id = $2")
        .bind(sealed)
        .bind(admin_id)
        .execute(&db.pool)
        .await
        .context("cannot keep the new secret")?;
    Ok(Ok(TwoFactorSetup {
        uri: t.get_url(),
        secret_base32: t.get_secret_base32(),
    }))
}

/// Confirms the set-up with a code from the app: two-factor login is on, and
/// here are the recovery codes (shown once).
pub async fn confirm_two_factor(
    db: &Db,
    vault: Option<&Vault>,
    admin_id: &str,
    email: &str,
    code: &str,
) -> anyhow::Result<Result<Vec<String>, TwoFactorError>> {
    let Some(vault) = vault else {
        return Ok(Err(TwoFactorError::NoMasterKey));
    };
    let (pending,): (Option<String>,) =
        sqlx::query_as("SELECT totp_pending_sealed FROM admins WHERE id = $1")
            .bind(admin_id)
            .fetch_one(&db.pool)
            .await
            .context("cannot read the administrator")?;
    let Some(pending) = pending else {
        return Ok(Err(TwoFactorError::NotStarted));
    };
    let Ok(secret) = vault.open(&sealed_as(admin_id), &pending) else {
        return Ok(Err(TwoFactorError::NotStarted));
    };
    let Some(step) = matching_step(&totp(secret, email)?, code, 0) else {
        return Ok(Err(TwoFactorError::WrongCode));
    };
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let done = sqlx::query("UPDATE admins SET totp_sealed = totp_pending_sealed, totp_pending_sealed = NULL, totp_last_step = $1 WHERE id = $2 AND totp_pending_sealed = $3")
        .bind(step as i64)
        .bind(admin_id)
        .bind(&pending)
        .execute(&mut *tx)
        .await
        .context("cannot turn on two-factor login")?;
    if done.rows_affected() != 1 {
        return Ok(Err(TwoFactorError::NotStarted));
    }
    sqlx::query("DELETE FROM admin_recovery_codes WHERE admin_id = $1")
        .bind(admin_id)
        .execute(&mut *tx)
        .await
        .context("cannot replace the recovery codes")?;
    for c in &codes {
        sqlx::query("INSERT INTO admin_recovery_codes (admin_id, code_hash) VALUES ($1, $2)")
            .bind(admin_id)
            .bind(token_hash(&normalise_recovery(c)))
            .execute(&mut *tx)
            .await
            .context("cannot store a recovery code")?;
    }
    tx.commit()
        .await
        .context("cannot commit two-factor login")?;
    Ok(Ok(codes))
}

/// Turns two-factor login off (the administrator with a current code, or an
/// owner for someone who lost their phone).
pub async fn clear_two_factor(db: &Db, admin_id: &str) -> anyhow::Result<bool> {
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let done = sqlx::query("UPDATE admins SET totp_sealed = NULL, totp_pending_sealed = NULL WHERE id = $1 AND totp_sealed IS NOT NULL")
        .bind(admin_id)
        .execute(&mut *tx)
        .await
        .context("cannot turn off two-factor login")?;
    sqlx::query("DELETE FROM admin_recovery_codes WHERE admin_id = $1")
        .bind(admin_id)
        .execute(&mut *tx)
        .await
        .context("cannot delete the recovery codes")?;
    tx.commit().await.context("cannot commit")?;
    Ok(done.rows_affected() == 1)
}

/// Whether `code` is a current, unused code of this administrator's
/// authenticator, or one of their unused recovery codes (then used up).
pub async fn check_login_code(
    db: &Db,
    vault: Option<&Vault>,
    admin_id: &str,
    sealed: &str,
    code: &str,
) -> anyhow::Result<bool> {
    if code.len() > 64 {
        return Ok(false);
    }
    let digits = code.trim().replace(' ', "");
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Without the key that sealed it the secret cannot be read: no code
        // is right (a recovery code still is).
        let Some(secret) = vault.and_then(|v| v.open(&sealed_as(admin_id), sealed).ok()) else {
            tracing::error!(admin = %admin_id, "the two-factor secret cannot be opened with the master key");
            return Ok(false);
        };
        let (last,): (i64,) = sqlx::query_as("SELECT totp_last_step FROM admins WHERE id = $1")
            .bind(admin_id)
            .fetch_one(&db.pool)
            .await
            .context("cannot read the administrator")?;
        let Some(step) = matching_step(&totp(secret, "")?, &digits, last) else {
            return Ok(false);
        };
        // Compare-and-set: two logins racing with one code, one wins.
        let done = sqlx::query(
            "UPDATE admins SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step as i64)
        .bind(admin_id)
        .execute(&db.pool)
        .await
        .context("cannot note the code as used")?;
        return Ok(done.rows_affected() == 1);
    }
    let used = sqlx::query(
        "UPDATE admin_recovery_codes SET used_at = $1 WHERE admin_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now_ms())
    .bind(admin_id)
    .bind(token_hash(&normalise_recovery(code)))
    .execute(&db.pool)
    .await
    .context("cannot use a recovery code")?;
    if used.rows_affected() == 1 {
        tracing::warn!(admin = %admin_id, "signed in with a recovery code");
    }
    Ok(used.rows_affected() == 1)
}

/// Whether this administrator has two-factor login on, and how many unused
/// recovery codes they have left.
pub async fn two_factor_status(db: &Db, admin_id: &str) -> anyhow::Result<(bool, i64)> {
    let (sealed,): (Option<String>,) =
        sqlx::query_as("SELECT totp_sealed FROM admins WHERE id = $1")
            .bind(admin_id)
            .fetch_one(&db.pool)
            .await
            .context("cannot read the administrator")?;
    let (left,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM admin_recovery_codes WHERE admin_id = $1 AND used_at IS NULL",
    )
    .bind(admin_id)
    .fetch_one(&db.pool)
    .await
    .context("cannot count the recovery codes")?;
    Ok((sealed.is_some(), left))
}

/// `xxxx-xxxx-xxxx` from an alphabet without look-alikes.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The code of a base32 secret for the time step `offset` steps from now
/// (0: what an authenticator app shows now); for tests and scripts.
pub fn code_for(secret_base32: &str, offset: i64) -> anyhow::Result<String> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("not a base32 secret: {e:?}"))?;
    let step = steps_now()[1].saturating_add_signed(offset);
    Ok(totp(secret, "")?.generate(step * STEP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_once_and_only_with_its_secret() {
        let t = totp(vec![7u8; 20], "a@b.example").expect("totp");
        let now = steps_now()[1];
        let code = t.generate(now * STEP);
        assert_eq!(matching_step(&t, &code, 0), Some(now));
        assert_eq!(matching_step(&t, &code, now as i64), None, "used once");
        let other = totp(vec![8u8; 20], "a@b.example").expect("totp");
        assert_ne!(other.generate(now * STEP), code);
        assert_eq!(matching_step(&t, "12345", 0), None);
        assert!(t.get_url().starts_with("otpauth://totp/FormPay:"));
    }

    #[test]
    fn the_published_rfc_6238_vector_holds() {
        // RFC 6238, appendix B: SHA-1, secret "12345678901234567890", T = 59 s.
        let t = TOTP::new_unchecked(
            Algorithm::SHA1,
            8,
            1,
            30,
            b"12345678901234567890".to_vec(),
            None,
            String::new(),
        );
        assert_eq!(t.generate(59), "94287082");
        assert_eq!(t.generate(1111111109), "07081804");
    }

    #[test]
    fn recovery_codes_are_random_and_typed_loosely() {
        let a = recovery_code();
        assert_eq!(a.len(), 14);
        assert_ne!(a, recovery_code());
        assert_eq!(
            normalise_recovery(&a.to_uppercase().replace('-', " ")),
            normalise_recovery(&a)
        );
    }
}
