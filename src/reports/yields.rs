//! The yield report: a line's yields over a period with their trend per shift or day and the
//! defect Pareto, for the quality engineer.

use chrono::{DateTime, Utc};

use super::{Report, ReportError, Request};
use crate::config::Config;
use crate::store::Store;

/// Assembles the yield report.
pub async fn assemble(
    _store: &Store,
    _config: &Config,
    _request: &Request,
    _png: bool,
    _now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    Err(ReportError::NotFound("the yield report is not built yet".into()))
}
