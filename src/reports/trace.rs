//! The trace certificate.

use chrono::{DateTime, Utc};

use super::{Report, ReportError, Request};
use crate::config::Config;
use crate::store::Store;

/// Assembles the report.
pub async fn assemble(
    _store: &Store,
    _config: &Config,
    _request: &Request,
    _now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    Err(ReportError::NotFound("not built yet".into()))
}
