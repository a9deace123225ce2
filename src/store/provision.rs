//! Creating and dropping whole PostgreSQL databases: for per-test databases, benchmarks and
//! operators provisioning a plant. SQLite needs none of this (a file is created on connect).

use sea_orm::sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::{StoreError, redact};

/// `url` with its database name replaced (`postgres://u@h/postgres` → `postgres://u@h/NAME`).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    match query {
        Some(q) => format!("{}/{name}?{q}", &base[..path_start]),
        None => format!("{}/{name}", &base[..path_start]),
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok { Ok(()) } else { Err(StoreError::BadDatabaseName { name: name.to_owned() }) }
}

async fn admin(admin_url: &str) -> Result<PgConnection, StoreError> {
    PgConnection::connect(admin_url).await.map_err(|e| StoreError::Connect {
        url: redact(admin_url),
        source: sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string())),
    })
}

/// Creates database `name` (lower-case letters, digits, `_`) on the server of `admin_url` and
/// returns its URL.
pub async fn create_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    check_name(name)?;
    let mut conn = admin(admin_url).await?;
    sea_orm::sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.map_err(|e| {
        StoreError::Db { operation: "creating a database", source: sea_orm::DbErr::Custom(e.to_string()) }
    })?;
    Ok(with_database(admin_url, name))
}

/// Drops database `name`, disconnecting its sessions.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let mut conn = admin(admin_url).await?;
    sea_orm::sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut conn)
        .await
        .map_err(|e| StoreError::Db {
            operation: "dropping a database",
            source: sea_orm::DbErr::Custom(e.to_string()),
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h/postgres?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }

    #[test]
    fn only_plain_names_reach_sql() {
        assert!(check_name("mes_test_1").is_ok());
        for bad in ["", "x; DROP DATABASE y", "Upper", "1abc", "a-b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
