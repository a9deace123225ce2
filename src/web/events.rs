//! `/events`: server-sent events for the live pages. Each event is the whole state of every
//! line (`event: summary`, its `id` the Unix milliseconds it was published), sent on connect (once the first is computed) and then whenever the live view
//! recomputes it; a comment line every 15 s keeps proxies from closing an idle stream. The
//! browser's `EventSource` reconnects by itself after a server restart. On PostgreSQL an event
//! that shows commits for the first time is preceded by a comment `: committed <ms>`, the
//! instant the oldest of them was committed, so a client can measure commit-to-screen latency.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;
use tokio::sync::watch;

use super::WebState;
use super::auth::session_of;
use super::error::ApiError;
use super::live::Snapshot;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn event(snapshot: &Snapshot) -> web::Bytes {
    let committed = snapshot.oldest_commit_ms.map(|ms| format!(": committed {ms}\n")).unwrap_or_default();
    web::Bytes::from(format!("{committed}event: summary\nid: {}\ndata: {}\n\n", snapshot.published_ms, snapshot.json))
}

/// The most `/events` clients one web process serves at once (each holds a connection and a
/// task; 500 wall screens were measured at a worst lag of 114 ms): past it, 503 busy.
pub const MAX_EVENT_CLIENTS: usize = 4_096;

/// Counts a connected client (in `/metrics` and against [`MAX_EVENT_CLIENTS`]) while it lives.
struct Client(Arc<std::sync::atomic::AtomicUsize>);

impl Client {
    fn connect(count: &Arc<std::sync::atomic::AtomicUsize>) -> Option<Self> {
        use std::sync::atomic::Ordering;
        if count.fetch_add(1, Ordering::SeqCst) >= MAX_EVENT_CLIENTS {
            count.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        metrics::gauge!(crate::telemetry::EVENT_CLIENTS).increment(1.0);
        Some(Client(count.clone()))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        metrics::gauge!(crate::telemetry::EVENT_CLIENTS).decrement(1.0);
    }
}

/// The stream: the latest summary, then every new one (a lagging client skips to the newest).
pub async fn events(req: HttpRequest, state: web::Data<WebState>) -> Result<HttpResponse, ApiError> {
    if !state.kiosk && session_of(&req).await.is_none() {
        return Err(ApiError::Unauthorized);
    }
    let client = Client::connect(&state.event_clients).ok_or(ApiError::Busy { retry_after: 30 })?;
    let mut rx = state.live.subscribe();
    rx.mark_changed();
    // The newest summary now, then each newer one; a slow client skips to the newest.
    let start = (rx, client);
    let body = stream::unfold(start, |(mut rx, client): (watch::Receiver<Option<Arc<Snapshot>>>, Client)| async move {
        loop {
            match tokio::time::timeout(KEEP_ALIVE, rx.changed()).await {
                Ok(Ok(())) => {
                    let latest = rx.borrow_and_update().clone();
                    if let Some(snapshot) = latest {
                        return Some((Ok::<_, actix_web::Error>(event(&snapshot)), (rx, client)));
                    }
                }
                Ok(Err(_)) => return None,
                Err(_) => return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), (rx, client))),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_clients_beyond_the_limit_are_refused_and_leaving_frees_a_place() {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(MAX_EVENT_CLIENTS - 1));
        let last = Client::connect(&count).expect("the last place");
        assert!(Client::connect(&count).is_none(), "one too many");
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), MAX_EVENT_CLIENTS);
        drop(last);
        assert!(Client::connect(&count).is_some(), "a client left: its place is free");
    }
}
