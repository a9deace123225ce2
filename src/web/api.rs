//! `/api/v1`: JSON for scripts and the pages — lines and stations, units by serial, backward and
//! forward traces, yield, OEE, Pareto and downtime per line, station and period, holds — and the
//! OpenAPI document that describes it (`/api/openapi.json`).
//!
//! Must never: compute a figure (that is [`crate::figures`] and the domain), or answer a bad
//! parameter with anything but a 400 naming it.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::OpenApi;

use super::WebState;
use super::auth::{Session, hash_password, verify_password};
use super::error::{ApiError, ErrorBody};
use crate::domain::equipment::{Line, LineKind, Station, StationKind};
use crate::domain::ids::{LotId, SerialNumber};
use crate::domain::record::ConsumedItem;
use crate::figures::{self, Scope, ScopeText};

/// The routes under `/api/v1`. Each path is one resource: a method it does not serve is
/// answered 405 with an `Allow` header naming those it does.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use actix_web::Resource;
    fn get(path: &str) -> Resource {
        web::resource(path).default_service(web::to(|| not_allowed("GET")))
    }
    fn post(path: &str) -> Resource {
        web::resource(path).default_service(web::to(|| not_allowed("POST")))
    }
    cfg.service(
        super::reports::routes(super::audit::routes(web::scope("/api/v1")))
            .service(get("/summary").route(web::get().to(summary)))
            .service(get("/lines").route(web::get().to(lines)))
            .service(get("/lines/{line}").route(web::get().to(line)))
            .service(get("/lines/{line}/detail").route(web::get().to(line_detail)))
            .service(get("/units/{serial}").route(web::get().to(unit)))
            .service(get("/trace/backward/{serial}").route(web::get().to(trace_backward)))
            .service(get("/trace/forward").route(web::get().to(trace_forward)))
            .service(get("/kpi/yield").route(web::get().to(kpi_yield)))
            .service(get("/kpi/oee").route(web::get().to(kpi_oee)))
            .service(get("/kpi/pareto").route(web::get().to(kpi_pareto)))
            .service(get("/kpi/downtime").route(web::get().to(kpi_downtime)))
            .service(post("/auth/login").route(web::post().to(login)))
            .service(post("/auth/logout").route(web::post().to(logout)))
            .service(post("/auth/password").route(web::post().to(change_password)))
            .service(
                web::resource("/holds")
                    .route(web::get().to(holds))
                    .route(web::post().to(place_hold))
                    .default_service(web::to(|| not_allowed("GET, POST"))),
            )
            .service(post("/holds/release").route(web::post().to(release_hold))),
    )
    .service(get("/api/openapi.json").route(web::get().to(openapi)));
}

/// 405 for a method a resource does not serve, naming those it does.
pub(super) async fn not_allowed(allow: &'static str) -> HttpResponse {
    let mut answer = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed { allow });
    answer
        .headers_mut()
        .insert(actix_web::http::header::ALLOW, actix_web::http::header::HeaderValue::from_static(allow));
    answer
}

