//! User accounts: created or updated by `mes user add` and the demo, read at login. The password
//! hash is opaque here (hashing lives at the web boundary) and never leaves the store and web.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::sql::{get, raw};
use super::{Store, StoreError};
use crate::domain::user::{Role, User};

impl Store {
    /// Creates the user, or gives an existing one a new password hash and role (and enables
    /// it): then every session the user had ends, as a changed password must end them.
    pub async fn upsert_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let sql = "INSERT INTO users (username, password_hash, role, disabled, created_at) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, \
                   disabled = excluded.disabled";
        let values = vec![username.into(), password_hash.into(), role.as_str().into(), false.into(), at.into()];
        txn.execute_raw(raw(self.sea_backend(), sql, values)).await.map_err(StoreError::db("saving a user"))?;
        revoke_all(&txn, self.sea_backend(), username, "password or role changed", at).await?;
        txn.commit().await.map_err(StoreError::db("committing a user"))
    }

    /// A user and its password hash, for checking a login; `None` for an unknown name.
    pub async fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        let sql = "SELECT username, password_hash, role, disabled FROM users WHERE username = $1";
        let row = self
            .db
            .query_one_raw(raw(self.sea_backend(), sql, vec![username.into()]))
            .await
            .map_err(StoreError::db("reading a user"))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((user_of(&row)?, get(&row, "password_hash")?)))
    }
}

/// A login session as the store keeps it (see migration 4): whose, until when, whether it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The user, with the role and disabled flag it has now (not when it logged in).
    pub user: User,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was ended (logout, password change, user disabled), if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl StoredSession {
    /// Whether a request carrying it may proceed at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && !self.user.disabled && self.expires_at > now
    }
}

impl Store {
    /// Records a new session `id` of `username` until `expires_at`; sessions expired for a day
    /// are purged on the way (each login adds a row).
    pub async fn create_session(
        &self,
        id: &str,
        username: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let backend = self.sea_backend();
        let (_writer, txn) = self.begin_write().await?;
        let sql = "INSERT INTO sessions (id, user_id, created_at, expires_at) \
                   SELECT $1, id, $3, $4 FROM users WHERE username = $2";
        let done = txn
            .execute_raw(raw(backend, sql, vec![id.into(), username.into(), at.into(), expires_at.into()]))
            .await
            .map_err(StoreError::db("recording a session"))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::UnknownUser { username: username.to_owned() });
        }
        let purge = "DELETE FROM sessions WHERE expires_at < $1";
        txn.execute_raw(raw(backend, purge, vec![(at - chrono::Duration::days(1)).into()]))
            .await
            .map_err(StoreError::db("purging expired sessions"))?;
        txn.commit().await.map_err(StoreError::db("committing a session"))
    }

    /// The session `id` with its user as the user is now; `None` if there is no such session.
    pub async fn session(&self, id: &str) -> Result<Option<StoredSession>, StoreError> {
        let sql = "SELECT u.username, u.role, u.disabled, s.expires_at, s.revoked_at \
                   FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1";
        let row = self
            .db
            .query_one_raw(raw(self.sea_backend(), sql, vec![id.into()]))
            .await
            .map_err(StoreError::db("reading a session"))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredSession {
            user: user_of(&row)?,
            expires_at: get(&row, "expires_at")?,
            revoked_at: get(&row, "revoked_at")?,
        }))
    }

    /// Ends session `id` (a logout); whether it was live.
    pub async fn revoke_session(&self, id: &str, why: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let sql = "UPDATE sessions SET revoked_at = $2, revoked_why = $3 WHERE id = $1 AND revoked_at IS NULL";
        let (_writer, txn) = self.begin_write().await?;
        let done = txn
            .execute_raw(raw(self.sea_backend(), sql, vec![id.into(), at.into(), why.into()]))
            .await
            .map_err(StoreError::db("ending a session"))?;
        txn.commit().await.map_err(StoreError::db("committing a logout"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every live session of `username` (password changed, user disabled, "log out
    /// everywhere"); how many.
    pub async fn revoke_user_sessions(&self, username: &str, why: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let n = revoke_all(&txn, self.sea_backend(), username, why, at).await?;
        txn.commit().await.map_err(StoreError::db("committing ended sessions"))?;
        Ok(n)
    }

    /// Disables (or enables) `username`; disabling ends every session of the user at once.
    /// Whether the user exists.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let done = txn
            .execute_raw(raw(
                self.sea_backend(),
                "UPDATE users SET disabled = $2 WHERE username = $1",
                vec![username.into(), disabled.into()],
            ))
            .await
            .map_err(StoreError::db("disabling a user"))?;
        if disabled {
            revoke_all(&txn, self.sea_backend(), username, "user disabled", at).await?;
        }
        txn.commit().await.map_err(StoreError::db("committing a user"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Every user (without password hashes), by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = self
            .db
            .query_all_raw(raw(
                self.sea_backend(),
                "SELECT username, role, disabled FROM users ORDER BY username",
                vec![],
            ))
            .await
            .map_err(StoreError::db("reading users"))?;
        rows.iter().map(user_of).collect()
    }
}

/// A user from a row with `username`, `role` and `disabled`.
fn user_of(row: &sea_orm::QueryResult) -> Result<User, StoreError> {
    let role: String = get(row, "role")?;
    let role = Role::parse(&role).ok_or(StoreError::Corrupt { table: "users", column: "role", value: role })?;
    Ok(User { username: get(row, "username")?, role, disabled: get(row, "disabled")? })
}

async fn revoke_all(
    txn: &sea_orm::DatabaseTransaction,
    backend: sea_orm::DbBackend,
    username: &str,
    why: &str,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let sql = "UPDATE sessions SET revoked_at = $2, revoked_why = $3 \
               WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE username = $1)";
    let done = txn
        .execute_raw(raw(backend, sql, vec![username.into(), at.into(), why.into()]))
        .await
        .map_err(StoreError::db("ending a user's sessions"))?;
    Ok(done.rows_affected())
}
