//! `mes bench reports`: the shift report of a full 12-hour shift of each line on a filled store,
//! timed per format (HTML, CSV, PNG charts, and PDF in a build with the `pdf` feature), and the
//! line page's three charts drawn by plotters
//! against the hand-written SVG they replaced, in the same run.

use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use chrono::{Duration, NaiveTime, TimeZone, Utc};
use clap::Args;
use mes::bench::sample_plant::plant_model;
use mes::config::Config;
use mes::domain::shift::{ShiftCalendar, ShiftDef};
use mes::present::charts::{self, Bars, HourlyOutput, Theme, Timeline};
use mes::present::i18n::Lang;
use mes::reports::{self, Format, Kind, Request, Templates};
use mes::store::{Store, sqlite_url};

/// Options of `mes bench reports`.
#[derive(Debug, Args)]
pub struct ReportsBenchArgs {
    /// Times each measurement is repeated (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seed of the sample plant.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also run on PostgreSQL: an admin URL; a fresh database is created (and dropped).
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Skip SQLite (PostgreSQL only).
    #[arg(long)]
    no_sqlite: bool,
}

/// Two 12-hour shifts a day, the pattern the benchmark asks for.
fn twelve_hour_shifts(zone: chrono_tz::Tz) -> anyhow::Result<ShiftCalendar> {
    let at = |h: u32| NaiveTime::from_hms_opt(h, 0, 0).context("time");
    Ok(ShiftCalendar {
        time_zone: zone,
        shifts: vec![
            ShiftDef { name: "D".into(), start: at(6)?, end: at(18)?, breaks: Vec::new() },
            ShiftDef { name: "N".into(), start: at(18)?, end: at(6)?, breaks: Vec::new() },
        ],
    })
}

/// The median of `runs` timings of `f`.
async fn median<F, Fut, T>(runs: usize, mut f: F) -> anyhow::Result<(StdDuration, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f().await?);
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], last.context("at least one run")?))
}

