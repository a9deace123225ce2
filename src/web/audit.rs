//! `/api/v1/audit`: the investor audit ledger for auditors and admins — entries with their
//! headline figures (as recorded and as corrected), an entry's inclusion proof in the newest
//! signed checkpoint, the checkpoint itself, consistency proofs between two tree sizes (RFC 9162
//! names: `first`, `second`), the verification of every closed period from the raw records, and
//! the signed offline bundle. Every other role is refused (403).
//!
//! Must never: write to the ledger (closing and correcting are the CLI's and the closer's), or
//! report a verification as clean that did not run.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::WebState;
use super::api::ok;
use super::auth::Session;
use super::error::{ApiError, ErrorBody};
use crate::audit::{
    self, AuditError, CheckpointView, ConsistencyView, EntryFilter, EntryProof, EntryView, PeriodScope,
};
use crate::domain::LineId;

/// The audit routes, inside the `/api/v1` scope.
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    use actix_web::Resource;
    fn get(path: &str) -> Resource {
        web::resource(path).default_service(web::to(|| super::api::not_allowed("GET")))
    }
    scope
        .service(get("/audit/entries").route(web::get().to(list_entries)))
        .service(get("/audit/entries/{seq}").route(web::get().to(entry)))
        .service(get("/audit/checkpoint").route(web::get().to(checkpoint)))
        .service(get("/audit/consistency").route(web::get().to(consistency)))
        .service(get("/audit/verification").route(web::get().to(verification)))
        .service(get("/audit/bundle").route(web::get().to(bundle)))
}

/// The largest bundle the API hands out; a larger one is a 413 pointing at the CLI.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Store(s) => s.into(),
            AuditError::Figures(f) => f.into(),
            other => ApiError::Unavailable { message: other.to_string() },
        }
    }
}

/// Which closed periods: a line and a time range, each optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Line code.
    pub line: Option<String>,
    /// Periods ending after this: RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`.
    pub from: Option<String>,
    /// Periods starting before this.
    pub to: Option<String>,
}

impl PeriodQuery {
    /// The scope, every parameter checked.
    pub fn scope(&self, zone: chrono_tz::Tz) -> Result<PeriodScope, ApiError> {
        let time = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|t| crate::domain::shift::parse_instant(t, zone).map_err(|e| ApiError::bad(name, e)))
                .transpose()
        };
        let scope = PeriodScope {
            line: self.line.clone().map(LineId::parse).transpose().map_err(|e| ApiError::bad("line", e))?,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
        };
        if let (Some(f), Some(t)) = (scope.from, scope.to)
            && f >= t
        {
            return Err(ApiError::bad("from", "must be before to"));
        }
        Ok(scope)
    }
}

/// Entries of the chosen periods, with paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EntriesQuery {
    /// Line code.
    line: Option<String>,
    /// Periods ending after this: RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`.
    from: Option<String>,
    /// Periods starting before this.
    to: Option<String>,
    /// Only entries after this position (paging).
    after: Option<u64>,
    /// At most this many (default 1,000, at most 10,000).
    limit: Option<usize>,
}

/// The ledger's entries, oldest first: closed periods, supplements for late records and
/// corrections, each with its headline figures (as recorded, and as corrected since), leaf
/// hash, chain link, signature and canonical bytes.
#[utoipa::path(
    get,
    path = "/api/v1/audit/entries",
    tag = "audit",
    params(EntriesQuery),
    responses(
        (status = 200, body = [EntryView]),
        (status = 403, description = "Only auditors and admins read the ledger", body = ErrorBody)
    )
)]
pub(super) async fn list_entries(
    session: Session,
    state: web::Data<WebState>,
    q: web::Query<EntriesQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require_audit_rights()?;
    let scope =
        PeriodQuery { line: q.line.clone(), from: q.from.clone(), to: q.to.clone() }.scope(state.calendar.time_zone)?;
    let limit = q.limit.unwrap_or(super::api::HOLDS_PER_PAGE);
    if !(1..=super::api::MAX_HOLDS).contains(&limit) {
        return Err(ApiError::bad("limit", format!("{limit} is not in 1..={}", super::api::MAX_HOLDS)));
    }
    if let Some(after) = q.after.filter(|a| i64::try_from(*a).is_err()) {
        return Err(ApiError::bad("after", format!("{after} is beyond any position the log can hold")));
    }
    ok(audit::entries(&state.store, &EntryFilter { scope, after: q.after, limit }).await?)
}

fn verifier(state: &WebState) -> Option<crate::domain::ledger::NoteVerifier> {
    state.ledger.as_ref().map(|k| k.verifier())
}

/// One entry with its inclusion proof (RFC 9162 audit path) in the tree of the newest signed
/// checkpoint: hash the payload as a leaf, climb the path, compare with the checkpoint's root.
#[utoipa::path(
    get,
    path = "/api/v1/audit/entries/{seq}",
    tag = "audit",
    params(("seq" = u64, Path, description = "The entry's position in the log, from 0")),
    responses(
        (status = 200, body = EntryProof),
        (status = 403, description = "Only auditors and admins read the ledger", body = ErrorBody),
        (status = 404, description = "No such entry, or no checkpoint covers it yet", body = ErrorBody)
    )
)]
pub(super) async fn entry(
    session: Session,
    state: web::Data<WebState>,
    path: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    session.require_audit_rights()?;
    let seq = path.into_inner();
    match audit::entry_proof(&state.store, seq, verifier(&state).as_ref()).await? {
        Some(proof) => ok(proof),
        None => Err(ApiError::NotFound {
            code: "entry_not_found",
            message: format!("the log has no entry {seq} covered by a checkpoint"),
        }),
    }
}

