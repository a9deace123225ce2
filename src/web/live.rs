//! Live figures: one task per web process watches the store's change marker (a few `MAX(id)`s)
//! and, when it moves (or every [`REFRESH`] for time-based figures), brings the line summaries
//! up to date once (reading only what changed: [`crate::figures::kept`]), keeps them typed for the pages and serialised once for `/api/v1/summary`,
//! and pushes the JSON to every `/events` client. Many clients cost one computation; a slow client only misses snapshots
//! it would have replaced anyway (each event is the whole state, and a watch keeps only the newest).
//!
//! Reading the store (not the collectors' memory) makes a web process in front of a shared
//! PostgreSQL see what any collector process committed. There every commit is announced
//! ([`crate::store::ChangeFeed`]), so the marker is read when something committed, at most every
//! [`POLL`], and again after the listening connection was lost (catching up on whatever it
//! missed); on SQLite it is read every [`POLL`].
//!
//! Must never: compute figures (that is [`crate::figures`]), or block a request on the store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::shift::ShiftCalendar;
use crate::figures::kept::KeptSummaries;
use crate::store::{Announced, Change, CommitSnapshot, Store};

/// How often the change marker is read at most (on SQLite: how often it is read).
pub const POLL: Duration = Duration::from_millis(200);
/// Figures that move with the clock (planned time, plan) are recomputed at least this often.
pub const REFRESH: Duration = Duration::from_secs(5);
/// Held-unit counts (a forward trace per active hold) are recomputed when the holds change,
/// and otherwise at most this often while units are produced (new units may contain a held lot).
pub const HELD_REFRESH: Duration = Duration::from_secs(30);

/// The held-unit counts per line, and what they were computed at.
#[derive(Debug, Default)]
struct Held {
    counts: BTreeMap<String, u64>,
    /// The holds' part of the change marker (`None`: never computed).
    holds_marker: Option<Vec<i64>>,
    at: Option<tokio::time::Instant>,
}

impl Held {
    /// Recomputes if the holds changed, or if results moved and the counts are old.
    async fn update(&mut self, store: &Store, marker: &[i64], results_moved: bool) {
        let holds_marker = marker.get(3..).map(<[i64]>::to_vec);
        let active = marker.get(4).copied().unwrap_or(1);
        let stale = self.at.is_none_or(|t| t.elapsed() >= HELD_REFRESH);
        if self.holds_marker.is_some() && self.holds_marker == holds_marker && !(results_moved && stale) {
            return;
        }
        if active == 0 {
            self.counts.clear();
        } else {
            match store.held_units_by_line().await {
                Ok(c) => self.counts = c,
                Err(e) => {
                    tracing::warn!(error = %e, "held units not recounted");
                    return;
                }
            }
        }
        self.holds_marker = holds_marker;
        self.at = Some(tokio::time::Instant::now());
    }
}

/// One computation of every line's summary: typed for the pages, serialised once for
/// `/api/v1/summary` and every `/events` client.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The summaries, in line order.
    pub lines: Vec<crate::figures::LineSummary>,
    /// The same as JSON (an array of `LineSummary`).
    pub json: String,
    /// When it was published (Unix milliseconds): sent as the event id, so a client can tell
    /// how far behind it is.
    pub published_ms: i64,
    /// The oldest commit this summary shows for the first time (Unix milliseconds, as
    /// announced by PostgreSQL); `None` on SQLite or when it shows nothing newly committed.
    pub oldest_commit_ms: Option<i64>,
}

/// Commits announced but not yet shown, so each summary can say how late its oldest new commit
/// reaches the screen: a commit is in the first summary whose read's snapshot shows it.
#[derive(Debug, Default)]
struct Unshown {
    /// Announced commits not yet attributed to a summary.
    pending: Vec<Announced>,
    /// The snapshot of the last read: what it shows is in a summary already.
    last: Option<CommitSnapshot>,
}

impl Unshown {
    fn announced(&mut self, a: Option<Announced>) {
        let Some(a) = a else { return };
        if !self.last.as_ref().is_some_and(|s| s.shows(a.xid)) {
            self.pending.push(a);
        }
    }

    /// A read with `snapshot` begins: the oldest commit it shows for the first time, if it
    /// leads to a `published` summary (else what it shows was all in the summary already out).
    fn read(&mut self, snapshot: Option<CommitSnapshot>, published: bool) -> Option<i64> {
        let snapshot = snapshot?;
        let oldest = self.pending.iter().filter(|a| snapshot.shows(a.xid)).map(|a| a.at_ms).min();
        self.pending.retain(|a| !snapshot.shows(a.xid));
        self.last = Some(snapshot);
        oldest.filter(|_| published)
    }
}