fn ms(d: StdDuration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub async fn run(config: &Config, args: &ReportsBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let zone = config.calendar.time_zone;
    let calendar = twelve_hour_shifts(zone)?;
    // Two days recorded from a Monday's local midnight; the report is Tuesday's day shift, so
    // the units it sees have history before it.
    let start = zone.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).single().context("local midnight")?.with_timezone(&Utc);
    super::super::emit(&format!(
        "reports benchmark: 2 days of 3 lines recorded from {start}, shift report of 2026-01-06 D (06:00–18:00, 12 h) \
         per line, median of {} runs\nmachine: {} logical CPUs, {} build\n\n",
        args.runs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
    ))?;
    let temp = tempfile::tempdir().context("temp folder")?;
    if !args.no_sqlite {
        let url = sqlite_url(&temp.path().join("reports-bench.sqlite"));
        super::super::emit(&measure("SQLite", &url, &calendar, args, start, temp.path()).await?)?;
    }
    if let Some(admin) = &args.postgres_url {
        super::on_postgres(admin, "reports", |url| async move {
            measure("PostgreSQL", &url, &calendar, args, start, temp.path()).await
        })
        .await?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn measure(
    backend: &str,
    url: &str,
    calendar: &ShiftCalendar,
    args: &ReportsBenchArgs,
    start: chrono::DateTime<Utc>,
    dir: &std::path::Path,
) -> anyhow::Result<String> {
    let store = Store::connect(url).await?;
    store.migrate_up().await?;
    store.register_plant(&plant_model()).await?;
    let t = Instant::now();
    let recorded = super::audit::record(&store, args.seed, 2, start).await?;
    let mut out = format!("{backend}: {recorded} station results recorded in {:.1} s\n", t.elapsed().as_secs_f64());
    let config = Config { calendar: calendar.clone(), data_dir: dir.to_owned(), ..Default::default() };
    let templates = Templates::default();
    let now = start + Duration::days(3);
    out.push_str("  line        results   assemble      HTML       CSV  PNG charts        PDF  written HTML+CSV\n");
    for line in ["smt-1", "phone-1", "tablet-1"] {
        let request = Request {
            kind: Kind::Shift,
            line: Some(line.into()),
            from: None,
            to: None,
            shift: Some("2026-01-06 D".into()),
            serial: None,
            by: None,
            lang: Lang::Vi,
            by_whom: "bench".into(),
        };
        let zone = calendar.time_zone;
        let (assemble, report) =
            median(args.runs, || async { Ok(reports::assemble(&store, &config, &request, false, now).await?) }).await?;
        let (html, _) = median(args.runs, || async {
            let r = reports::assemble(&store, &config, &request, false, now).await?;
            Ok(r.html(&templates, &request, zone)?)
        })
        .await?;
        let (csv, _) = median(args.runs, || async {
            let r = reports::assemble(&store, &config, &request, false, now).await?;
            Ok(r.tables.iter().map(|t| t.csv().len()).sum::<usize>())
        })
        .await?;
        let (png, _) =
            median(args.runs, || async { Ok(reports::assemble(&store, &config, &request, true, now).await?) }).await?;
        // PDF (in process, typst) only in a build with the `pdf` feature.
        let pdf = if cfg!(feature = "pdf") {
            let (t, _) = median(args.runs, || async {
                let r = reports::assemble(&store, &config, &request, false, now).await?;
                Ok(r.pdf(&templates, &request, zone)?)
            })
            .await?;
            ms(t)
        } else {
            "(no pdf feature)".to_owned()
        };
        let written = report.write(&dir.join("out"), &[Format::Html, Format::Csv], &templates, &request, zone)?;
        let bytes: u64 = written.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        let results = report.data.pointer("/recorded").and_then(serde_json::Value::as_u64).unwrap_or(0);
        out.push_str(&format!(
            "  {line:<10} {results:>8} {:>10} {:>9} {:>9} {:>11} {:>10}  {} files, {} KiB\n",
            ms(assemble),
            ms(html),
            ms(csv),
            ms(png),
            pdf,
            written.len(),
            bytes / 1024
        ));
    }
    out.push_str(&charts_against_baseline(&store, calendar, args.runs).await?);
    store.close().await?;
    Ok(out)
}

/// The line page's three charts of phone-1's 12-hour shift, drawn `k` times by plotters and by
/// the hand-written SVG they replaced.
async fn charts_against_baseline(store: &Store, calendar: &ShiftCalendar, runs: usize) -> anyhow::Result<String> {
    let zone = calendar.time_zone;
    let from = zone.with_ymd_and_hms(2026, 1, 6, 6, 0, 0).single().context("06:00")?.with_timezone(&Utc);
    let to = from + Duration::hours(12);
    let line = mes::domain::LineId::parse("phone-1").map_err(anyhow::Error::msg)?;
    let detail = mes::figures::line_detail_over(store, calendar, &line, (from, to), to + Duration::days(1)).await?;
    let rows: Vec<(String, &[mes::domain::state::StateInterval])> =
        detail.stations.iter().map(|s| (s.station.to_string(), s.timeline.as_slice())).collect();
    let intervals: usize = rows.iter().map(|r| r.1.len()).sum();
    let lang = Lang::En;
    // The plotters Pareto labels bars with the catalogue's names; the frozen baseline drew codes.
    let names = store.defect_names().await?;
    let k = 20 * runs.max(1);
    let time = |f: &mut dyn FnMut() -> usize| {
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..k {
            bytes = f();
        }
        (t.elapsed() / k as u32, bytes)
    };
    let (new, new_bytes) = time(&mut || {
        charts::svg(&HourlyOutput { hours: &detail.hourly, lang }, Theme::Screen).map_or(0, |s| s.len())
            + charts::svg(&Bars::pareto(&detail.top_defects, &names, lang), Theme::Screen).map_or(0, |s| s.len())
            + charts::svg(&Timeline { rows: &rows, from, to, lang, zone }, Theme::Screen).map_or(0, |s| s.len())
    });
    let (old, old_bytes) = time(&mut || {
        baseline::hourly_output(&detail.hourly, lang, "plan").len()
            + baseline::pareto(&detail.top_defects, lang).len()
            + baseline::timeline(&rows, from, to, lang, zone).len()
    });
    let (png, png_bytes) = time(&mut || {
        charts::png(&HourlyOutput { hours: &detail.hourly, lang }, Theme::Print).map_or(0, |s| s.len())
            + charts::png(&Bars::pareto(&detail.top_defects, &names, lang), Theme::Print).map_or(0, |s| s.len())
            + charts::png(&Timeline { rows: &rows, from, to, lang, zone }, Theme::Print).map_or(0, |s| s.len())
    });
    Ok(format!(
        "  line page charts of phone-1's shift ({} hours, {} defect codes, {} state intervals), {k} draws each:\n\
         \x20   plotters SVG {:>9} per set ({} KiB)\n\
         \x20   hand-written SVG (baseline) {:>9} per set ({} KiB) -> plotters takes {:.2} x the baseline's time\n\
         \x20   plotters PNG {:>9} per set ({} KiB)\n",
        detail.hourly.len(),
        detail.top_defects.len(),
        intervals,
        ms(new),
        new_bytes / 1024,
        ms(old),
        old_bytes / 1024,
        new.as_secs_f64() / old.as_secs_f64().max(1e-12),
        ms(png),
        png_bytes / 1024,
    ))
}

/// The charts as they were drawn before plotters (hand-written SVG, `src/web/charts.rs` at
/// commit 9324669), frozen here as the baseline the plotters charts are timed against.
mod baseline {
    #![allow(clippy::unwrap_used)]
    use std::fmt::Write;

    use chrono::{DateTime, Timelike, Utc};
    use mes::domain::kpi::ParetoBar;
    use mes::domain::state::{MachineState, StateInterval};
    use mes::figures::HourOutput;
    use mes::present::charts::{esc, state_colour};
    use mes::present::i18n::Lang;

    const FONT: &str = "font-family=\"DejaVu Sans, sans-serif\"";

    /// Output per hour as bars, each hour's plan as a white tick with its number; values written
    /// on the bars.
    pub(super) fn hourly_output(hours: &[HourOutput], lang: Lang, plan_word: &str) -> String {
        let (w, h, top, bottom, left) = (1100.0, 300.0, 36.0, 40.0, 16.0);
        // At least 8 slots wide: one early hour of a shift is a bar, not a wall.
        let n = hours.len().max(8) as f64;
        let max = hours.iter().map(|o| o.output.max(o.plan.unwrap_or(0))).max().unwrap_or(0).max(1) as f64;
        let slot = (w - left * 2.0) / n;
        let plot = h - top - bottom;
        let y = |v: f64| top + plot - plot * v / max;
        let mut svg =
            format!("<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"output per hour\" {FONT}>");
        for (i, o) in hours.iter().enumerate() {
            let x = left + slot * i as f64;
            let bar_w = slot * 0.7;
            let bx = x + slot * 0.15;
            let top_y = y(o.output as f64);
            let _ = write!(
                svg,
                "<rect x=\"{bx:.1}\" y=\"{top_y:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"#0072B2\"><title>{}: {}</title></rect>",
                (top + plot - top_y).max(0.0),
                esc(&o.label),
                lang.count(o.output)
            );
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#f4f4f4\" font-size=\"22\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
                bx + bar_w / 2.0,
                (top_y - 6.0).max(20.0),
                lang.count(o.output)
            );
            if let Some(plan) = o.plan {
                let py = y(plan as f64);
                let _ = write!(
                    svg,
                    "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#ffffff\" stroke-width=\"4\" stroke-dasharray=\"10 5\"><title>{}: {}</title></line>",
                    bx - 4.0,
                    bx + bar_w + 4.0,
                    esc(plan_word),
                    lang.count(plan)
                );
            }
            let hour = o.label.rsplit(' ').next().unwrap_or(&o.label);
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#cfcfcf\" font-size=\"20\" text-anchor=\"middle\">{}</text>",
                bx + bar_w / 2.0,
                h - 12.0,
                esc(hour)
            );
        }
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/></svg>",
            w - left,
            top + plot,
            top + plot
        );
        svg
    }

    /// Defects as horizontal bars, most frequent first, each with its count and share.
    pub(super) fn pareto(defects: &[ParetoBar], lang: Lang) -> String {
        let (w, row) = (700.0, 44.0);
        let h = row * defects.len().max(1) as f64 + 8.0;
        let max = defects.iter().map(|d| d.count).max().unwrap_or(1).max(1) as f64;
        let (label_w, bar_max) = (230.0, 300.0);
        let mut svg =
            format!("<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"top defects\" {FONT}>");
        for (i, d) in defects.iter().enumerate() {
            let y = 4.0 + row * i as f64;
            let bw = bar_max * d.count as f64 / max;
            let _ = write!(
                svg,
                "<text x=\"0\" y=\"{:.1}\" fill=\"#f4f4f4\" font-size=\"22\">{}</text>\
                 <rect x=\"{label_w}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#D55E00\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#f4f4f4\" font-size=\"22\">{} ({})</text>",
                y + 28.0,
                esc(&d.code),
                y + 6.0,
                row - 14.0,
                label_w + bw + 10.0,
                y + 28.0,
                lang.count(d.count),
                lang.percent(Some(d.share))
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// One row per station of its state intervals across `[from, to)`, faults hatched, hours
    /// marked in plant time; each interval's state, reason and times in its tooltip.
    pub(super) fn timeline(
        rows: &[(String, &[StateInterval])],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        lang: Lang,
        zone: chrono_tz::Tz,
    ) -> String {
        let (w, row, left, axis) = (1100.0, 40.0, 130.0, 30.0);
        let h = row * rows.len().max(1) as f64 + axis;
        let span = (to - from).num_milliseconds().max(1) as f64;
        let x =
            |t: DateTime<Utc>| left + (w - left - 10.0) * ((t - from).num_milliseconds() as f64 / span).clamp(0.0, 1.0);
        let mut svg = format!(
            "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"machine states\" {FONT}>\
             <defs><pattern id=\"hatch\" width=\"12\" height=\"12\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
             <rect width=\"12\" height=\"12\" fill=\"{}\"/><rect width=\"4\" height=\"12\" fill=\"#000\" opacity=\"0.55\"/></pattern></defs>",
            state_colour(MachineState::Fault)
        );
        for (i, (station, intervals)) in rows.iter().enumerate() {
            let y = row * i as f64;
            let _ = write!(
                svg,
                "<text x=\"0\" y=\"{:.1}\" fill=\"#f4f4f4\" font-size=\"22\">{}</text>",
                y + row * 0.68,
                esc(station)
            );
            for run in columns(intervals, from, to, COLUMNS) {
                let fill = match run.state {
                    MachineState::Fault => "url(#hatch)".to_owned(),
                    s => state_colour(s).to_owned(),
                };
                let reason = run.reason.as_deref().map(|r| format!(" — {}", esc(r))).unwrap_or_default();
                let _ = write!(
                    svg,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"{fill}\" data-state=\"{}\"><title>{}{reason}: {}–{}</title></rect>",
                    x(run.start),
                    y + 4.0,
                    (x(run.end) - x(run.start)).max(0.5),
                    row - 8.0,
                    run.state.as_str(),
                    lang.state(run.state),
                    lang.time(run.start, zone),
                    lang.time(run.end, zone)
                );
            }
        }
        // Ticks in plant time, on whole quarters or hours.
        let span_h = (to - from).num_minutes() as f64 / 60.0;
        let step = chrono::Duration::minutes(match span_h {
            h if h <= 2.0 => 15,
            h if h <= 12.0 => 60,
            _ => 120,
        });
        let zone_from = from.with_timezone(&zone);
        let mut tick = zone_from
            .date_naive()
            .and_hms_opt(zone_from.hour(), 0, 0)
            .and_then(|t| t.and_local_timezone(zone).earliest())
            .map(|t| t.to_utc());
        while let Some(t) = tick.filter(|t| *t < from) {
            tick = Some(t + step);
        }
        let base = h - axis;
        while let Some(t) = tick.filter(|t| *t <= to) {
            let _ = write!(
                svg,
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{base:.1}\" stroke=\"#000\" stroke-opacity=\"0.5\"/>\
                 <text x=\"{0:.1}\" y=\"{1:.1}\" fill=\"#cfcfcf\" font-size=\"18\" text-anchor=\"middle\">{2}</text>",
                x(t),
                h - 6.0,
                lang.time(t, zone)
            );
            tick = Some(t + step);
        }
        svg.push_str("</svg>");
        svg
    }

    /// Columns a timeline row is cut into: a state shorter than a column is not drawn as its own
    /// sliver (a shift of starved/running flips would be tens of thousands of shapes).
    const COLUMNS: usize = 480;

    /// A run of columns drawn as one state.
    #[derive(Debug, Clone, PartialEq)]
    struct Run {
        state: MachineState,
        reason: Option<String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    }

    /// `[from, to)` cut into `n` columns, each shown as the state that took most of its recorded
    /// time — a fault anywhere in a column shows as fault, so no breakdown disappears — and equal
    /// neighbours joined. Columns without a recorded state are left empty.
    fn columns(intervals: &[StateInterval], from: DateTime<Utc>, to: DateTime<Utc>, n: usize) -> Vec<Run> {
        let span = (to - from).num_milliseconds().max(1);
        let edge = |k: usize| from + chrono::Duration::milliseconds(span * k as i64 / n as i64);
        let mut runs: Vec<Run> = Vec::new();
        let mut next = 0usize;
        for k in 0..n {
            let (c0, c1) = (edge(k), edge(k + 1));
            let mut time: Vec<(MachineState, i64, Option<&str>)> = Vec::new();
            // Intervals are in time order: skip those ended before this column.
            while next < intervals.len() && intervals[next].ended_at.is_some_and(|e| e <= c0) {
                next += 1;
            }
            for iv in intervals[next..].iter().take_while(|iv| iv.started_at < c1) {
                let overlap = (iv.ended_at.unwrap_or(to).min(c1) - iv.started_at.max(c0)).num_milliseconds();
                if overlap <= 0 {
                    continue;
                }
                match time.iter_mut().find(|t| t.0 == iv.state) {
                    Some(t) => t.1 += overlap,
                    None => time.push((iv.state, overlap, iv.reason.as_deref())),
                }
            }
            let shown = time.iter().find(|t| t.0 == MachineState::Fault).or_else(|| time.iter().max_by_key(|t| t.1));
            let Some((state, _, reason)) = shown else { continue };
            match runs.last_mut() {
                Some(last) if last.state == *state && last.end == c0 => last.end = c1,
                _ => runs.push(Run { state: *state, reason: reason.map(str::to_owned), start: c0, end: c1 }),
            }
        }
        runs
    }
}
