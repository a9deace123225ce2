//! The relational store: SQLite embedded by default, PostgreSQL for scale, through sea-orm.
//!
//! Owns: connecting and tuning, migrating, the batch writer (the only path by which production
//! records enter the database), master data registration and the read queries (units, traces,
//! station results).
//!
//! Must never: be bypassed by other modules (this is the only module that imports sea_orm), or
//! return from a write before the transaction has committed: acquisition acknowledges records
//! to PLCs on the strength of that return.

pub mod bench;
mod changes;
mod entities;
mod equipment;
mod error;
mod holds;
mod kpi;
mod leases;
mod ledger;
mod lots;
mod outbox;
mod provision;
mod results;
mod sink;
mod sql;
mod sqlite_read;
mod states;
mod trace;
mod users;
mod validation;
mod writer;

use std::collections::HashMap;
use std::time::Duration;

use mes_migrations::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use tokio::sync::{Mutex, RwLock};

pub use crate::domain::record::{CommitReceipt, RecordBatch};
pub use changes::{Announced, Change, ChangeFeed, CommitSnapshot};
pub use error::StoreError;
pub use holds::HoldPlaced;
pub use ledger::{RecordHash, StoredCheckpoint, StoredEntry};
pub use outbox::{OUTBOX_FILE, Outbox, Quarantined, StoreAndForward};
pub use provision::{SERVICE_MUTATES, create_database, drop_database, grant_service_role, with_database};
pub use results::{PlantExtent, StationResultFilter, StoredResult};
pub use trace::{BackwardTrace, ForwardTrace, LastSeen, TracedUnit, UnitView, VisitView};
pub use users::StoredSession;

use crate::domain::equipment::StationKind;

/// The most rows one read of visits, state intervals or counter samples may return: about
/// 150 MB of decoded rows, a year of a busy line's visits. Beyond it the read stops at the
/// limit (the database does no more work than that) and fails with
/// [`StoreError::TooMuchData`], so no request or command can exhaust the machine.
pub const MAX_READ_ROWS: usize = 1_000_000;

/// The most genealogy edges one trace may walk (a reel feeding 100,000 phones is about
/// 110,000): beyond it the trace fails with [`StoreError::TooMuchData`].
pub const MAX_TRACE_EDGES: usize = 500_000;

/// Fails with [`StoreError::TooMuchData`] when a read stopped at `limit + 1` rows.
pub(crate) fn within_limit<T>(rows: Vec<T>, what: &'static str, limit: usize) -> Result<Vec<T>, StoreError> {
    if rows.len() > limit { Err(StoreError::TooMuchData { what, limit }) } else { Ok(rows) }
}

/// SQLite page cache per connection, in KiB (negative = KiB in SQLite's pragma): 64 MiB instead
/// of the 2 MiB default keeps the hot index pages of a busy line in memory.
pub const SQLITE_CACHE_PRAGMA: &str = "-65536";

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Ids of master data, cached because they never change once written (master rows are never
/// deleted), so the writer resolves codes without a round trip.
#[derive(Debug, Default)]
struct MasterIds {
    /// (kind, code) → id of lines, products and work orders
    codes: HashMap<(MasterKind, String), i64>,
    /// (line code, station code) → (station id, kind)
    stations: HashMap<(String, String), (i64, StationKind)>,
}

/// Master data known by a plant-wide code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MasterKind {
    Line,
    Product,
    WorkOrder,
}

