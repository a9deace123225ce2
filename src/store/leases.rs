//! Line ownership for several collecting processes on one PostgreSQL: a line is held as a
//! session-level advisory lock on a connection taken out of the pool for it, so the lock ends
//! with the holder — at once when its process dies (the server sees the socket close), within
//! about 11 s when its host or network does (server-side TCP keepalives set on the session).
//! The connection's `application_name` names the holder, so any process can say who owns a
//! line. A SQLite store belongs to one process: every claim is [`Claim::Sole`].
//!
//! Each claim also sets the line's lease epoch (`line_leases`): raised when a process other
//! than the last holder claims it, kept when the same process claims it again (after the
//! database was away). A commit naming an epoch ([`Fence`]) is refused once the line's epoch
//! moved on, inside the commit's transaction: the row lock it takes makes a claim wait for a
//! commit under the old epoch to end, so the new holder resumes from a store that holds it.

use futures_util::future::BoxFuture;
use sea_orm::sqlx::{Connection as _, PgConnection};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::sql::{get, raw};
use super::{Backend, Store, StoreError};
use crate::acquisition::sink::{Claim, Lease, LineLeases, SinkError};
use crate::domain::ids::LineId;
use crate::domain::record::Fence;

/// First key of every MES advisory lock (`'MES'` in ASCII), so they never meet another
/// application's locks on the same database; the second is `hashtext(line code)`.
const LOCK_CLASS: i32 = 0x004D_4553;

/// How long after the database server starts only returning holders may claim a line: several
/// of their claim rounds (every 2 s), so one that kept collecting through the outage gets its
/// line back before a standby could.
pub const RETURN_GRACE: std::time::Duration = std::time::Duration::from_secs(12);

impl LineLeases for Store {
    fn claim<'a>(
        &'a self,
        line: &'a LineId,
        holder: &'a str,
        returning: bool,
    ) -> BoxFuture<'a, Result<Claim, SinkError>> {
        Box::pin(async move {
            if self.backend == Backend::Sqlite {
                return Ok(Claim::Sole);
            }
            let failed = |e| SinkError::from(StoreError::sqlx("claiming a line")(e));
            let mut conn = self.writer.get_postgres_connection_pool().acquire().await.map_err(failed)?;
            if !returning {
                // A server that restarted lately: a holder that rode the outage out on its
                // outbox may be about to return; let it (it claims every 2 s).
                let up: f64 = sea_orm::sqlx::query_scalar(
                    "SELECT extract(epoch FROM now() - pg_postmaster_start_time())::float8",
                )
                .fetch_one(&mut *conn)
                .await
                .map_err(failed)?;
                if up < RETURN_GRACE.as_secs_f64() {
                    tracing::debug!(line = %line, up_s = up, "the database restarted lately; leaving the line to its last holder a moment");
                    return Ok(Claim::Taken { owner: None });
                }
            }
            let got: bool = sea_orm::sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(LOCK_CLASS)
                .bind(line.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err(failed)?;
            if !got {
                drop(conn);
                return Ok(Claim::Taken { owner: self.line_owners().await?.remove(line.as_str()) });
            }
            // The lock lives with this session: it leaves the pool for good, named after its
            // holder, and the server drops it (and the lock) soon after the holder goes silent.
            let mut conn = conn.detach();
            let epoch: i64 = sea_orm::sqlx::query_scalar(
                "INSERT INTO line_leases (line_id, epoch, holder, claimed_at) \
                 SELECT id, 1, $2, now() FROM lines WHERE code = $1 \
                 ON CONFLICT (line_id) DO UPDATE SET \
                 epoch = CASE WHEN line_leases.holder = EXCLUDED.holder THEN line_leases.epoch ELSE line_leases.epoch + 1 END, \
                 holder = EXCLUDED.holder, claimed_at = EXCLUDED.claimed_at \
                 RETURNING epoch",
            )
            .bind(line.as_str())
            .bind(holder)
            .fetch_one(&mut conn)
            .await
            .map_err(failed)?;
            sea_orm::sqlx::query(
                "SELECT set_config('application_name', $1, false), set_config('tcp_keepalives_idle', '5', false), \
                 set_config('tcp_keepalives_interval', '2', false), set_config('tcp_keepalives_count', '3', false)",
            )
            .bind(holder)
            .execute(&mut conn)
            .await
            .map_err(failed)?;
            tracing::info!(line = %line, holder, epoch, "line claimed");
            Ok(Claim::Held(Box::new(PgLease { conn: Some(conn), epoch })))
        })
    }
}

