//! The reports nobody has to ask for: once a shift has ended (plus the audit grace time, so the
//! collectors have drained what the PLCs still held) its shift report, and once a period is
//! closed into the audit ledger its audit report, written into `<data-dir>/reports` once each.
//! A shift in which a line recorded nothing gets no report.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Format, Kind, ReportError, Request, Templates};
use crate::config::Config;
use crate::domain::kpi::{Grain, buckets};
use crate::store::Store;

/// How far back an automatic round looks for ended shifts and closed periods.
const LOOK_BACK_DAYS: i64 = 2;

/// The automatic reporter's state: what it has written or found empty.
pub struct AutoReports {
    config: Config,
    templates: Templates,
    done: HashSet<String>,
}

impl AutoReports {
    /// A reporter writing into `config.data_dir/reports` with `templates`.
    pub fn new(config: Config, templates: Templates) -> Self {
        AutoReports { config, templates, done: HashSet::new() }
    }

    /// Where the reports go.
    pub fn dir(&self) -> PathBuf {
        self.config.data_dir.join("reports")
    }

    fn request(&self, kind: Kind, line: &str) -> Request {
        Request {
            kind,
            line: Some(line.to_owned()),
            from: None,
            to: None,
            shift: None,
            serial: None,
            by: None,
            lang: self.config.reports.lang,
            by_whom: "mes (automatic)".into(),
        }
    }

    /// Writes the reports due at `now` that are not written yet; returns the files written.
    pub async fn round(&mut self, store: &Store, now: DateTime<Utc>) -> Result<Vec<PathBuf>, ReportError> {
        let calendar = &self.config.calendar;
        let zone = calendar.time_zone;
        let until = now - self.config.audit.grace;
        let since = now - chrono::Duration::days(LOOK_BACK_DAYS);
        let dir = self.dir();
        let mut written = Vec::new();
        for line in store.lines().await? {
            // Buckets are clipped to [since, until): the shift running at `until` comes back cut
            // short there and must not pass for ended. Only shifts whose real end has passed.
            let ended = |b: &crate::domain::kpi::Bucket| {
                b.end > since && calendar.locate(b.start).is_some_and(|s| s.end == b.end && s.end <= until)
            };
            for shift in buckets(calendar, since, until, Grain::Shift).into_iter().filter(ended) {
                let stem = format!("shift-{}-{}", super::slug(line.id.as_str()), super::slug(&shift.label));
                if self.done.contains(&stem) || dir.join(format!("{stem}.html")).exists() {
                    continue;
                }
                // A cheap look first: most lines record in most shifts, but a calendar of short
                // shifts or a line that was down must not cost a whole report each.
                let any = crate::store::StationResultFilter {
                    line: Some(line.id.clone()),
                    from: Some(shift.start),
                    to: Some(shift.end),
                    ..Default::default()
                };
                if store.station_results(&any, 0, 1).await?.is_empty() {
                    self.done.insert(stem);
                    continue;
                }
                let request =
                    Request { shift: Some(shift.label.clone()), ..self.request(Kind::Shift, line.id.as_str()) };
                let report = super::assemble(store, &self.config, &request, false, now).await?;
                written.extend(report.write(&dir, &[Format::Html, Format::Csv], &self.templates, &request, zone)?);
                self.done.insert(stem);
            }
        }
        let filter = crate::audit::EntryFilter {
            scope: crate::audit::PeriodScope { line: None, from: Some(since), to: None },
            after: None,
            limit: usize::MAX,
        };
        for entry in crate::audit::entries(store, &filter).await?.into_iter().filter(|e| e.kind == "period") {
            let stem = format!("audit-{}-{}", super::slug(&entry.line), super::slug(&entry.period));
            if self.done.contains(&stem) || dir.join(format!("{stem}.html")).exists() {
                continue;
            }
            let request = Request {
                from: Some(entry.start.to_rfc3339()),
                to: Some(entry.end.to_rfc3339()),
                ..self.request(Kind::Audit, &entry.line)
            };
            let mut report = super::assemble(store, &self.config, &request, false, now).await?;
            report.stem = stem.clone();
            written.extend(report.write(&dir, &[Format::Html, Format::Csv], &self.templates, &request, zone)?);
            self.done.insert(stem);
        }
        Ok(written)
    }
}

/// Runs [`AutoReports::round`] every `every` until `stop` turns true; failures are logged and
/// retried next round.
pub async fn run(
    store: Arc<Store>,
    mut reporter: AutoReports,
    now: impl Fn() -> DateTime<Utc>,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match reporter.round(&store, now()).await {
            Ok(files) => {
                for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "html")) {
                    tracing::info!(file = %f.display(), "report written");
                }
            }
            Err(e) => tracing::warn!(error = %e, "writing the automatic reports failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