/// Work done at most once per published summary and key: the requests between two summaries
/// share one computation, which shows the store as of then (at most one refresh old, like the
/// tiles beside it). Keys must be bounded (the lines of the summary), never a client's text.
#[derive(Debug)]
pub struct PerSummary<K, T> {
    cells: std::sync::Mutex<std::collections::HashMap<K, Arc<SummaryCell<T>>>>,
}

/// One key's value and the summary it was computed at; locked while it is computed.
type SummaryCell<T> = tokio::sync::Mutex<Option<(i64, Arc<T>)>>;

impl<K, T> Default for PerSummary<K, T> {
    fn default() -> Self {
        Self { cells: std::sync::Mutex::new(std::collections::HashMap::new()) }
    }
}

impl<K: Eq + std::hash::Hash + Clone, T> PerSummary<K, T> {
    /// The value for `key` computed at summary `published_ms`, or `compute`d now (whoever asks
    /// meanwhile waits for it instead of computing it again). A failure is not kept.
    pub async fn get<E, F>(&self, key: &K, published_ms: i64, compute: impl FnOnce() -> F) -> Result<Arc<T>, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            cells.entry(key.clone()).or_default().clone()
        };
        let mut kept = cell.lock().await;
        if let Some((at, value)) = kept.as_ref()
            && *at == published_ms
        {
            return Ok(value.clone());
        }
        let value = Arc::new(compute().await?);
        *kept = Some((published_ms, value.clone()));
        Ok(value)
    }
}

/// The latest summaries, watched: a reader sees the newest value and is woken when it changes.
#[derive(Debug)]
pub struct Live {
    tx: watch::Sender<Option<Arc<Snapshot>>>,
    /// The line page's figures per line, once per summary.
    pub details: PerSummary<crate::domain::LineId, crate::figures::LineDetail>,
    /// The line page's charts (hourly output, top defects, state timeline, as inline SVG) per
    /// line and language, once per summary.
    pub line_charts: PerSummary<(crate::domain::LineId, crate::present::i18n::Lang), [String; 3]>,
}

impl Default for Live {
    fn default() -> Self {
        Self { tx: watch::channel(None).0, details: PerSummary::default(), line_charts: PerSummary::default() }
    }
}

