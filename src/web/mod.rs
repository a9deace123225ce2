//! The web front, and the only module that imports `actix_web`: the JSON API under `/api/v1`
//! with its OpenAPI document, the pages, live events, auth, `/metrics`, `/healthz`, `/readyz`.
//!
//! Shape (zero2prod's): the caller binds the listener (port 0 in tests), [`Web::build`] wires
//! the app and reports the port, [`Web::run_until_stopped`] serves until the handle stops it.
//!
//! Must never: write production records (that is the collectors' path), or answer a request's
//! mistake with a 500.

pub mod api;
pub use crate::present::{charts, i18n};
pub mod audit;
pub mod auth;
pub mod error;
pub mod events;
pub mod live;
pub mod openapi;
pub mod pages;
pub mod reports;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::acquisition::health::SharedHealth;
use crate::domain::shift::ShiftCalendar;
use crate::store::Store;
use error::ApiError;

/// What every request handler reads.
pub struct WebState {
    /// The store.
    pub store: Arc<Store>,
    /// The plant's time zone and shifts.
    pub calendar: ShiftCalendar,
    /// Token signing and the login limiter.
    pub auth: auth::Auth,
    /// Read-only pages and live events for anonymous wall screens (`--kiosk`).
    pub kiosk: bool,
    /// The live line summaries.
    pub live: Arc<live::Live>,
    /// The collectors of this process, per line (none when the web runs alone): collector
    /// health on the line pages, readiness.
    pub health: Vec<SharedHealth>,
    /// The collectors' local outbox, on a collector host that keeps one: what waits for the
    /// central database (readiness, line pages).
    pub buffer: Option<crate::acquisition::sink::SharedBuffer>,
    /// Slots for costly work (reports, traces, line pages): as many as the machine has cores,
    /// so a burst of heavy requests queues instead of multiplying the memory they hold.
    pub costly: tokio::sync::Semaphore,
    /// `/events` clients connected now (at most [`events::MAX_EVENT_CLIENTS`]).
    pub event_clients: Arc<std::sync::atomic::AtomicUsize>,
    /// The plant's ledger key, where this host holds it: verification on the audit page and
    /// signed bundles for download (`None`: the audit pages say so and offer neither).
    pub ledger: Option<Arc<crate::domain::ledger::NoteSigner>>,
    /// Where reports are written and the templates they are laid out with.
    pub reports: reports::ReportSetup,
}

/// How long a costly request waits for a slot before it is answered "busy" (503).
const COSTLY_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl WebState {
    /// State over `store`, not in kiosk mode.
    pub fn new(store: Arc<Store>, calendar: ShiftCalendar, auth: auth::Auth) -> Self {
        let slots = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).clamp(1, 8);
        Self {
            store,
            calendar,
            auth,
            kiosk: false,
            live: Arc::default(),
            health: Vec::new(),
            buffer: None,
            costly: tokio::sync::Semaphore::new(slots),
            event_clients: Arc::default(),
            ledger: None,
            reports: reports::ReportSetup::default(),
        }
    }

    /// A slot for costly work, held until dropped; [`ApiError::Busy`] after waiting
    /// [`COSTLY_WAIT`] for one (counted per route).
    pub async fn costly_slot(&self, route: &'static str) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(COSTLY_WAIT, self.costly.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!(crate::telemetry::HTTP_BUSY, "route" => route).increment(1);
                Err(ApiError::Busy { retry_after: 5 })
            }
        }
    }

    /// The line page's figures for `line`, computed at most once per published summary (see
    /// [`live::PerSummary`]) in one of the costly slots, with that summary's publication
    /// instant (what else is kept per summary is keyed by it). A line the summary does not
    /// know is computed each time (it is answered "not found"), and has no instant.
    pub async fn line_detail(
        &self,
        line: &crate::domain::LineId,
        route: &'static str,
    ) -> Result<(Arc<crate::figures::LineDetail>, Option<i64>), ApiError> {
        let compute = || async {
            let _slot = self.costly_slot(route).await?;
            Ok::<_, ApiError>(crate::figures::line_detail(&self.store, &self.calendar, line, chrono::Utc::now()).await?)
        };
        let snapshot = self.live.latest().await;
        if !snapshot.lines.iter().any(|l| &l.line == line) {
            return Ok((Arc::new(compute().await?), None));
        }
        let detail = self.live.details.get(line, snapshot.published_ms, compute).await?;
        Ok((detail, Some(snapshot.published_ms)))
    }

    /// The collector health of `line`, if this process collects it.
    pub fn line_health(&self, line: &str) -> Option<crate::acquisition::health::LineHealth> {
        self.health.iter().map(SharedHealth::snapshot).find(|h| h.line == line)
    }
}

/// A built, not yet running, web server.
pub struct Web {
    server: Server,
    port: u16,
    live: tokio::task::JoinHandle<()>,
    stop_live: tokio::sync::watch::Sender<bool>,
}

impl Web {
    /// Wires the app on an already bound listener with `workers` threads.
    pub fn build(listener: TcpListener, state: WebState, workers: usize) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        crate::telemetry::prometheus();
        let (stop_live, stop) = tokio::sync::watch::channel(false);
        let live = tokio::spawn(state.live.clone().run(state.store.clone(), state.calendar.clone(), stop));
        let state = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(count_request))
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::bad("query", e).into()))
                .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::bad("path", e).into()))
                .app_data(
                    web::JsonConfig::default().limit(64 * 1024).error_handler(|e, _| ApiError::bad("body", e).into()),
                )
                .app_data(
                    web::FormConfig::default().limit(16 * 1024).error_handler(|e, _| ApiError::bad("form", e).into()),
                )
                .configure(api::routes)
                .configure(pages::routes)
                .route("/events", web::get().to(events::events))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics_text))
                .default_service(web::to(not_found))
        })
        .workers(workers.max(1))
        // A client that closes its side is gone: its request's future is dropped, and the work
        // behind it stops (see `crate::work`), instead of running on for nobody.
        .h1_allow_half_closed(false)
        .disable_signals()
        // Event streams never finish by themselves: a stop waits this long for requests, then ends them.
        .shutdown_timeout(2)
        .listen(listener)?
        .run();
        Ok(Self { server, port, live, stop_live })
    }

    /// The port it listens on (the real one when bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop it gracefully (in-flight requests finish).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Web::handle`]; then the live view stops too.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.stop_live.send_replace(true);
        let _ = self.live.await;
        served
    }
}

