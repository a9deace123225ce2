//! Line ownership for several collecting processes on one PostgreSQL: a line is held as a
//! session-level advisory lock on a connection taken out of the pool for it, so the lock ends
//! with the holder — at once when its process dies (the server sees the socket close), within
//! about 11 s when its host or network does (server-side TCP keepalives set on the session).
//! The connection's `application_name` names the holder, so any process can say who owns a
//! line. A SQLite store belongs to one process: every claim is [`Claim::Sole`].

use futures_util::future::BoxFuture;
use sea_orm::sqlx::{Connection as _, PgConnection};

use super::{Backend, Store, StoreError};
use crate::acquisition::sink::{Claim, Lease, LineLeases, SinkError};
use crate::domain::ids::LineId;

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
            sea_orm::sqlx::query(
                "SELECT set_config('application_name', $1, false), set_config('tcp_keepalives_idle', '5', false), \
                 set_config('tcp_keepalives_interval', '2', false), set_config('tcp_keepalives_count', '3', false)",
            )
            .bind(holder)
            .execute(&mut conn)
            .await
            .map_err(failed)?;
            tracing::info!(line = %line, holder, "line claimed");
            Ok(Claim::Held(Box::new(PgLease { conn: Some(conn) })))
        })
    }
}

impl Store {
    /// Who holds each held line (line code → holder), for pages and readiness checks of any
    /// process; empty on SQLite, whose one process is the sole collector.
    pub async fn line_owners(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Default::default());
        }
        let sql = "SELECT ln.code, a.application_name FROM lines ln \
             JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
             AND l.classid = $1::int4::oid AND l.objid = hashtext(ln.code)::oid \
             JOIN pg_stat_activity a ON a.pid = l.pid";
        let rows: Vec<(String, String)> = sea_orm::sqlx::query_as(sql)
            .bind(LOCK_CLASS)
            .fetch_all(self.db.get_postgres_connection_pool())
            .await
            .map_err(StoreError::sqlx("reading line owners"))?;
        Ok(rows.into_iter().collect())
    }
}

/// A line held on its own PostgreSQL session.
struct PgLease {
    /// `None` once the session failed: the lock may be gone, and stays given up.
    conn: Option<PgConnection>,
}

impl Lease for PgLease {
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
