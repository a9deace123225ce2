//! Test harness: a fresh store per test on every backend we can reach.
//!
//! SQLite always, in its own temp folder. PostgreSQL when `MES_TEST_DATABASE_URL` is set (as
//! `.ci/run` does): each test gets a database of its own, created here and dropped by
//! `cleanup`, so runs never see each other's rows. Without the variable the PostgreSQL half is
//! skipped with a loud notice — except under CI, where its absence fails the test.

use std::sync::atomic::{AtomicU32, Ordering};

use mes::store::{Store, create_database, drop_database, sqlite_url};

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
        let url = create_database(admin_url, &name)
            .await
            .unwrap_or_else(|e| panic!("MES_TEST_DATABASE_URL={admin_url} is set but unusable: {e}"));
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
            drop_database(&admin_url, &name).await.unwrap();
        }
    }
}

/// A `mes` child process, killed when the test ends, however it ends.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Child {
    /// Spawns `mes serve` as `cmd` says (stdout is taken here) and reads where it serves: the
    /// address of its line "dashboard on http://ADDR/, API on …", as `http://ADDR`.
    pub fn serving(mut cmd: std::process::Command) -> (Child, String) {
        use std::io::BufRead;
        let mut child = Child(cmd.stdout(std::process::Stdio::piped()).spawn().unwrap());
        let out = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let base = out
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("dashboard on ").and_then(|r| r.split('/').nth(2)).map(|a| format!("http://{a}"))
            })
            .expect("mes serve says where it serves");
        (child, base)
    }
}