/// The OpenAPI document of `/api/v1`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "MES API",
        description = "Manufacturing execution system for an electronics assembly cluster: lines, units, \
                       genealogy, yield, OEE, defects, downtime and holds. Errors are \
                       `{\"error\": code, \"message\": text}`; bad parameters answer 400. Times are RFC 3339 \
                       or plant-local `YYYY-MM-DD[THH:MM]` or, day first, `DD/MM/YYYY[ HH:MM]`."
    ),
    paths(
        login,
        logout,
        change_password,
        summary,
        lines,
        line,
        line_detail,
        unit,
        trace_backward,
        trace_forward,
        kpi_yield,
        kpi_oee,
        kpi_pareto,
        kpi_downtime,
        holds,
        place_hold,
        release_hold,
        super::audit::list_entries,
        super::audit::entry,
        super::audit::checkpoint,
        super::audit::consistency,
        super::audit::verification,
        super::audit::bundle,
        super::reports::list,
        super::reports::file,
        super::reports::make
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(
        ErrorBody,
        LoginRequest,
        LoginAnswer,
        PasswordChange,
        HoldRequest,
        HoldAnswer,
        Released,
        Line,
        LineKind,
        Station,
        StationKind,
        figures::YieldFigures,
        figures::LineSummary,
        figures::StationNow,
        figures::LineStatus,
        figures::CountedBeside,
        figures::ParetoFigures,
        figures::DowntimeFigures,
        figures::OeeFigures,
        figures::LineDetail,
        figures::HourOutput,
        figures::StationDetail,
        crate::domain::kpi::StationYield,
        crate::domain::kpi::LineYield,
        crate::domain::kpi::ParetoBar,
        crate::domain::kpi::StationDowntime,
        crate::domain::kpi::Bucket,
        crate::domain::oee::Oee,
        crate::domain::oee::StationOee,
        crate::domain::oee::TimeElements,
        crate::domain::oee::Quantities,
        crate::domain::oee::OeeProblem,
        crate::audit::EntryView,
        crate::audit::Headline,
        crate::audit::CheckpointView,
        crate::audit::EntryProof,
        crate::audit::ConsistencyView,
        super::audit::VerificationAnswer,
        super::reports::ReportFile,
        crate::domain::kpi::StationRetest,
    ))
)]
pub struct ApiDoc;

/// Declares the bearer scheme every endpoint but login needs.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi(_session: Session) -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}

/// The largest JSON answer the API writes (a year of daily figures of a long route is a few
/// megabytes): beyond it the answer is a 413 naming the limit, never a body the client or the
/// server cannot hold.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// A 200 with `body` as JSON, if it is within [`MAX_ANSWER_BYTES`].
pub(super) fn ok(body: impl serde::Serialize) -> Result<HttpResponse, ApiError> {
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::bad("answer", e))?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(ApiError::TooLarge {
            code: "answer_too_large",
            message: format!(
                "the answer would be {} bytes, more than the {MAX_ANSWER_BYTES} one answer may have; \
                 ask for a shorter period or fewer slices",
                bytes.len()
            ),
        });
    }
    Ok(HttpResponse::Ok().content_type("application/json").body(bytes))
}

/// Every line now: status, stations' states, this shift's output against plan, first-pass
/// yield, OEE, downtime, held units (what the overview page shows; refreshed when the store
/// changes, at least every 5 s).
#[utoipa::path(get, path = "/api/v1/summary", tag = "lines", responses((status = 200, body = [figures::LineSummary])))]
async fn summary(_session: Session, state: web::Data<WebState>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(state.live.latest().await.json.clone())
}

/// Every registered line with its stations.
#[utoipa::path(get, path = "/api/v1/lines", tag = "lines", responses((status = 200, body = [Line])))]
async fn lines(_session: Session, state: web::Data<WebState>) -> Result<HttpResponse, ApiError> {
    ok(state.store.lines().await?)
}

/// One line with its stations in route order.
#[utoipa::path(
    get,
    path = "/api/v1/lines/{line}",
    tag = "lines",
    params(("line" = String, Path, description = "Line code, e.g. phone-1")),
    responses((status = 200, body = Line), (status = 404, body = ErrorBody))
)]
async fn line(
    _session: Session,
    state: web::Data<WebState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = crate::domain::LineId::parse(path.into_inner()).map_err(|e| ApiError::bad("line", e))?;
    let found = state.store.lines().await?.into_iter().find(|l| l.id == code);
    ok(found.ok_or(ApiError::NotFound { code: "line_not_found", message: format!("line {code} is not registered") })?)
}

