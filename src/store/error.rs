//! Errors of the store boundary, each naming what and where.

use sea_orm::DbErr;

use crate::domain::record::RecordProblem;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported engine.
    #[error("unsupported database URL {url:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl {
        /// The URL, password redacted.
        url: String,
    },
    /// A database name that is not a plain identifier.
    #[error("database name {name:?} must be lower-case letters, digits and '_', at most 63, not starting with a digit")]
    BadDatabaseName {
        /// The name.
        name: String,
    },
    /// Could not connect.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// Driver error.
        source: DbErr,
    },
    /// A migration failed.
    #[error("migration failed: {source}")]
    Migrate {
        /// Driver error.
        source: DbErr,
    },
    /// A query or statement failed.
    #[error("{operation} failed: {source}")]
    Db {
        /// What the store was doing.
        operation: &'static str,
        /// Driver error.
        source: DbErr,
    },
    /// A read on the direct SQLite path failed.
    #[error("{operation} failed: {source}")]
    Sqlite {
        /// What the store was doing.
        operation: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A result row lacks a column or holds the wrong type in it.
    #[error("reading column {column}: {source}")]
    Column {
        /// Column name.
        column: &'static str,
        /// Driver error.
        source: DbErr,
    },
    /// A record names a line that is not registered.
    #[error("unknown line {line:?}: register it (profiles / master data) before recording")]
    UnknownLine {
        /// Line code.
        line: String,
    },
    /// A record names a station that its line does not have.
    #[error("unknown station {station:?} on line {line:?}")]
    UnknownStation {
        /// Line code.
        line: String,
        /// Station code.
        station: String,
    },
    /// A record names an unknown product.
    #[error("unknown product {product:?}")]
    UnknownProduct {
        /// Product code.
        product: String,
    },
    /// A record names an unknown work order.
    #[error("unknown work order {work_order:?}")]
    UnknownWorkOrder {
        /// Work order code.
        work_order: String,
    },
    /// A record failed validation; the whole batch was rejected and nothing written.
    #[error("record {line}/{station} epoch {epoch} seq {seq} rejected: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidRecord {
        /// Line code.
        line: String,
        /// Station code.
        station: String,
        /// PLC epoch.
        epoch: u32,
        /// PLC sequence.
        seq: u64,
        /// What is wrong.
        problems: Vec<RecordProblem>,
    },
    /// A hold names a unit the MES never recorded.
    #[error("unit {serial:?} is unknown to the MES: nothing to hold")]
    UnknownUnit {
        /// The serial.
        serial: String,
    },
    /// A lot named by its code alone (or with only part of its material) is a lot of more than
    /// one material: suppliers print their own codes, and the MES will not guess which is meant.
    #[error(
        "lot {code:?} is a lot of {} materials ({}); name its part number or supplier",
        candidates.len(),
        candidates.iter().map(|l| l.material().label("no material named")).collect::<Vec<_>>().join("; ")
    )]
    AmbiguousLot {
        /// The code asked for.
        code: String,
        /// Every lot the query matches.
        candidates: Vec<crate::domain::LotId>,
    },
    /// A read would return more rows than one request may hold ([`super::MAX_READ_ROWS`],
    /// [`super::MAX_TRACE_EDGES`]): the caller asked for too much at once.
    #[error(
        "{what} holds more than {limit} rows, more than one request may read; ask for a shorter period or a narrower scope"
    )]
    TooMuchData {
        /// What was being read.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A user name that has no account.
    #[error("no user {username:?}")]
    UnknownUser {
        /// The name.
        username: String,
    },
    /// The outbox of a collector host is full: nothing more is kept (nor acknowledged) until
    /// the central database takes what it holds.
    #[error(
        "the outbox is full ({capacity_bytes} bytes, [outbox] max_kb): records stay in the PLCs until the central database takes the backlog"
    )]
    OutboxFull {
        /// Its capacity.
        capacity_bytes: u64,
    },
    /// The database did not answer a write in time (a stalled link).
    #[error("the database did not answer within {after:?}")]
    NoAnswer {
        /// How long was waited.
        after: std::time::Duration,
    },
    /// What was asked must wait while records kept during a database outage are still being
    /// forwarded: the database does not know them yet (a unit cannot be judged by it, a record
    /// numbered under a line's lease cannot be stored after them).
    #[error("records kept while the database was away are still being forwarded; {what} must wait for them")]
    Forwarding {
        /// What waits.
        what: &'static str,
    },
    /// A batch names a lease of its line that is no longer the current one: another process
    /// took the line over (fencing); nothing was written.
    #[error("line {line} is held under lease epoch {current:?}, not {epoch}: another process took it over")]
    Fenced {
        /// The line.
        line: String,
        /// The epoch the batch named.
        epoch: i64,
        /// The line's current epoch (none: never claimed).
        current: Option<i64>,
    },
    /// A stored value does not parse back (a row written by something other than this store).
    #[error("corrupt stored value in {table}.{column}: {value:?}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// The value.
        value: String,
    },
}