/// The newest signed checkpoint (C2SP tlog-checkpoint in a signed note): the tree head an
/// auditor keeps, so that a later rewrite or cut of the log is caught.
#[utoipa::path(
    get,
    path = "/api/v1/audit/checkpoint",
    tag = "audit",
    responses(
        (status = 200, body = CheckpointView),
        (status = 403, description = "Only auditors and admins read the ledger", body = ErrorBody),
        (status = 404, description = "Nothing closed yet", body = ErrorBody)
    )
)]
pub(super) async fn checkpoint(session: Session, state: web::Data<WebState>) -> Result<HttpResponse, ApiError> {
    session.require_audit_rights()?;
    match audit::latest_checkpoint(&state.store, verifier(&state).as_ref()).await? {
        Some(c) => ok(c),
        None => Err(ApiError::NotFound { code: "no_checkpoint", message: "no period has been closed yet".into() }),
    }
}

/// The two tree sizes of a consistency proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ConsistencyQuery {
    /// The older tree size (at least 1).
    first: u64,
    /// The newer tree size (at least `first`, at most the log's size).
    second: u64,
}

/// The consistency proof (RFC 9162 §2.1.4) that the tree of `second` entries extends the tree
/// of `first` entries unchanged, with both roots.
#[utoipa::path(
    get,
    path = "/api/v1/audit/consistency",
    tag = "audit",
    params(ConsistencyQuery),
    responses(
        (status = 200, body = ConsistencyView),
        (status = 400, description = "Not 1 <= first <= second <= the log's size", body = ErrorBody),
        (status = 403, description = "Only auditors and admins read the ledger", body = ErrorBody)
    )
)]
pub(super) async fn consistency(
    session: Session,
    state: web::Data<WebState>,
    q: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require_audit_rights()?;
    match audit::consistency(&state.store, q.first, q.second).await? {
        Some(c) => ok(c),
        None => Err(ApiError::bad(
            "first",
            format!(
                "need 1 <= first <= second <= {} (the log's size); got first {} and second {}",
                audit::log_size(&state.store).await?,
                q.first,
                q.second
            ),
        )),
    }
}

/// A 404: what needs the plant's key is not served by a host without it (a web front apart
/// from the closing host), and the message says where to go instead.
fn no_key(instead: &str) -> ApiError {
    ApiError::NotFound {
        code: "no_ledger_key",
        message: format!("this web host does not hold the plant's ledger key; {instead} on the closing host"),
    }
}

/// What a verification found, as the audit page shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerificationAnswer {
    /// Whether nothing is wrong.
    pub clean: bool,
    /// The key verified with (`name+id+key`).
    pub key: String,
    /// When it ran.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Entries, records and checkpoints checked; discrepancies with where they are; late
    /// arrivals; corrections.
    #[schema(value_type = Object)]
    pub report: audit::Verification,
}

/// Runs a verification now: every entry's bytes, chain and signature and every checkpoint,
/// and every closed period in scope recomputed from the raw records.
pub async fn run_verification(state: &WebState, scope: &PeriodScope) -> Result<VerificationAnswer, ApiError> {
    let Some(key) = verifier(state) else {
        return Err(no_key("verify with mes audit verify"));
    };
    let report = audit::verify(&state.store, &key, &[], scope, |_, _| {}).await?;
    Ok(VerificationAnswer { clean: report.clean(), key: key.encode(), at: chrono::Utc::now(), report })
}

/// Verifies the ledger now (`mes audit verify --json`): every hash, signature and checkpoint,
/// and the closed periods in scope recomputed from the raw records.
#[utoipa::path(
    get,
    path = "/api/v1/audit/verification",
    tag = "audit",
    params(PeriodQuery),
    responses(
        (status = 200, body = VerificationAnswer),
        (status = 403, description = "Only auditors and admins read the ledger", body = ErrorBody),
        (status = 404, description = "This web host does not hold the plant's ledger key", body = ErrorBody),
        (status = 413, description = "A period holds more rows than one request may read", body = ErrorBody)
    )
)]
pub(super) async fn verification(
    session: Session,
    state: web::Data<WebState>,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require_audit_rights()?;
    let scope = q.scope(state.calendar.time_zone)?;
    let _slot = state.costly_slot("/api/v1/audit/verification").await?;
    ok(run_verification(&state, &scope).await?)
}

/// The signed offline bundle of the chosen periods (`mes audit export`): verify it with
/// `mes audit verify --bundle FILE --key KEY`, no database needed.
#[utoipa::path(
    get,
    path = "/api/v1/audit/bundle",
    tag = "audit",
    params(PeriodQuery),
    responses(
        (status = 200, description = "The bundle (canonical JSON, signed)", content_type = "application/json", body = Object),
        (status = 403, description = "Only auditors and admins read the ledger", body = ErrorBody),
        (status = 404, description = "This web host does not hold the plant's ledger key", body = ErrorBody),
        (status = 413, description = "The bundle would be larger than the API hands out", body = ErrorBody)
    )
)]
pub(super) async fn bundle(
    session: Session,
    state: web::Data<WebState>,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require_audit_rights()?;
    let scope = q.scope(state.calendar.time_zone)?;
    let Some(key) = state.ledger.clone() else {
        return Err(no_key("export with mes audit export"));
    };
    let _slot = state.costly_slot("/api/v1/audit/bundle").await?;
    let bytes = audit::export(&state.store, &key, &scope).await?;
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(ApiError::TooLarge {
            code: "bundle_too_large",
            message: format!(
                "the bundle would be {} bytes, more than the {MAX_BUNDLE_BYTES} the API hands out; \
                 choose fewer periods or run mes audit export",
                bytes.len()
            ),
        });
    }
    let size = audit::log_size(&state.store).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"mes-audit-bundle-{size}.json\""),
        ))
        .body(bytes))
}