/// What the line page shows: stations in route order with WIP and their state timeline this
/// shift, output per hour against plan, the top five defects (the live state and headline
/// figures are in `/api/v1/summary`).
#[utoipa::path(
    get,
    path = "/api/v1/lines/{line}/detail",
    tag = "lines",
    params(("line" = String, Path, description = "Line code, e.g. phone-1")),
    responses((status = 200, body = figures::LineDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn line_detail(
    _session: Session,
    state: web::Data<WebState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = crate::domain::LineId::parse(path.into_inner()).map_err(|e| ApiError::bad("line", e))?;
    ok(&*state.line_detail(&code, "/api/v1/lines/{line}/detail").await?.0)
}

fn serial(text: String) -> Result<SerialNumber, ApiError> {
    SerialNumber::parse(text).map_err(|e| ApiError::bad("serial", e))
}

/// A unit by serial: status, hold, when first seen, every station visit.
#[utoipa::path(
    get,
    path = "/api/v1/units/{serial}",
    tag = "genealogy",
    params(("serial" = String, Path, description = "Unit serial (URL-encoded)")),
    responses((status = 200, description = "The unit and its visits", body = crate::store::UnitView), (status = 404, body = ErrorBody))
)]
async fn unit(
    _session: Session,
    state: web::Data<WebState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let serial = serial(path.into_inner())?;
    match state.store.unit_by_serial(&serial).await? {
        Some(view) => ok(view),
        None => Err(unknown_serial(&serial)),
    }
}

fn unknown_serial(serial: &SerialNumber) -> ApiError {
    ApiError::NotFound {
        code: "unit_not_found",
        message: format!("serial {:?} is unknown to the MES", serial.as_str()),
    }
}

/// Backward genealogy: the tree of everything in the unit, with every unit's visits.
#[utoipa::path(
    get,
    path = "/api/v1/trace/backward/{serial}",
    tag = "genealogy",
    params(("serial" = String, Path, description = "Unit serial (URL-encoded)")),
    responses(
        (status = 200, description = "`tree` and `units` (by serial)", body = crate::store::BackwardTrace),
        (status = 404, body = ErrorBody),
        (status = 413, description = "The unit's genealogy is larger than one trace may walk", body = ErrorBody)
    )
)]
async fn trace_backward(
    _session: Session,
    state: web::Data<WebState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let serial = serial(path.into_inner())?;
    let _slot = state.costly_slot("/api/v1/trace/backward/{serial}").await?;
    match state.store.backward_trace(&serial).await? {
        Some(trace) => ok(trace),
        None => Err(unknown_serial(&serial)),
    }
}

/// What a forward trace starts from: exactly one of a lot (or reel) and a serial.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ForwardQuery {
    /// Lot or reel id.
    lot: Option<String>,
    /// The lot's part number, where its code names lots of several materials.
    part_number: Option<String>,
    /// The lot's supplier, likewise.
    supplier: Option<String>,
    /// Serial of a sub-assembly (e.g. a PCBA).
    serial: Option<String>,
}

/// Forward genealogy: every unit containing a lot, reel or serial at any depth, "contains" and
/// "possibly contains" apart, with status, hold and last location.
#[utoipa::path(
    get,
    path = "/api/v1/trace/forward",
    tag = "genealogy",
    params(ForwardQuery),
    responses(
        (status = 200, description = "`item` and `units`", body = crate::store::ForwardTrace),
        (status = 400, description = "Not exactly one of `lot` and `serial`, or one malformed, or a lot code of several materials without `part_number` or `supplier` to tell which (`ambiguous_lot`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, description = "The item reaches more genealogy than one trace may walk", body = ErrorBody)
    )
)]
async fn trace_forward(
    _session: Session,
    state: web::Data<WebState>,
    q: web::Query<ForwardQuery>,
) -> Result<HttpResponse, ApiError> {
    let item = match (&q.lot, &q.serial) {
        (Some(lot), None) => ConsumedItem::Lot(lot_query(lot, q.part_number.as_deref(), q.supplier.as_deref())?),
        (None, Some(s)) => ConsumedItem::Serial(serial(s.clone())?),
        _ => return Err(ApiError::bad("lot", "give exactly one of lot and serial")),
    };
    let _slot = state.costly_slot("/api/v1/trace/forward").await?;
    match state.store.forward_trace(&item).await? {
        Some(trace) => ok(trace),
        None => Err(ApiError::NotFound {
            code: "item_not_found",
            message: format!("{:?} was never recorded as consumed", item.id()),
        }),
    }
}

impl WebState {
    fn scope(&self, text: &ScopeText) -> Result<Scope, ApiError> {
        Ok(Scope::parse(text, &self.calendar, chrono::Utc::now())?)
    }
}

