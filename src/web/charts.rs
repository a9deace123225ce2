//! Charts as plain inline SVG, drawn on the server: no chart library, no script, nothing fetched,
//! and a page is complete before any script runs. Colours are the Okabe–Ito set (told apart by
//! colour-blind viewers), and every mark also carries words: values written beside bars, a
//! legend naming each state, a hatch on faults, a `<title>` tooltip on each interval.
//!
//! Must never: compute a figure (they arrive computed) or format a number itself (the page's
//! [`Lang`] does).

use std::fmt::Write;

use chrono::{DateTime, Timelike, Utc};

use super::i18n::Lang;
use crate::domain::kpi::ParetoBar;
use crate::domain::state::{MachineState, StateInterval};
use crate::figures::HourOutput;

/// Escapes text for SVG/HTML content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colour of a state (the same on every chart and in the CSS).
pub fn state_colour(state: MachineState) -> &'static str {
    match state {
        MachineState::Running => "#0072B2",
        MachineState::Fault => "#D55E00",
        MachineState::Idle => "#E69F00",
        MachineState::Blocked => "#CC79A7",
        MachineState::Starved => "#F0E442",
        MachineState::Changeover => "#009E73",
        MachineState::Maintenance => "#56B4E9",
        MachineState::Off => "#6b6b6b",
    }
}

/// Every state, in legend order.
pub const STATES: [MachineState; 8] = [
    MachineState::Running,
    MachineState::Fault,
    MachineState::Idle,
    MachineState::Blocked,
    MachineState::Starved,
    MachineState::Changeover,
    MachineState::Maintenance,
    MachineState::Off,
];

const FONT: &str = "font-family=\"DejaVu Sans, sans-serif\"";

/// Output per hour as bars, each hour's plan as a white tick with its number; values written
/// on the bars.
pub fn hourly_output(hours: &[HourOutput], lang: Lang, plan_word: &str) -> String {
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
pub fn pareto(defects: &[ParetoBar], lang: Lang) -> String {
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
pub fn timeline(
    rows: &[(String, &[StateInterval])],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    lang: Lang,
    zone: chrono_tz::Tz,
) -> String {
    let (w, row, left, axis) = (1100.0, 40.0, 130.0, 30.0);
    let h = row * rows.len().max(1) as f64 + axis;
    let span = (to - from).num_milliseconds().max(1) as f64;
    let x = |t: DateTime<Utc>| left + (w - left - 10.0) * ((t - from).num_milliseconds() as f64 / span).clamp(0.0, 1.0);
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

/// The legend of [`timeline`]: each state's swatch and its word.
pub fn legend(lang: Lang) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for s in STATES {
        let swatch = match s {
            MachineState::Fault => {
                format!("background: repeating-linear-gradient(45deg, {0} 0 6px, #5a2000 6px 9px)", state_colour(s))
            }
            _ => format!("background: {}", state_colour(s)),
        };
        let _ = write!(out, "<li><span class=\"swatch\" style=\"{swatch}\"></span>{}</li>", lang.state(s));
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    fn iv(state: MachineState, from_s: i64, to_s: Option<i64>) -> StateInterval {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
        StateInterval {
            line: crate::domain::LineId::parse("l").unwrap(),
            station: crate::domain::StationId::parse("S").unwrap(),
            started_at: t0 + chrono::Duration::seconds(from_s),
            ended_at: to_s.map(|s| t0 + chrono::Duration::seconds(s)),
            plc_code: 0,
            state,
            fault_code: None,
            reason: None,
        }
    }

    /// 100 s in 10 columns of 10 s: running 0–42 with a 1 s fault at 15, then starved 6 s /
    /// running 4 s flips to the end; the still-open last interval ends at `to`.
    #[test]
    fn columns_keep_faults_and_show_the_dominant_state() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
        let mut list = vec![
            iv(MachineState::Running, 0, Some(15)),
            iv(MachineState::Fault, 15, Some(16)),
            iv(MachineState::Running, 16, Some(42)),
        ];
        let mut t = 42;
        while t < 99 {
            let starved_until = (t + 6).min(99);
            list.push(iv(MachineState::Starved, t, Some(starved_until)));
            list.push(iv(MachineState::Running, starved_until, Some((starved_until + 4).min(99))));
            t = starved_until + 4;
        }
        list.push(iv(MachineState::Running, 99, None));
        let runs = columns(&list, t0, t0 + chrono::Duration::seconds(100), 10);
        let shape: Vec<(MachineState, i64, i64)> =
            runs.iter().map(|r| (r.state, (r.start - t0).num_seconds(), (r.end - t0).num_seconds())).collect();
        assert_eq!(
            shape,
            vec![
                (MachineState::Running, 0, 10),
                (MachineState::Fault, 10, 20),
                (MachineState::Running, 20, 40),
                // 40–50: running 2 s + 2 s, starved 6 s.
                (MachineState::Starved, 40, 100),
            ]
        );
    }

    #[test]
    fn hourly_bars_write_every_value_and_plan() {
        let at = |h| DateTime::parse_from_rfc3339(&format!("2026-12-01T{h:02}:00:00Z")).unwrap().to_utc();
        let hours = vec![
            HourOutput { label: "2026-12-01 14:00".into(), from: at(7), to: at(8), output: 1234, plan: Some(1300) },
            HourOutput { label: "2026-12-01 15:00".into(), from: at(8), to: at(9), output: 0, plan: None },
        ];
        let svg = hourly_output(&hours, Lang::Vi, "kế hoạch");
        assert!(svg.contains(">1.234<"), "{svg}");
        assert!(svg.contains("kế hoạch: 1.300"), "{svg}");
        assert!(svg.contains(">14:00<") && svg.contains(">15:00<"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
