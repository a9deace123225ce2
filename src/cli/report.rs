//! `mes report KIND`: writes a printable report (HTML, a CSV per table, PNG charts) and prints
//! the paths of the files it wrote.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use mes::config::Config;
use mes::reports::{self, Format, Kind, Request, Templates};

/// What to report on and where to write it.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// shift, yield, trace (certificate of a serial) or audit (output audit).
    #[arg(value_parser = ["shift", "yield", "trace", "audit"])]
    kind: String,
    /// Line code (shift and yield; audit: only this line).
    #[arg(long)]
    line: Option<String>,
    /// Start (inclusive): RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive); default now.
    #[arg(long)]
    to: Option<String>,
    /// A named shift, `"YYYY-MM-DD NAME"` in plant time (shift report; default: the last ended).
    #[arg(long)]
    shift: Option<String>,
    /// Serial of the unit (trace certificate).
    #[arg(long)]
    serial: Option<String>,
    /// Trend slices of the yield report: shift or day.
    #[arg(long, value_parser = ["shift", "day"])]
    by: Option<String>,
    /// Comma-separated formats: html, csv, png, pdf (pdf: a build with `--features pdf`).
    #[arg(long, default_value = "html,csv")]
    format: String,
    /// Folder to write into; default `<data-dir>/reports`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Template folder overriding the built-in layouts; default `[reports] templates`, else
    /// `./reports` when it exists.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Name printed as who generated the report; default the login name.
    #[arg(long)]
    author: Option<String>,
}

/// The template folder in force: the flag, the config, else `./reports` when it exists.
pub fn template_dir(flag: Option<&PathBuf>, config: &Config) -> Option<PathBuf> {
    flag.cloned().or_else(|| config.reports.templates.clone()).or_else(|| {
        let here = PathBuf::from("reports");
        here.is_dir().then_some(here)
    })
}

pub async fn run(config: &Config, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let formats = Format::parse_list(&args.format)?;
    if formats.contains(&Format::Pdf) && !cfg!(feature = "pdf") {
        anyhow::bail!(reports::ReportError::PdfUnavailable);
    }
    let request = Request {
        kind: Kind::parse(&args.kind).context("report kind")?,
        line: args.line.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        shift: args.shift.clone(),
        serial: args.serial.clone(),
        by: args.by.clone(),
        lang: config.lang,
        by_whom: args.author.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "mes report".into()),
    };
    let templates = Templates::from_dir(template_dir(args.templates.as_ref(), config).as_deref());
    let store = super::open_store(config).await?;
    let report = reports::assemble(&store, config, &request, formats.contains(&Format::Png), Utc::now()).await?;
    let out = args.out.clone().unwrap_or_else(|| config.data_dir.join("reports"));
    for path in report.write(&out, &formats, &templates, &request, config.calendar.time_zone)? {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// How often the automatic reporter looks for ended shifts and closed periods.
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts writing each ended shift's report and each closed period's audit report into
/// `<data-dir>/reports` (`[reports] auto`, on by default).
pub fn start_auto_reports(config: &Config, store: std::sync::Arc<mes::store::Store>) -> Option<super::app::Background> {
    if !config.reports.auto {
        return None;
    }
    let templates = Templates::from_dir(template_dir(None, config).as_deref());
    let reporter = reports::auto::AutoReports::new(config.clone(), templates);
    tracing::info!(dir = %reporter.dir().display(), "writing each ended shift's report");
    Some(super::app::Background::spawn(move |stopped| {
        reports::auto::run(store, reporter, Utc::now, REPORT_EVERY, stopped)
    }))
}