/// First-pass, final and rolled throughput yield per station, scrap rate and DPMO, counters
/// beside records (`mes kpi yield --json`).
#[utoipa::path(
    get,
    path = "/api/v1/kpi/yield",
    tag = "kpi",
    params(ScopeText),
    responses(
        (status = 200, description = "Scope keys, then `YieldFigures` at the top level, or per slice under `buckets` with `by`", body = Object),
        (status = 400, description = "A parameter is malformed, or the period breaks a rule: `from` before `to`, at most 400 days, at most 2500 slices", body = ErrorBody),
        (status = 404, description = "No such line or station", body = ErrorBody),
        (status = 413, description = "The period holds more rows than one request may read", body = ErrorBody)
    )
)]
async fn kpi_yield(
    _session: Session,
    state: web::Data<WebState>,
    q: web::Query<ScopeText>,
) -> Result<HttpResponse, ApiError> {
    let scope = state.scope(&q)?;
    let _slot = state.costly_slot("/api/v1/kpi/yield").await?;
    ok(figures::yields(&state.store, &state.calendar, &scope).await?.document())
}

/// OEE per ISO 22400-2 per station and for the line (`mes kpi oee --json`).
#[utoipa::path(
    get,
    path = "/api/v1/kpi/oee",
    tag = "kpi",
    params(ScopeText),
    responses(
        (status = 200, description = "Scope keys, then `OeeFigures` at the top level, or per slice under `buckets` with `by`", body = Object),
        (status = 400, description = "A parameter is malformed, or the period breaks a rule: `from` before `to`, at most 400 days, at most 2500 slices", body = ErrorBody),
        (status = 404, description = "No such line or station", body = ErrorBody),
        (status = 413, description = "The period holds more rows than one request may read", body = ErrorBody)
    )
)]
async fn kpi_oee(
    _session: Session,
    state: web::Data<WebState>,
    q: web::Query<ScopeText>,
) -> Result<HttpResponse, ApiError> {
    let scope = state.scope(&q)?;
    let _slot = state.costly_slot("/api/v1/kpi/oee").await?;
    ok(figures::oee(&state.store, &state.calendar, &scope, chrono::Utc::now()).await?.document())
}

/// Defects by code, most frequent first (`mes kpi pareto --json`).
#[utoipa::path(
    get,
    path = "/api/v1/kpi/pareto",
    tag = "kpi",
    params(ScopeText),
    responses(
        (status = 200, description = "Scope keys, then `ParetoFigures` at the top level, or per slice under `buckets` with `by`", body = Object),
        (status = 400, description = "A parameter is malformed, or the period breaks a rule: `from` before `to`, at most 400 days, at most 2500 slices", body = ErrorBody),
        (status = 404, description = "No such line or station", body = ErrorBody),
        (status = 413, description = "The period holds more rows than one request may read", body = ErrorBody)
    )
)]
async fn kpi_pareto(
    _session: Session,
    state: web::Data<WebState>,
    q: web::Query<ScopeText>,
) -> Result<HttpResponse, ApiError> {
    let scope = state.scope(&q)?;
    let _slot = state.costly_slot("/api/v1/kpi/pareto").await?;
    ok(figures::pareto(&state.store, &state.calendar, &scope).await?.document())
}

/// Time by machine state, breakdowns, MTBF, MTTR and downtime by reason (`mes kpi downtime --json`).
#[utoipa::path(
    get,
    path = "/api/v1/kpi/downtime",
    tag = "kpi",
    params(ScopeText),
    responses(
        (status = 200, description = "Scope keys, then `DowntimeFigures` at the top level, or per slice under `buckets` with `by`", body = Object),
        (status = 400, description = "A parameter is malformed, or the period breaks a rule: `from` before `to`, at most 400 days, at most 2500 slices", body = ErrorBody),
        (status = 404, description = "No such line or station", body = ErrorBody),
        (status = 413, description = "The period holds more rows than one request may read", body = ErrorBody)
    )
)]
async fn kpi_downtime(
    _session: Session,
    state: web::Data<WebState>,
    q: web::Query<ScopeText>,
) -> Result<HttpResponse, ApiError> {
    let scope = state.scope(&q)?;
    let _slot = state.costly_slot("/api/v1/kpi/downtime").await?;
    ok(figures::downtime(&state.store, &state.calendar, &scope, chrono::Utc::now()).await?.document())
}

