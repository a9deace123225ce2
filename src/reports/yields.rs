//! The yield report: a line's yields over a period (first-pass, retest and final per station,
//! RTY, scrap, DPMO) with their trend per shift or day and the defect Pareto, for the quality
//! engineer.

use chrono::{DateTime, Utc};

use super::shift::{defect_table, line_of, line_yield_table, range, yield_table};
use super::{Cell, Figure, Kind, Report, ReportError, Request, Table};
use crate::config::Config;
use crate::domain::kpi::Grain;
use crate::figures::{self, Scope};
use crate::present::charts::{Bars, Trend};
use crate::store::Store;

/// The default span of a yield report without `--from`: a week.
const DEFAULT_DAYS: i64 = 7;

/// Assembles the yield report.
pub async fn assemble(
    store: &Store,
    config: &Config,
    request: &Request,
    png: bool,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let calendar = &config.calendar;
    let lang = request.lang;
    let (line, name) = line_of(store, request).await?;
    let period =
        range(request.from.as_deref(), request.to.as_deref(), calendar, now, chrono::Duration::days(DEFAULT_DAYS))?;
    let grain = match request.by.as_deref() {
        Some("shift") => Grain::Shift,
        Some("day") => Grain::Day,
        Some(other) => {
            return Err(ReportError::Request { field: "by", message: format!("{other:?} is not shift or day") });
        }
        // Days for more than three days, else shifts: a trend of 3 to 30-odd points.
        None if period.to - period.from > chrono::Duration::days(3) => Grain::Day,
        None => Grain::Shift,
    };
    let whole = Scope { line: line.clone(), station: None, from: period.from, to: period.to, by: None };
    let sliced = Scope { by: Some(grain), ..whole.clone() };
    let y = figures::yields(store, calendar, &whole).await?.slices.into_iter().next().map(|s| s.figures);
    let y = y.ok_or_else(|| ReportError::NotFound("the yield figures have no slice for the period".into()))?;
    let trend = figures::yields(store, calendar, &sliced).await?;
    let pareto = figures::pareto(store, calendar, &whole).await?;
    let names = store.defect_names().await?;
    let defects = pareto.slices.into_iter().next().map(|s| s.figures.defects).unwrap_or_default();

    let mut trend_table = Table::new("trend", &["label", "from", "to", "rty", "units", "scrap_rate", "dpmo"]);
    let mut points = Vec::new();
    for s in &trend.slices {
        let f = &s.figures;
        trend_table.push(vec![
            Cell::Text(s.bucket.label.clone()),
            Cell::Time(Some(s.bucket.start)),
            Cell::Time(Some(s.bucket.end)),
            Cell::Ratio(f.rty),
            Cell::Count(f.line_yield.units),
            Cell::Ratio(f.line_yield.scrap_rate),
            Cell::Number(f.line_yield.dpmo, 0),
        ]);
        // Labels start with the ISO date; the year goes (the header says it).
        let short = s.bucket.label.get(5..).unwrap_or(&s.bucket.label).to_owned();
        points.push((short, f.rty));
    }
    let mut figures_out =
        vec![Figure::draw("trend", &Trend { label: "rolled throughput yield".into(), points, lang }, png)?];
    if !defects.is_empty() {
        figures_out.push(Figure::draw("defects", &Bars::pareto(&defects[..defects.len().min(15)], &names, lang), png)?);
    }
    let tables = vec![yield_table(&y), line_yield_table(&y), trend_table, defect_table(&defects, &names, lang)];
    let data = serde_json::json!({
        "line": { "code": line.as_str(), "name": name },
        "period": period.document(lang, calendar.time_zone),
        "by": match grain { Grain::Shift => "shift", Grain::Day => "day", Grain::Hour => "hour" },
        "headline": {
            "rty": lang.percent(y.rty),
            "units": lang.count(y.line_yield.units),
            "scrap_rate": lang.percent(y.line_yield.scrap_rate),
            "dpmo": y.line_yield.dpmo.map_or_else(|| "—".to_owned(), |d| lang.decimal(d, 0)),
        },
    });
    Ok(Report {
        kind: Kind::Yield,
        stem: format!("yield-{}-{}", super::slug(line.as_str()), super::slug(&period.label)),
        header: format!("{name} ({line}) · {}", period.label),
        data,
        tables,
        figures: figures_out,
        generated_at: now,
    })
}