impl Live {
    /// The latest summaries, waiting for the first.
    pub async fn latest(&self) -> Arc<Snapshot> {
        let mut rx = self.tx.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_default(),
            Err(_) => Arc::default(),
        }
    }

    /// A receiver woken by every new summary.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.tx.subscribe()
    }

    fn publish(&self, lines: Vec<crate::figures::LineSummary>, json: String, oldest_commit_ms: Option<i64>) {
        let published_ms = chrono::Utc::now().timestamp_millis();
        if let Some(at) = oldest_commit_ms {
            let seconds = (published_ms - at).max(0) as f64 / 1000.0;
            metrics::histogram!(crate::telemetry::LIVE_COMMIT_TO_PUBLISH_SECONDS).record(seconds);
        }
        self.tx.send_replace(Some(Arc::new(Snapshot { lines, json, published_ms, oldest_commit_ms })));
    }

    /// Computes the summaries now with these held-unit counts and publishes them, saying the
    /// oldest commit they show for the first time.
    async fn refresh(
        &self,
        kept: &mut KeptSummaries,
        store: &Store,
        calendar: &ShiftCalendar,
        held: &BTreeMap<String, u64>,
        oldest_commit_ms: Option<i64>,
    ) {
        let started = std::time::Instant::now();
        let summaries = kept.summaries(store, calendar, chrono::Utc::now(), held).await;
        metrics::histogram!(crate::telemetry::LIVE_REFRESH_SECONDS).record(started.elapsed().as_secs_f64());
        match summaries {
            Ok(summaries) => match serde_json::to_string(&summaries) {
                Ok(json) => self.publish(summaries, json, oldest_commit_ms),
                Err(e) => tracing::error!(error = %e, "serialising line summaries"),
            },
            Err(e) => tracing::warn!(error = %e, "line summaries not refreshed"),
        }
    }

    /// Watches the store until `stop` turns true.
    pub async fn run(self: Arc<Self>, store: Arc<Store>, calendar: ShiftCalendar, mut stop: watch::Receiver<bool>) {
        let mut feed = match store.change_feed().await {
            Ok(feed) => feed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for commits; polling the store instead");
                None
            }
        };
        let mut marker = store.change_marker().await.unwrap_or_default();
        let mut last = tokio::time::Instant::now();
        let mut looked = last;
        let mut held = Held::default();
        held.update(&store, &marker, true).await;
        let mut kept = KeptSummaries::default();
        self.refresh(&mut kept, &store, &calendar, &held.counts, None).await;
        let mut unshown = Unshown::default();
        loop {
            let wake = async {
                // A burst of commits is looked at once per POLL.
                tokio::time::sleep_until(looked + POLL).await;
                match feed.as_mut() {
                    None => "poll",
                    Some(feed) => tokio::select! {
                        change = feed.next() => match change {
                            Change::Committed(at) => {
                                unshown.announced(at);
                                "notify"
                            }
                            Change::Resumed => "resumed",
                        },
                        () = tokio::time::sleep_until(last + REFRESH) => "clock",
                    },
                }
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                cause = wake => metrics::counter!(crate::telemetry::LIVE_WAKEUPS, "cause" => cause).increment(1),
            }
            looked = tokio::time::Instant::now();
            // Every announcement already here, then the snapshot, taken before the marker: what
            // it shows, the marker and the figures show too.
            let snapshot = match feed.as_mut() {
                Some(feed) => {
                    for at in feed.arrived() {
                        unshown.announced(at);
                    }
                    store.commit_snapshot().await.ok().flatten()
                }
                None => None,
            };
            let now = match store.change_marker().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "live view cannot read the store");
                    continue;
                }
            };
            if now != marker || last.elapsed() >= REFRESH {
                let oldest = unshown.read(snapshot, now != marker);
                held.update(&store, &now, now.first() != marker.first()).await;
                marker = now;
                last = tokio::time::Instant::now();
                self.refresh(&mut kept, &store, &calendar, &held.counts, oldest).await;
                crate::telemetry::prometheus().run_upkeep();
            } else {
                unshown.read(snapshot, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PerSummary, Unshown};

    #[tokio::test]
    async fn work_per_summary_is_done_once_per_summary_and_key_and_a_failure_is_not_kept() {
        let cache: PerSummary<&str, u32> = PerSummary::default();
        let runs = std::sync::atomic::AtomicU32::new(0);
        let compute = |v: u32| {
            let runs = &runs;
            move || async move {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<u32, ()>(v)
            }
        };
        assert_eq!(*cache.get(&"a", 1, compute(10)).await.unwrap(), 10);
        assert_eq!(*cache.get(&"a", 1, compute(11)).await.unwrap(), 10, "the same summary: kept");
        assert_eq!(*cache.get(&"b", 1, compute(20)).await.unwrap(), 20, "another key");
        assert_eq!(*cache.get(&"a", 2, compute(12)).await.unwrap(), 12, "a new summary: computed again");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert!(cache.get(&"c", 2, || async { Err::<u32, &str>("store away") }).await.is_err());
        assert_eq!(*cache.get(&"c", 2, compute(30)).await.unwrap(), 30, "a failure is not kept");
        // Two asking at once: one computes, the other waits for it.
        let (x, y) = tokio::join!(cache.get(&"d", 3, compute(40)), cache.get(&"d", 3, compute(41)));
        assert_eq!((*x.unwrap(), *y.unwrap()), (40, 40));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 5);
    }
    use crate::store::{Announced, CommitSnapshot};

    fn snapshot(text: &str) -> Option<CommitSnapshot> {
        CommitSnapshot::from_text(text)
    }

    #[test]
    fn a_summary_names_the_oldest_commit_it_shows_first_and_each_commit_counts_once() {
        let mut u = Unshown::default();
        let a = |at_ms, xid| Some(Announced { at_ms, xid });
        u.announced(a(100, 10));
        u.announced(a(130, 12));
        u.announced(None);
        // The read sees transaction 10, not 12 (still committing).
        assert_eq!(u.read(snapshot("11:13:12"), true), Some(100));
        // An announcement arriving late for a commit the last read already showed is not new.
        u.announced(a(90, 9));
        assert_eq!(u.read(snapshot("13:13:"), true), Some(130));
        // Nothing new in the summary (the marker did not move): nothing attributed.
        u.announced(a(250, 20));
        assert_eq!(u.read(snapshot("21:21:"), false), None);
        assert_eq!(u.read(snapshot("22:22:"), true), None);
        // Without a snapshot (the database away), nothing is attributed or forgotten.
        u.announced(a(300, 30));
        assert_eq!(u.read(None, true), None);
        assert_eq!(u.read(snapshot("31:31:"), true), Some(300));
    }
}