/// How many holds a list shows unless asked for more.
pub(super) const HOLDS_PER_PAGE: usize = 1_000;
/// The most holds one list may ask for.
pub const MAX_HOLDS: usize = 10_000;
/// The longest hold reason, in characters.
pub const MAX_REASON_CHARS: usize = 1_000;
/// The longest user name or password accepted, in characters.
pub const MAX_CREDENTIAL_CHARS: usize = 1_024;

/// How many holds to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HoldsQuery {
    /// The newest this many (default 1000, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// The newest holds, in force or released, newest first (`mes holds --json`).
#[utoipa::path(
    get,
    path = "/api/v1/holds",
    tag = "holds",
    params(HoldsQuery),
    responses((status = 200, description = "Holds, newest first", body = [crate::domain::hold::Hold]))
)]
async fn holds(
    _session: Session,
    state: web::Data<WebState>,
    q: web::Query<HoldsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(HOLDS_PER_PAGE);
    if !(1..=MAX_HOLDS).contains(&limit) {
        return Err(ApiError::bad("limit", format!("{limit} is not in 1..={MAX_HOLDS}")));
    }
    ok(state.store.holds(limit).await?)
}

/// Credentials for a token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for LoginAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAnswer").field("role", &self.role).field("expires_at", &self.expires_at).finish()
    }
}

/// A bearer token and what it allows.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LoginAnswer {
    /// Send as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// The user's role.
    #[schema(value_type = String)]
    pub role: crate::domain::user::Role,
    /// When the token stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Logs in: a bearer token for the API (SPEC §8), naming a new session. Limited to a few
/// attempts per minute per client address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)
    )
)]
async fn login(
    req: actix_web::HttpRequest,
    state: web::Data<WebState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let (role, issued) = check_login(&req, &state, &body.username, &body.password).await?;
    ok(LoginAnswer { token: issued.token, role, expires_at: issued.expires_at })
}

/// Logs out: the token's session ends, in every web process sharing the store.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    responses((status = 204, description = "The session has ended"), (status = 401, body = ErrorBody))
)]
async fn logout(session: Session, state: web::Data<WebState>) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&state.store, &session).await?;
    tracing::info!(user = %session.user, "logout");
    Ok(HttpResponse::NoContent().finish())
}

/// A password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new one (at least 8 characters).
    pub new_password: String,
}

/// Changes the caller's password: every session of the user ends (here and in every other web
/// process), and a token for a new one is returned.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    tag = "auth",
    request_body = PasswordChange,
    responses(
        (status = 200, body = LoginAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)
    )
)]
async fn change_password(
    session: Session,
    req: actix_web::HttpRequest,
    state: web::Data<WebState>,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    session.check_csrf(&req, None)?;
    if body.new_password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad("new_password", format!("needs at least {MIN_PASSWORD_CHARS} characters")));
    }
    for (field, value) in [("current_password", &body.current_password), ("new_password", &body.new_password)] {
        if value.chars().count() > MAX_CREDENTIAL_CHARS {
            return Err(ApiError::bad(field, format!("is longer than {MAX_CREDENTIAL_CHARS} characters")));
        }
    }
    let ip = client_ip(&req);
    state.auth.admit_login(ip).map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    if password_user(&state, &session.user, &body.current_password).await?.is_none() {
        tracing::warn!(user = %session.user, %ip, "password change refused: wrong current password");
        return Err(ApiError::Unauthorized);
    }
    let new = body.new_password.clone();
    let hash = web::block(move || hash_password(&new))
        .await
        .map_err(|e| ApiError::Unavailable { message: e.to_string() })?
        .map_err(|e| ApiError::Unavailable { message: e })?;
    state.store.upsert_user(&session.user, &hash, session.role, chrono::Utc::now()).await?;
    state.auth.forget_user(&session.user);
    let issued = state.auth.login(&state.store, &session.user, session.role).await?;
    tracing::info!(user = %session.user, "password changed; every other session ended");
    ok(LoginAnswer { token: issued.token, role: session.role, expires_at: issued.expires_at })
}

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