/// A web server serving on a task of its own until [`Running::stop`].
pub struct Running {
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Web {
    /// Serves on a task of its own.
    pub fn spawn(self) -> Running {
        Running { handle: self.handle(), task: tokio::spawn(self.run_until_stopped()) }
    }
}

impl Running {
    /// Stops gracefully (in-flight requests finish, event streams end after the shutdown
    /// timeout) and returns once the server and its live view have ended.
    pub async fn stop(self) -> std::io::Result<()> {
        self.handle.stop(true).await;
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Liveness: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the store answers and every collector of this process is connected to its PLCs
/// (503 otherwise, saying which is not).
async fn readyz(state: web::Data<WebState>) -> HttpResponse {
    use crate::acquisition::health::Ownership;
    let database = state.store.change_marker().await.map(|_| "reachable".to_owned()).map_err(|e| e.to_string());
    // A line is ready when its collector is connected, or when it is a hot standby (it takes
    // the line over when its holder goes).
    let mut lines_ready = true;
    let mut collectors = serde_json::Map::new();
    for h in &state.health {
        let h = h.snapshot();
        lines_ready &= h.connected || matches!(h.ownership, Ownership::Standby { .. });
        let text = match (&h.ownership, h.connected, h.last_connect_error) {
            (Ownership::Standby { owner: Some(o) }, _, _) => format!("standby: collected by {o}"),
            (Ownership::Standby { owner: None }, _, _) => "standby: collected by another process".to_owned(),
            (Ownership::Owner { holder }, true, _) => format!("connected, collected by this process ({holder})"),
            (_, true, _) => "connected".to_owned(),
            (_, false, Some(e)) => format!("not connected: {e}"),
            (_, false, None) => "not connected yet".to_owned(),
        };
        let text = match h.lease_unconfirmed {
            true => format!("{text}; lease unconfirmed while the database is away, collecting into the outbox"),
            false => text,
        };
        collectors.insert(h.line, text.into());
    }
    // Which process collects each line (PostgreSQL; any process can say, a web-only one too).
    let owners = state.store.line_owners().await.unwrap_or_default();
    // A collector host with an outbox goes on while the database is away; it is not ready once
    // the outbox is full (records then stay in the PLCs).
    let outbox = state.buffer.as_ref().map(|b| b.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone());
    let ready = lines_ready
        && match &outbox {
            Some(o) => !o.full && (database.is_ok() || o.database_error.is_some()),
            None => database.is_ok(),
        };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": database.unwrap_or_else(|e| e),
        "collectors": collectors,
        "owners": owners,
        "outbox": outbox.map(|o| {
            // The status as it is, its oldest entry as an age rather than a moment.
            let waiting = o.oldest_queued_at.map(|t| (chrono::Utc::now() - t).num_seconds().max(0));
            let mut v = serde_json::to_value(o).unwrap_or_default();
            if let Some(fields) = v.as_object_mut() {
                fields.remove("oldest_queued_at");
                fields.insert("oldest_waiting_seconds".into(), waiting.into());
            }
            v
        }),
    });
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

/// Prometheus text: anyone on this machine (a local scraper), otherwise a session or token.
async fn metrics_text(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    let local = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    if !local && auth::session_of(&req).await.is_none() {
        return Err(ApiError::Unauthorized);
    }
    let handle = crate::telemetry::prometheus();
    handle.run_upkeep();
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render()))
}

/// Counts and times every request by route pattern (not raw path: serials would make a label
/// per unit).
async fn count_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    // Dropped unanswered when the client goes away (the server does not keep half-closed
    // connections): the handler's work stops with it, and is counted.
    let abandoned = Abandoned {
        method: Some(method.clone()),
        route: req.match_pattern().unwrap_or_else(|| "unmatched".to_owned()),
    };
    let res = next.call(req).await;
    let res = abandoned.answered(res)?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!(crate::telemetry::HTTP_SECONDS, "method" => method.clone(), "route" => route.clone())
        .record(seconds);
    metrics::counter!(crate::telemetry::HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    Ok(res)
}

/// Counts a request whose future was dropped before it was answered.
struct Abandoned {
    method: Option<String>,
    route: String,
}

impl Abandoned {
    fn answered<T>(mut self, res: T) -> T {
        self.method = None;
        res
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some(method) = self.method.take() {
            tracing::debug!(%method, route = %self.route, "client went away before the answer; its work stops");
            metrics::counter!(crate::telemetry::HTTP_ABANDONED, "method" => method, "route" => std::mem::take(&mut self.route))
                .increment(1);
        }
    }
}

/// An unknown address: a browser asking for a page gets a 404 page in its language; the API's
/// paths and every other client get the API's JSON error.
async fn not_found(req: actix_web::HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !req.path().starts_with("/api/") && accept.contains("text/html") {
        return pages::missing_page(&req, &state).await;
    }
    actix_web::ResponseError::error_response(&ApiError::NotFound {
        code: "not_found",
        message: format!("no such resource: {}", req.path()),
    })
}