impl Store {
    /// Who holds each held line (line code → holder), for pages and readiness checks of any
    /// process; empty on SQLite, whose one process is the sole collector. Only this database's
    /// locks count: another plant's database on the same server has lines of the same codes.
    pub async fn line_owners(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Default::default());
        }
        let sql = "SELECT ln.code, a.application_name FROM lines ln \
             JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
             AND l.classid = $1::int4::oid AND l.objid = hashtext(ln.code)::oid \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             JOIN pg_stat_activity a ON a.pid = l.pid";
        let rows: Vec<(String, String)> = sea_orm::sqlx::query_as(sql)
            .bind(LOCK_CLASS)
            .fetch_all(self.db.get_postgres_connection_pool())
            .await
            .map_err(StoreError::sqlx("reading line owners"))?;
        Ok(rows.into_iter().collect())
    }

    /// Whether `fence`'s line is still held under its epoch, checked in the transaction `txn`
    /// (the row stays share-locked until `txn` ends, so no claim raises the epoch meanwhile).
    /// A batch of numbered records under an older epoch is refused ([`StoreError::Fenced`]).
    pub(super) async fn check_fence(&self, txn: &DatabaseTransaction, fence: &Fence) -> Result<bool, StoreError> {
        let lock = if self.backend == Backend::Postgres { " FOR SHARE OF ll" } else { "" };
        let sql = format!(
            "SELECT ll.epoch AS epoch FROM line_leases ll JOIN lines ln ON ln.id = ll.line_id WHERE ln.code = $1{lock}"
        );
        let row = txn
            .query_one_raw(raw(txn.get_database_backend(), &sql, vec![fence.line.as_str().into()]))
            .await
            .map_err(StoreError::db("checking a line's lease"))?;
        let current = row.map(|r| get::<i64>(&r, "epoch")).transpose()?;
        if current == Some(fence.epoch) {
            return Ok(true);
        }
        if fence.numbered {
            tracing::warn!(line = %fence.line, epoch = fence.epoch, current, "records numbered under a lease another process took over are refused");
            return Err(StoreError::Fenced { line: fence.line.to_string(), epoch: fence.epoch, current });
        }
        tracing::info!(line = %fence.line, epoch = fence.epoch, current, "states and counter samples taken under a lease another process took over are left out");
        Ok(false)
    }
}

/// A line held on its own PostgreSQL session.
struct PgLease {
    /// `None` once the session failed: the lock may be gone, and stays given up.
    conn: Option<PgConnection>,
    /// The line's lease epoch this claim set.
    epoch: i64,
}

impl Lease for PgLease {
    fn epoch(&self) -> i64 {
        self.epoch
    }

    fn holds(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let Some(conn) = self.conn.as_mut() else { return false };
            let alive = tokio::time::timeout(std::time::Duration::from_secs(3), conn.ping()).await;
            if !matches!(alive, Ok(Ok(()))) {
                // Closing is best effort: a dead session ends on the server by itself.
                self.conn = None;
                return false;
            }
            true
        })
    }
}

impl Drop for PgLease {
    fn drop(&mut self) {
        // Ending the session releases the lock; a graceful close where a runtime is at hand.
        if let Some(conn) = self.conn.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = conn.close().await;
            });
        }
    }
}
