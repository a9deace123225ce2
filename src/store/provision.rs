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
    sea_orm::sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(StoreError::sqlx("creating a database"))?;
    Ok(with_database(admin_url, name))
}

/// Drops database `name`, disconnecting its sessions.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let mut conn = admin(admin_url).await?;
    sea_orm::sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut conn)
        .await
        .map_err(StoreError::sqlx("dropping a database"))?;
    Ok(())
}

/// Tables the service changes rows of after inserting them, and how: unit status, hold
/// release, closing a state interval (the database lets it close once, nothing more), master
/// data re-registered from a profile, users and their sessions, a line's lease epoch (raised
/// by each new holder). Every other table is SELECT
/// and INSERT only: recorded production rows and the ledger are append-only for the service
/// whatever the triggers say.
pub const SERVICE_MUTATES: [(&str, &str); 12] = [
    ("units", "UPDATE"),
    ("holds", "UPDATE"),
    ("state_intervals", "UPDATE"),
    ("lines", "UPDATE"),
    ("stations", "UPDATE"),
    ("products", "UPDATE"),
    ("defect_codes", "UPDATE"),
    ("repair_action_codes", "UPDATE"),
    ("fault_reasons", "UPDATE"),
    ("users", "UPDATE"),
    ("sessions", "UPDATE, DELETE"),
    ("line_leases", "UPDATE"),
];

/// Makes `role` the least-privileged login the service runs as on the database of
/// `owner_url` (the owner that migrates connects with it): it may log in, read every table,
/// insert rows, and change only what [`SERVICE_MUTATES`] names. It is no superuser, cannot
/// create databases, roles or tables, replicate or bypass row security, and, owning no table,
/// cannot alter a table or disable a trigger. Run again after every migration (new tables);
/// `password` sets or changes its password (none: peer, certificate or trust authentication).
pub async fn grant_service_role(owner_url: &str, role: &str, password: Option<&str>) -> Result<(), StoreError> {
    check_name(role)?;
    let mut conn = admin(owner_url).await?;
    let run = |sql: String| sea_orm::sqlx::query(AssertSqlSafe(sql));
    let failed = StoreError::sqlx("granting the service role");
    let exists: bool = sea_orm::sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(role)
        .fetch_one(&mut conn)
        .await
        .map_err(failed)?;
    if !exists {
        run(format!("CREATE ROLE {role} LOGIN")).execute(&mut conn).await.map_err(failed)?;
    }
    run(format!("ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"))
        .execute(&mut conn)
        .await
        .map_err(failed)?;
    if let Some(pw) = password {
        // A literal, quoted the SQL way: ALTER ROLE takes no bind parameters.
        let quoted = pw.replace('\'', "''");
        run(format!("ALTER ROLE {role} PASSWORD '{quoted}'")).execute(&mut conn).await.map_err(failed)?;
    }
    let database: String =
        sea_orm::sqlx::query_scalar("SELECT current_database()").fetch_one(&mut conn).await.map_err(failed)?;
    check_name(&database)?;
    let tables: Vec<String> = sea_orm::sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(failed)?;
    let mut statements = vec![
        format!("GRANT CONNECT ON DATABASE {database} TO {role}"),
        format!("REVOKE CREATE ON SCHEMA public FROM {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ];
    for table in &tables {
        check_name(table)?;
        let rights = match table.as_str() {
            // The migrations table is the owner's: the service only reads what was applied.
            "seaql_migrations" => "SELECT".to_owned(),
            t => match SERVICE_MUTATES.iter().find(|(name, _)| *name == t) {
                Some((_, more)) => format!("SELECT, INSERT, {more}"),
                None => "SELECT, INSERT".to_owned(),
            },
        };
        statements.push(format!("GRANT {rights} ON {table} TO {role}"));
    }
    for sql in statements {
        run(sql).execute(&mut conn).await.map_err(failed)?;
    }
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