fn client_ip(req: &actix_web::HttpRequest) -> std::net::IpAddr {
    req.peer_addr().map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip())
}

/// The enabled user `username` if `password` is theirs. An unknown name costs the same
/// hashing time as a wrong password.
async fn password_user(
    state: &WebState,
    username: &str,
    password: &str,
) -> Result<Option<crate::domain::user::User>, ApiError> {
    let found = state.store.user_credentials(username).await?;
    let (user, hash) = match found {
        Some((user, hash)) if !user.disabled => (Some(user), hash),
        _ => (None, DUMMY_HASH.get_or_init(|| hash_password("not a password").unwrap_or_default()).clone()),
    };
    let password = password.to_owned();
    let matches = web::block(move || verify_password(&password, &hash)).await.unwrap_or(false);
    Ok(user.filter(|_| matches))
}

/// Checks a login (rate limit, password) and starts a session: the role and its token.
pub(super) async fn check_login(
    req: &actix_web::HttpRequest,
    state: &WebState,
    username: &str,
    password: &str,
) -> Result<(crate::domain::user::Role, super::auth::Issued), ApiError> {
    for (field, value) in [("username", username), ("password", password)] {
        if value.chars().count() > MAX_CREDENTIAL_CHARS {
            return Err(ApiError::bad(field, format!("is longer than {MAX_CREDENTIAL_CHARS} characters")));
        }
    }
    let ip = client_ip(req);
    state.auth.admit_login(ip).map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    match password_user(state, username, password).await? {
        Some(user) => {
            let issued = state.auth.login(&state.store, &user.username, user.role).await?;
            tracing::info!(user = %user.username, role = user.role.as_str(), "login");
            Ok((user.role, issued))
        }
        None => {
            tracing::warn!(user = %username, %ip, "login refused");
            Err(ApiError::Unauthorized)
        }
    }
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// What a hold covers and why.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HoldRequest {
    /// A lot or reel (every unit containing it is held, now and later).
    pub lot: Option<String>,
    /// The lot's part number: needed where its code names lots of several materials, and to
    /// hold a lot no line has recorded yet whose profile names its material.
    pub part_number: Option<String>,
    /// The lot's supplier, likewise.
    pub supplier: Option<String>,
    /// One unit.
    pub serial: Option<String>,
    /// Why (required to place; ignored on release).
    pub reason: Option<String>,
}

/// The target of a hold request, once the session may hold and the request carries its CSRF
/// token (cookie sessions: in the header, or `form_token` from a page's form).
pub(super) fn hold_target(
    session: &Session,
    req: &actix_web::HttpRequest,
    body: &HoldRequest,
    form_token: Option<&str>,
) -> Result<crate::domain::hold::HoldTarget, ApiError> {
    use crate::domain::hold::HoldTarget;
    session.require_hold_rights()?;
    session.check_csrf(req, form_token)?;
    match (&body.lot, &body.serial) {
        (Some(lot), None) => {
            Ok(HoldTarget::Lot(lot_query(lot, body.part_number.as_deref(), body.supplier.as_deref())?))
        }
        (None, Some(s)) => Ok(HoldTarget::Unit(serial(s.clone())?)),
        _ => Err(ApiError::bad("lot", "give exactly one of lot and serial")),
    }
}

/// A lot as a request names it: its code, and its part number and supplier where given (blank
/// is not named).
pub(super) fn lot_query(code: &str, part_number: Option<&str>, supplier: Option<&str>) -> Result<LotId, ApiError> {
    let material = crate::domain::Material::new(
        part_number.map(str::trim).unwrap_or_default(),
        supplier.map(str::trim).unwrap_or_default(),
    )
    .map_err(|e| ApiError::bad("part_number/supplier", e))?;
    Ok(LotId::parse(code.to_owned()).map_err(|e| ApiError::bad("lot", e))?.of(material))
}