/// A connected, migrated store.
pub struct Store {
    /// Readers (and master data lookups).
    db: DatabaseConnection,
    /// The connection production writes go through (see [`Store::open`]).
    writer: DatabaseConnection,
    backend: Backend,
    /// Serialises this process's writers, so they queue instead of contending for SQLite's
    /// single write lock (IMMEDIATE transactions handle other processes).
    write_lock: Mutex<()>,
    ids: RwLock<MasterIds>,
    /// The direct read path for large reads (SQLite files only).
    sqlite_reader: Option<std::sync::Arc<sqlite_read::SqliteReader>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and applies pending
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::open(url).await?;
        store.migrate_up().await?;
        Ok(store)
    }

    /// Connects to `url` without migrating (for `mes migrate`, which reports what it applies).
    ///
    /// SQLite is tuned for one writer and concurrent readers: WAL journal, a 5 s busy timeout,
    /// foreign keys on, and `synchronous = FULL`. FULL makes every commit durable across power
    /// loss (the WAL is fsynced before COMMIT returns); NORMAL would survive a process crash but
    /// could lose the last commits on power loss, and those records would already have been
    /// acknowledged to — and dropped by — the PLCs. Batching amortises the fsync.
    ///
    /// On SQLite every write goes through one dedicated connection: a connection's page cache
    /// is discarded whenever *another* connection has written, so rotating writes over a pool
    /// would start every batch with a cold cache (measured: the writer ran at half speed).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let backend = backend_of(url)?;
        let connect = |max: u32| async move {
            let mut options = ConnectOptions::new(url.to_owned());
            options
                .sqlx_logging(false)
                .acquire_timeout(Duration::from_secs(30))
                .max_connections(max)
                .min_connections(1);
            if backend == Backend::Sqlite {
                options.map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(5))
                        .foreign_keys(true)
                        .create_if_missing(true)
                        .pragma("cache_size", SQLITE_CACHE_PRAGMA)
                });
            } else {
                // No JIT: a recursive walk's size is unknowable to the planner, which guesses
                // costs in the millions for a 22-row trace and then spends 50–130 ms compiling
                // the statement (measured in BENCHMARKS.md); the MES's statements are short.
                options.map_sqlx_postgres_opts(|o| o.options([("jit", "off")]));
            }
            Database::connect(options).await.map_err(|source| StoreError::Connect { url: redact(url), source })
        };
        let (db, writer) = match backend {
            Backend::Sqlite => (connect(4).await?, connect(1).await?),
            Backend::Postgres => {
                let db = connect(10).await?;
                (db.clone(), db)
            }
        };
        tracing::debug!(url = %redact(url), ?backend, "store connected");
        let sqlite_reader = match backend {
            Backend::Sqlite => sqlite_read::sqlite_path(url).map(sqlite_read::SqliteReader::new),
            Backend::Postgres => None,
        };
        Ok(Self {
            db,
            writer,
            backend,
            write_lock: Mutex::new(()),
            ids: RwLock::new(MasterIds::default()),
            sqlite_reader,
        })
    }

    /// Closes every connection now (a dropped store closes them in the background), so another
    /// program may open the SQLite file exclusively.
    pub async fn close(self) -> Result<(), StoreError> {
        let (db, writer) = (self.db, self.writer);
        writer.close().await.map_err(StoreError::db("closing the writer"))?;
        db.close().await.map_err(StoreError::db("closing the store"))
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Rolls every migration back (used by the migration round-trip test and `mes migrate
    /// --down`-style maintenance), then clears the id cache.
    pub async fn migrate_down_all(&self) -> Result<(), StoreError> {
        self.migrate_down(None).await
    }

    /// Rolls the newest `steps` migrations back (all: `None`), then clears the id cache. A
    /// migration that cannot be undone without losing meaning (lots that only their material
    /// tells apart) refuses, naming why.
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), StoreError> {
        mes_migrations::Migrator::down(&self.db, steps).await.map_err(|source| StoreError::Migrate { source })?;
        *self.ids.write().await = MasterIds::default();
        Ok(())
    }

    /// Forgets every cached master-data id, so the next lookups read the database (after it
    /// was found to have lost rows the cache names).
    pub async fn forget_master_ids(&self) {
        *self.ids.write().await = MasterIds::default();
    }

    /// Applies pending migrations; returns how many were applied. When none is pending it
    /// writes nothing (the migrator would create its table "if not exists", which a
    /// least-privileged service role may not even try), so the service starts under its own
    /// role on a store its owner migrated.
    pub async fn migrate_up(&self) -> Result<usize, StoreError> {
        if self.all_migrations_applied().await {
            return Ok(0);
        }
        let pending = mes_migrations::Migrator::get_pending_migrations(&self.db)
            .await
            .map_err(|source| StoreError::Migrate { source })?
            .len();
        mes_migrations::Migrator::up(&self.db, None).await.map_err(|source| StoreError::Migrate { source })?;
        Ok(pending)
    }

    /// Whether every migration this build knows is recorded as applied (read only; any doubt
    /// is "no", and the migrator decides).
    async fn all_migrations_applied(&self) -> bool {
        use mes_migrations::MigratorTrait as _;
        use sea_orm::ConnectionTrait as _;
        let known: std::collections::BTreeSet<String> =
            mes_migrations::Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
        let statement = sea_orm::Statement::from_string(self.sea_backend(), "SELECT version FROM seaql_migrations");
        match self.db.query_all_raw(statement).await {
            Ok(rows) => {
                let applied: std::collections::BTreeSet<String> =
                    rows.iter().filter_map(|r| r.try_get::<String>("", "version").ok()).collect();
                known.is_subset(&applied)
            }
            Err(_) => false,
        }
    }

    /// Names of the tables that exist, sorted (for tests and `mes migrate` output).
    pub async fn table_names(&self) -> Result<Vec<String>, StoreError> {
        sql::table_names(&self.db, self.backend).await
    }

    fn sea_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        }
    }
}

/// Now, at the precision the store keeps instants (microseconds), so a value written and read
/// back compares equal.
pub fn truncate_now() -> chrono::DateTime<chrono::Utc> {
    writer::truncate_to_micros(chrono::Utc::now())
}

/// Which engine a database URL names, or an error naming the URL.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl { url: redact(url) })
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The SQLite URL of a database file, creating it if missing.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

impl Store {
    /// Row count of every table, by name (for `mes migrate`/demo summaries and tests).
    pub async fn row_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        use sea_orm::ConnectionTrait;
        let mut out = std::collections::BTreeMap::new();
        for table in self.table_names().await? {
            // Table names come from the catalogue, never from input.
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            let row = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(self.sea_backend(), sql))
                .await
                .map_err(StoreError::db("counting rows"))?;
            let n = row.map(|r| sql::get::<i64>(&r, "n")).transpose()?.unwrap_or(0);
            out.insert(table, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// Runs SQL statements as they are, outside any batch. A maintenance hook for operators and
    /// tests (e.g. installing a fault-injection trigger); production code never calls it.
    pub async fn execute_maintenance_sql(&self, sql: &str) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        self.db.execute_unprepared(sql).await.map_err(StoreError::db("maintenance SQL"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("postgres://mes:s3cret@db:5432/mes"), "postgres://mes:***@db:5432/mes");
        assert_eq!(redact("postgres://mes@db/mes"), "postgres://mes@db/mes");
        assert_eq!(redact("sqlite://./mes-data/mes.sqlite?mode=rwc"), "sqlite://./mes-data/mes.sqlite?mode=rwc");
    }

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(backend_of("sqlite://x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgresql://h/db").ok(), Some(Backend::Postgres));
        assert!(matches!(backend_of("mysql://h/db"), Err(StoreError::UnsupportedUrl { .. })));
    }
}