impl StoreError {
    /// Whether the store lacks master data a write needs: an unknown line, station, product or
    /// work order, or a foreign key naming a row that is not there (the database was replaced
    /// under a running writer whose cached ids now point nowhere).
    pub fn is_missing_master_data(&self) -> bool {
        match self {
            StoreError::UnknownLine { .. }
            | StoreError::UnknownStation { .. }
            | StoreError::UnknownProduct { .. }
            | StoreError::UnknownWorkOrder { .. } => true,
            StoreError::Db { source, .. } => {
                matches!(source.sql_err(), Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)))
            }
            _ => false,
        }
    }

    /// Whether the database could not be reached (no connection, a connection lost or timed
    /// out, the server shutting down or starting): worth keeping the write and trying again
    /// later, unlike a write the database refused.
    pub fn is_unavailable(&self) -> bool {
        let (StoreError::Db { source, .. } | StoreError::Connect { source, .. }) = self else {
            return matches!(self, StoreError::NoAnswer { .. });
        };
        let runtime = match source {
            DbErr::ConnectionAcquire(_) => return true,
            DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => r,
            _ => return false,
        };
        let sea_orm::RuntimeErr::SqlxError(e) = runtime else { return false };
        use sea_orm::sqlx::Error as E;
        match e.as_ref() {
            E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
            // SQLSTATE class 08 (connection exception) and 57P (operator intervention:
            // shutting down, starting up).
            E::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }

    /// Whether the database refused for now, not for good: a serialization failure or deadlock
    /// (SQLSTATE 40001, 40P01), a lock not available or a statement cancelled by its timeout
    /// (55P03, 57014), insufficient resources (class 53: disk full, out of memory, too many
    /// connections), SQLite busy or locked. The same write may pass on a later try, so an
    /// outbox entry refused so is never set aside for it.
    pub fn is_transient(&self) -> bool {
        let StoreError::Db { source: DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r), .. } = self else {
            return false;
        };
        let sea_orm::RuntimeErr::SqlxError(e) = r else { return false };
        let sea_orm::sqlx::Error::Database(d) = e.as_ref() else { return false };
        d.code().is_some_and(|c| {
            matches!(c.as_ref(), "40001" | "40P01" | "55P03" | "57014" | "5" | "6" | "261" | "262" | "517")
                || c.starts_with("53")
        })
    }

    /// Wraps a driver error with the operation that hit it.
    pub(crate) fn db(operation: &'static str) -> impl FnOnce(DbErr) -> StoreError {
        move |source| StoreError::Db { operation, source }
    }

    /// Wraps an error of sqlx used directly (PostgreSQL-only statements: locks, listening,
    /// snapshots, provisioning) with the operation that hit it, as [`StoreError::db`] does.
    pub(crate) fn sqlx(operation: &'static str) -> impl Fn(sea_orm::sqlx::Error) -> StoreError + Copy {
        move |e| StoreError::Db { operation, source: DbErr::Custom(e.to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only an unreachable database sends a write to the outbox; a refused write must fail
    /// where it happened, or it would wait in the outbox for ever.
    #[test]
    fn an_unreachable_database_is_told_from_a_refused_write() {
        let db = |source| StoreError::Db { operation: "committing a batch", source };
        let io = || sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let runtime = |e| sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e));
        assert!(db(DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout)).is_unavailable());
        assert!(db(DbErr::Exec(runtime(io()))).is_unavailable());
        assert!(db(DbErr::Conn(runtime(sea_orm::sqlx::Error::PoolClosed))).is_unavailable());
        assert!(StoreError::NoAnswer { after: std::time::Duration::from_secs(10) }.is_unavailable());
        assert!(!db(DbErr::Custom("constraint".into())).is_unavailable());
        assert!(!db(DbErr::Exec(runtime(sea_orm::sqlx::Error::RowNotFound))).is_unavailable());
        assert!(!StoreError::UnknownLine { line: "x".into() }.is_unavailable());
        assert!(!StoreError::OutboxFull { capacity_bytes: 1 }.is_unavailable());
    }
}
