//! A direct read path into the SQLite file for the queries that return many rows (the visits
//! behind yield, OEE, the live summaries and the line pages). sqlx-sqlite runs each connection
//! on a worker thread and hands every row over a channel: measured on a shift of the phone line
//! (6,281 visit rows), 22 ms in the `sqlite3` shell, ~230 ms through sea-orm, with the profile
//! dominated by channel wake-ups and per-value allocations. rusqlite decodes rows in place.
//!
//! Read-only connections, pooled (a few, opened on demand), each with the same page cache as
//! the sqlx readers; WAL lets them read while the writer commits. Must never write.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How many idle connections are kept.
const IDLE: usize = 4;

/// Read-only rusqlite connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// The file of a `sqlite://PATH?…` URL; `None` for in-memory databases (no second connection
/// can see them) and anything else.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:") && !rest.contains("mode=memory")).then(|| PathBuf::from(path))
}

impl SqliteReader {
    /// A reader of the file at `path` (connections open on first use).
    pub(crate) fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self { path, idle: Mutex::new(Vec::new()) })
    }

    fn connection(&self) -> Result<Connection, rusqlite::Error> {
        if let Some(c) = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop() {
            return Ok(c);
        }
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        c.pragma_update(None, "cache_size", super::SQLITE_CACHE_PRAGMA)?;
        Ok(c)
    }

    /// Runs `read` on a pooled connection off the async threads. Dropping the returned future
    /// (a client that went away) interrupts the query: SQLite stops at its next step instead
    /// of reading on for nobody.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        operation: &'static str,
        read: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let me = self.clone();
        let c = self.connection().map_err(|source| StoreError::Sqlite { operation, source })?;
        let interrupt = InterruptOnDrop { handle: Some(c.get_interrupt_handle()), operation };
        let outcome = tokio::task::spawn_blocking(move || {
            let out = read(&c);
            let mut idle = me.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < IDLE {
                idle.push(c);
            }
            out
        })
        .await;
        interrupt.disarm();
        match outcome {
            Ok(result) => result.map_err(|source| StoreError::Sqlite { operation, source }),
            Err(join) => Err(StoreError::Sqlite {
                operation,
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some(format!("the read task ended: {join}")),
                ),
            }),
        }
    }
}

/// Interrupts a running read when dropped before [`InterruptOnDrop::disarm`].
struct InterruptOnDrop {
    handle: Option<rusqlite::InterruptHandle>,
    operation: &'static str,
}

impl InterruptOnDrop {
    fn disarm(mut self) {
        self.handle = None;
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.interrupt();
            metrics::counter!(crate::telemetry::WORK_ABANDONED, "work" => self.operation).increment(1);
        }
    }
}

/// An instant as SQLite holds it: sqlx writes RFC 3339 with as many fractional digits as
/// needed (`SecondsFormat::AutoSi`), and comparisons are textual, so bounds must be written the
/// same way.
pub(crate) fn instant(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// Parses an instant written by sqlx.
pub(crate) fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, rusqlite::Error> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_have_a_path_and_memory_ones_none() {
        assert_eq!(sqlite_path("sqlite:///tmp/x/mes.sqlite?mode=rwc"), Some(PathBuf::from("/tmp/x/mes.sqlite")));
        assert_eq!(sqlite_path("sqlite://mes-data/mes.sqlite?mode=rwc"), Some(PathBuf::from("mes-data/mes.sqlite")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn instants_are_written_as_sqlx_writes_them() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T23:44:58.553530Z").unwrap().to_utc();
        assert_eq!(instant(t), "2026-12-01T23:44:58.553530+00:00");
        assert_eq!(parse_instant(&instant(t)).unwrap(), t);
        let whole = chrono::DateTime::parse_from_rfc3339("2026-12-01T23:44:58Z").unwrap().to_utc();
        assert_eq!(instant(whole), "2026-12-01T23:44:58+00:00");
    }
}
