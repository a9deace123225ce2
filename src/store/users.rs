//! User accounts: created or updated by `mes user add` and the demo, read at login. The password
//! hash is opaque here (hashing lives at the web boundary) and never leaves the store and web.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::sql::{get, raw};
use super::{Store, StoreError};
use crate::domain::user::{Role, User};

impl Store {
    /// Creates the user, or gives an existing one a new password hash and role (and enables it).
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
        let role: String = get(&row, "role")?;
        let role = Role::parse(&role).ok_or(StoreError::Corrupt { table: "users", column: "role", value: role })?;
        let user = User { username: get(&row, "username")?, role, disabled: get(&row, "disabled")? };
        Ok(Some((user, get(&row, "password_hash")?)))
    }
}
