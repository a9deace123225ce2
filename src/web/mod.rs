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
}

/// A built, not yet running, web server.
pub struct Web {
    server: Server,
    port: u16,
}

impl Web {
    /// Wires the app on an already bound listener with `workers` threads.
    pub fn build(listener: TcpListener, state: WebState, workers: usize) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let state = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::bad("query", e).into()))
                .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::bad("path", e).into()))
                .app_data(web::JsonConfig::default().limit(64 * 1024).error_handler(|e, _| ApiError::bad("body", e).into()))
                .configure(api::routes)
                .default_service(web::to(not_found))
        })
        .workers(workers.max(1))
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self { server, port })
    }

    /// The port it listens on (the real one when bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop it gracefully (in-flight requests finish).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Web::handle`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound {
        code: "not_found",
        message: format!("no such resource: {}", req.path()),
    })
}
