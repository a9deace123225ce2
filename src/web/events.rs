//! `/events`: server-sent events for the live pages. Each event is the whole state of every
//! line (`event: summary`, its `id` the Unix milliseconds it was published), sent on connect (once the first is computed) and then whenever the live view
//! recomputes it; a comment line every 15 s keeps proxies from closing an idle stream. The
//! browser's `EventSource` reconnects by itself after a server restart.

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
    web::Bytes::from(format!("event: summary\nid: {}\ndata: {}\n\n", snapshot.published_ms, snapshot.json))
}

/// Counts a connected client in `/metrics` while it lives.
struct Client;

impl Client {
    fn connect() -> Self {
        metrics::gauge!(crate::telemetry::EVENT_CLIENTS).increment(1.0);
        Client
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        metrics::gauge!(crate::telemetry::EVENT_CLIENTS).decrement(1.0);
    }
}

/// The stream: the latest summary, then every new one (a lagging client skips to the newest).
pub async fn events(req: HttpRequest, state: web::Data<WebState>) -> Result<HttpResponse, ApiError> {
    if !state.kiosk && session_of(&req).await.is_none() {
        return Err(ApiError::Unauthorized);
    }
    let mut rx = state.live.subscribe();
    rx.mark_changed();
    // The newest summary now, then each newer one; a slow client skips to the newest.
    let start = (rx, Client::connect());
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
