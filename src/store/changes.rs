//! Commits announced to every process (PostgreSQL `LISTEN`/`NOTIFY`): each write that moves the
//! change marker (records, state intervals, holds) sends a notification inside its own
//! transaction, so it is delivered when, and only if, the transaction commits; a web process
//! listens and recomputes its live view when one arrives, instead of polling the marker. After
//! its listening connection was lost it is told so and catches up from the marker it last saw.
//! SQLite has no other process to tell: there the live view polls the marker.
//!
//! Each notification carries the instant it was sent (Unix milliseconds, the database server's
//! clock just before its transaction commits) and its transaction id, so a web process can tell
//! which of its reads first showed the commit ([`CommitSnapshot`]) and how long the commit took
//! to reach its clients.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::{Backend, Store, StoreError};

/// The channel commits are announced on.
const CHANNEL: &str = "mes_changes";

/// What woke a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Another (or this) process committed a change (`None` from a writer older than the
    /// payload).
    Committed(Option<Announced>),
    /// The listening connection was lost and made again (or cannot be made yet):
    /// notifications may have been missed, so re-read the change marker.
    Resumed,
}

/// What an announcement says of its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announced {
    /// When it was sent, just before COMMIT (Unix milliseconds, the database server's clock).
    pub at_ms: i64,
    /// The committing transaction.
    pub xid: u64,
}

impl Announced {
    /// Reads a payload `<ms> <xid>`.
    fn parse(payload: &str) -> Option<Self> {
        let (at, xid) = payload.split_once(' ')?;
        Some(Self { at_ms: at.parse().ok()?, xid: xid.parse().ok()? })
    }
}

/// Which transactions a read sees (PostgreSQL's `pg_current_snapshot()`): those below `xmin`,
/// and those below `xmax` not in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSnapshot {
    xmin: u64,
    xmax: u64,
    in_progress: Vec<u64>,
}

impl CommitSnapshot {
    /// Reads `xmin:xmax:xip,…` (the text form of `pg_snapshot`).
    pub fn from_text(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let in_progress =
            parts.next().unwrap_or("").split(',').filter(|x| !x.is_empty()).map(str::parse).collect::<Result<_, _>>();
        Some(Self { xmin, xmax, in_progress: in_progress.ok()? })
    }

    /// Whether a read with this snapshot sees what transaction `xid` committed.
    pub fn shows(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && !self.in_progress.contains(&xid))
    }
}

/// A listener for commits of any process.
pub struct ChangeFeed {
    listener: PgListener,
}

impl ChangeFeed {
    /// Waits for the next change, or for a reason to catch up.
    pub async fn next(&mut self) -> Change {
        match self.listener.try_recv().await {
            Ok(Some(n)) => Change::Committed(Announced::parse(n.payload())),
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

    /// The announcements that have already arrived, without waiting: a burst of commits is
    /// taken at once, so a read that follows knows of every commit announced before it.
    pub fn arrived(&mut self) -> Vec<Option<Announced>> {
        use futures_util::FutureExt;
        let mut out = Vec::new();
        // A receive that would wait is dropped unfinished (receiving is cancel-safe); a lost
        // connection is left for the next `next` to meet and report.
        while let Some(Ok(Some(n))) = self.listener.try_recv().now_or_never() {
            out.push(Announced::parse(n.payload()));
        }
        out
    }
}

impl Store {
    /// A feed of every process's commits; `None` on SQLite (poll [`Store::change_marker`]).
    pub async fn change_feed(&self) -> Result<Option<ChangeFeed>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(None);
        }
        let failed = StoreError::sqlx("listening for commits");
        let mut listener = PgListener::connect_with(self.db.get_postgres_connection_pool()).await.map_err(failed)?;
        listener.listen(CHANNEL).await.map_err(failed)?;
        Ok(Some(ChangeFeed { listener }))
    }

    /// Which commits a read started now sees (`None` on SQLite); a later read sees them too.
    pub async fn commit_snapshot(&self) -> Result<Option<CommitSnapshot>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(None);
        }
        let (text,): (String,) = sea_orm::sqlx::query_as("SELECT pg_current_snapshot()::text")
            .fetch_one(self.db.get_postgres_connection_pool())
            .await
            .map_err(StoreError::sqlx("reading a snapshot"))?;
        Ok(CommitSnapshot::from_text(&text))
    }

    /// Announces the change `txn` makes to every listening process, on its commit, with the
    /// instant (see the module doc).
    pub(super) async fn announce(&self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(());
        }
        txn.execute_unprepared(
            "SELECT pg_notify('mes_changes', \
             floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text || ' ' || pg_current_xact_id()::text)",
        )
        .await
        .map_err(StoreError::db("announcing a commit"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Announced, CommitSnapshot};

    #[test]
    fn an_announcement_and_a_snapshot_are_read_and_a_snapshot_sees_only_finished_transactions() {
        assert_eq!(Announced::parse("1796615128259 7421"), Some(Announced { at_ms: 1796615128259, xid: 7421 }));
        assert_eq!(Announced::parse(""), None, "an older writer's empty payload");
        let s = CommitSnapshot::from_text("100:105:101,103").unwrap();
        assert!(s.shows(99) && s.shows(102) && s.shows(104));
        assert!(!s.shows(101) && !s.shows(103), "in progress");
        assert!(!s.shows(105) && !s.shows(200), "begun after the snapshot");
        assert!(CommitSnapshot::from_text("100:100:").unwrap().shows(99));
        assert_eq!(CommitSnapshot::from_text("garbage"), None);
    }
}