/// Places a hold (quality and admin roles): `mes hold` over HTTP.
#[utoipa::path(
    post,
    path = "/api/v1/holds",
    tag = "holds",
    request_body = HoldRequest,
    responses(
        (status = 201, description = "The hold is placed", body = HoldAnswer),
        (status = 200, description = "The target was already on hold; nothing changed", body = HoldAnswer),
        (status = 400, description = "A malformed or missing field, or a lot code of several materials without `part_number` or `supplier` to tell which (`ambiguous_lot`)", body = ErrorBody),
        (status = 403, description = "The role may not hold, or a cookie session sent no CSRF token", body = ErrorBody),
        (status = 404, description = "The unit is unknown to the MES", body = ErrorBody)
    )
)]
async fn place_hold(
    session: Session,
    req: actix_web::HttpRequest,
    state: web::Data<WebState>,
    body: web::Json<HoldRequest>,
) -> Result<HttpResponse, ApiError> {
    let target = hold_target(&session, &req, &body, None)?;
    let reason = hold_reason(body.reason.as_deref())?;
    let done = state.store.place_hold(&target, reason, &session.user, chrono::Utc::now()).await?;
    tracing::info!(user = %session.user, ?target, placed = done.placed, seen = done.seen, "hold");
    let answer = HoldAnswer { placed: done.placed, seen: done.seen, warning: unseen_warning(&target, done) };
    Ok(if done.placed { HttpResponse::Created() } else { HttpResponse::Ok() }.json(answer))
}

/// The reason of a hold or of its release, trimmed: it must say something (a character that is neither white
/// space nor a control character) in at most [`MAX_REASON_CHARS`].
pub(super) fn hold_reason(reason: Option<&str>) -> Result<&str, ApiError> {
    let reason = reason.map(str::trim).unwrap_or_default();
    if !reason.chars().any(|c| !c.is_whitespace() && !c.is_control()) {
        return Err(ApiError::bad("reason", "is required: say why the hold is placed or released"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad("reason", format!("is longer than {MAX_REASON_CHARS} characters")));
    }
    Ok(reason)
}

/// What placing a hold did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HoldAnswer {
    /// `false`: the target already had a hold in force; nothing changed.
    pub placed: bool,
    /// Whether the MES has recorded the target; a lot never seen is held all the same (every
    /// unit consuming it later is held), but it may be a typo.
    pub seen: bool,
    /// Said when the target was never seen.
    pub warning: Option<String>,
}

/// "lot X has never been recorded…" for a hold on something no collector has seen.
pub(super) fn unseen_warning(
    target: &crate::domain::hold::HoldTarget,
    done: crate::store::HoldPlaced,
) -> Option<String> {
    use crate::domain::hold::HoldTarget;
    match target {
        HoldTarget::Lot(lot) if !done.seen => Some(format!(
            "lot {} has never been recorded by any line: it is held for units that consume it later; \
             check the id (and its part number and supplier, where the line's profile names them) if you \
             meant a lot already in use",
            lot
        )),
        _ => None,
    }
}

/// Releases a hold (quality and admin roles).
#[utoipa::path(
    post,
    path = "/api/v1/holds/release",
    tag = "holds",
    request_body = HoldRequest,
    responses(
        (status = 200, description = "How many holds were released", body = Released),
        (status = 400, description = "A malformed or missing field, or a lot code of several materials without `part_number` or `supplier` to tell which (`ambiguous_lot`)", body = ErrorBody),
        (status = 403, description = "The role may not release, or a cookie session sent no CSRF token", body = ErrorBody)
    )
)]
async fn release_hold(
    session: Session,
    req: actix_web::HttpRequest,
    state: web::Data<WebState>,
    body: web::Json<HoldRequest>,
) -> Result<HttpResponse, ApiError> {
    let target = hold_target(&session, &req, &body, None)?;
    let reason = hold_reason(body.reason.as_deref())?;
    let released = state.store.release_hold(&target, &session.user, reason, chrono::Utc::now()).await?;
    tracing::info!(user = %session.user, ?target, released, reason, "release");
    ok(Released { released })
}

/// What a release did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Released {
    /// Holds in force on the target that were released (0: none was).
    pub released: u64,
}
