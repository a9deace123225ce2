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

/// The PostgreSQL admin URL tests make their databases with (`MES_TEST_DATABASE_URL`); `None`
/// with a loud notice when it is not set, and a failure under CI, where it must be.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("MES_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but MES_TEST_DATABASE_URL is not: the PostgreSQL half of the store tests would not run"
            );
            eprintln!(
                "\n*** PostgreSQL tests SKIPPED: MES_TEST_DATABASE_URL is not set \
                 (e.g. postgres://postgres@127.0.0.1:5432/postgres) ***\n"
            );
            None
        }
    }
}

impl TestDb {
    /// One fresh database per reachable backend.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        if let Some(url) = postgres_admin_url() {
            dbs.push(TestDb::postgres(&url).await);
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

/// A PostgreSQL server of a test's own — `initdb` into a temp folder, a free port, the
/// machine's `pg_ctl` — so a chaos test can stop it, kill it with SIGKILL and start it again
/// without touching the shared server. Run as the `postgres` user when the tests run as root
/// (PostgreSQL refuses root). Stopped (immediately) and removed on drop.
pub struct OwnPostgres {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    log: std::path::PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl OwnPostgres {
    /// A new server, started; `None` with a loud notice where the machine has no PostgreSQL
    /// server programs (under CI their absence fails the test).
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|versions| {
            versions.filter_map(Result::ok).map(|v| v.path().join("bin")).filter(|b| b.join("pg_ctl").exists()).max()
        });
        let Some(bin) = bin else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but no PostgreSQL server programs (pg_ctl) are installed"
            );
            eprintln!("\n*** chaos test SKIPPED: no /usr/lib/postgresql/*/bin/pg_ctl on this machine ***\n");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if Self::as_root() {
            let uid = |flag: &str| -> u32 {
                let out = std::process::Command::new("id").args([flag, "postgres"]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).trim().parse().expect("a postgres user")
            };
            std::os::unix::fs::chown(&data, Some(uid("-u")), Some(uid("-g"))).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = Self { bin, log: data.join("server.log"), data, port, _dir: dir };
        let out = pg
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&pg.data)
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.start_again();
        Some(pg)
    }

    fn as_root() -> bool {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
    }

    /// A PostgreSQL program, as the `postgres` user when the tests run as root.
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if Self::as_root() {
            let mut cmd = std::process::Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            std::process::Command::new(path)
        }
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections. After a SIGKILL its
    /// orphaned backends may hold the shared memory a moment: retried until they are gone.
    pub fn start_again(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.data.display());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let out = self
                .command("pg_ctl")
                .args(["-w", "-t", "30", "-D"])
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .args(["-o", &options, "start"])
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pg_ctl start: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// Stops the server the polite way (`pg_ctl stop -m fast`: sessions ended, a checkpoint).
    pub fn stop(&self) {
        let out = self.command("pg_ctl").args(["-w", "-m", "fast", "-D"]).arg(&self.data).arg("stop").output().unwrap();
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Kills the server's postmaster with SIGKILL (no shutdown, no checkpoint: crash recovery
    /// at the next start).
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_owned();
        let status = std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        assert!(status.success(), "kill -KILL {pid}");
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-m", "immediate", "-D"]).arg(&self.data).arg("stop").output();
    }
}
