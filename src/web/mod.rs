//! The web front, and the only module that imports `actix_web`: the JSON API under `/api/v1`
//! with its OpenAPI document (dashboards, live events, auth and metrics arrive with issue 6).
//!
//! Shape (zero2prod's): the caller binds the listener (port 0 in tests), [`Web::build`] wires
//! the app and reports the port, [`Web::run_until_stopped`] serves until the handle stops it.
//!
//! Must never: write production records (that is the collectors' path), or answer a request's
//! mistake with a 500.

pub mod api;
pub mod auth;
pub mod error;
pub mod events;
pub mod i18n;
pub mod live;
pub mod pages;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, HttpServer, web};

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
}

impl WebState {
    /// State over `store`, not in kiosk mode.
    pub fn new(store: Arc<Store>, calendar: ShiftCalendar, auth: auth::Auth) -> Self {
        Self { store, calendar, auth, kiosk: false, live: Arc::default() }
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
        let (stop_live, stop) = tokio::sync::watch::channel(false);
        let live = tokio::spawn(state.live.clone().run(state.store.clone(), state.calendar.clone(), stop));
        let state = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
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
                .default_service(web::to(not_found))
        })
        .workers(workers.max(1))
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

/// Liveness: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the store answers (503 otherwise).
async fn readyz(state: web::Data<WebState>) -> HttpResponse {
    match state.store.change_marker().await {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": "reachable" })),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "not ready", "database": e.to_string() })),
    }
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound {
        code: "not_found",
        message: format!("no such resource: {}", req.path()),
    })
}
