//! Commits announced to every process (PostgreSQL `LISTEN`/`NOTIFY`): each write that moves the
//! change marker (records, state intervals, holds) sends a notification inside its own
//! transaction, so it is delivered when, and only if, the transaction commits; a web process
//! listens and recomputes its live view when one arrives, instead of polling the marker. After
//! its listening connection was lost it is told so and catches up from the marker it last saw.
//! SQLite has no other process to tell: there the live view polls the marker.
//!
//! Each notification carries the instant it was sent (Unix milliseconds, the database server's
//! clock just before its transaction commits), so a web process can tell how long a commit took
//! to reach its clients.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::{Backend, Store, StoreError};

/// The channel commits are announced on.
const CHANNEL: &str = "mes_changes";

/// What woke a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Another (or this) process committed a change, at this instant (Unix milliseconds; `None`
    /// from a writer older than the instant in the payload).
    Committed(Option<i64>),
    /// The listening connection was lost and made again (or cannot be made yet):
    /// notifications may have been missed, so re-read the change marker.
    Resumed,
}

/// A listener for commits of any process.
pub struct ChangeFeed {
    listener: PgListener,
}

impl ChangeFeed {
    /// Waits for the next change, or for a reason to catch up.
    pub async fn next(&mut self) -> Change {
        match self.listener.try_recv().await {
            Ok(Some(n)) => Change::Committed(n.payload().parse().ok()),
            Ok(None) => Change::Resumed,
            Err(e) => {
                // The database is away: the caller re-reads the marker now and then until it
                // answers again (the listener reconnects on the next call).
                tracing::warn!(error = %e, "listening for commits failed; retrying in 1 s");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                Change::Resumed
            }
        }
    }

    /// The commit instants of the announcements already received, without waiting: a burst
    /// of commits is taken at once.
    pub fn buffered(&mut self) -> impl Iterator<Item = Option<i64>> + '_ {
        std::iter::from_fn(|| self.listener.next_buffered()).map(|n| n.payload().parse().ok())
    }
}

impl Store {
    /// A feed of every process's commits; `None` on SQLite (poll [`Store::change_marker`]).
    pub async fn change_feed(&self) -> Result<Option<ChangeFeed>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(None);
        }
        let failed = |e: sea_orm::sqlx::Error| StoreError::Db {
            operation: "listening for commits",
            source: sea_orm::DbErr::Custom(e.to_string()),
        };
        let mut listener = PgListener::connect_with(self.db.get_postgres_connection_pool()).await.map_err(failed)?;
        listener.listen(CHANNEL).await.map_err(failed)?;
        Ok(Some(ChangeFeed { listener }))
    }

    /// Announces the change `txn` makes to every listening process, on its commit, with the
    /// instant (see the module doc).
    pub(super) async fn announce(&self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(());
        }
        txn.execute_unprepared(
            "SELECT pg_notify('mes_changes', floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text)",
        )
        .await
        .map_err(StoreError::db("announcing a commit"))?;
        Ok(())
    }
}
