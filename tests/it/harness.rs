//! Test harness: a fresh store per test on every backend we can reach.
//!
//! SQLite always, in its own temp folder. PostgreSQL when `MES_TEST_DATABASE_URL` is set (as
//! `.ci/run` does): each test gets a database of its own, created here and dropped by
//! `cleanup`, so runs never see each other's rows. Without the variable the PostgreSQL half is
//! skipped with a loud notice — except under CI, where its absence fails the test.

use std::sync::atomic::{AtomicU32, Ordering};

use mes::store::{Store, sqlite_url};
use sea_orm::sqlx::{Connection, PgConnection};

/// A database made for one test.
pub enum TestDb {
    /// SQLite file in a temp folder (removed on drop).
    Sqlite { dir: tempfile::TempDir, url: String },
    /// A PostgreSQL database created for this test.
    Postgres { admin_url: String, name: String, url: String },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// One fresh database per reachable backend.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        match std::env::var("MES_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => dbs.push(TestDb::postgres(&url).await),
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but MES_TEST_DATABASE_URL is not: the PostgreSQL half of the store tests would not run"
                );
                eprintln!(
                    "\n*** PostgreSQL store tests SKIPPED: MES_TEST_DATABASE_URL is not set \
                     (e.g. postgres://postgres@127.0.0.1:5432/postgres) ***\n"
                );
            }
        }
        dbs
    }

    /// A fresh SQLite database.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir.path().join("mes.sqlite"));
        TestDb::Sqlite { dir, url }
    }

    async fn postgres(admin_url: &str) -> TestDb {
        let name = format!(
            "mes_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let mut admin = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("MES_TEST_DATABASE_URL={admin_url} is set but unreachable: {e}"));
        sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = with_database(admin_url, &name);
        TestDb::Postgres { admin_url: admin_url.to_owned(), name, url }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    /// "sqlite" or "postgres", for assertion messages.
    pub fn label(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }

    /// A connected, migrated store on it.
    pub async fn store(&self) -> Store {
        Store::connect(self.url()).await.unwrap_or_else(|e| panic!("{}: {e}", self.label()))
    }

    /// The SQLite temp folder (for CLI tests).
    pub fn dir(&self) -> Option<&std::path::Path> {
        match self {
            TestDb::Sqlite { dir, .. } => Some(dir.path()),
            TestDb::Postgres { .. } => None,
        }
    }

    /// Drops the PostgreSQL database; the SQLite folder goes on drop.
    pub async fn cleanup(self, store: Store) {
        drop(store);
        if let TestDb::Postgres { admin_url, name, .. } = self {
            let mut admin = PgConnection::connect(&admin_url).await.unwrap();
            sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[test]
fn database_names_are_swapped_in_urls() {
    assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
    assert_eq!(with_database("postgres://u@h/postgres?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
