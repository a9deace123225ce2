//! Charts drawn by plotters, the one drawing code of the dashboards and the printed reports: SVG
//! to put inline in HTML, PNG on request, text set in an embedded DejaVu Sans (Vietnamese
//! diacritics included; no fontconfig, no system font). Colours are the Okabe–Ito set (told
//! apart by colour-blind viewers), and every mark also carries words or a pattern: values
//! written on bars, a legend naming each state, faults hatched.
//!
//! Must never: compute a figure (they arrive computed) or format a number itself (the
//! [`Lang`] does).

use std::fmt::Write as _;
use std::sync::Once;

use chrono::{DateTime, Timelike, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::i18n::Lang;
use crate::domain::kpi::ParetoBar;
use crate::domain::plant::CodeNames;
use crate::domain::state::{MachineState, StateInterval};
use crate::figures::HourOutput;

/// The embedded typeface every chart is set in (DejaVu Sans, free licence beside it).
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// The family name charts ask plotters for; registered once with [`FONT`].
const FAMILY: &str = "sans-serif";

/// Registers [`FONT`] with plotters' `ab_glyph` text renderer, once per process.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if register_font(FAMILY, style, FONT).is_err() {
                tracing::error!(font = "DejaVuSans.ttf", "the embedded chart font does not parse");
            }
        }
    });
}

/// Why a chart could not be drawn (a backend failure or a font that did not load).
#[derive(Debug, thiserror::Error)]
#[error("chart {chart}: {message}")]
pub struct ChartError {
    /// The chart's label.
    pub chart: String,
    /// What the backend said.
    pub message: String,
}

/// Where a chart is shown: on the dark wall-screen pages or on paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// Light marks on the dashboards' dark background.
    Screen,
    /// Dark marks on white, for printed reports.
    Print,
}

/// The neutral colours of a [`Theme`]; state and series colours are the same in both.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    /// Background.
    pub background: RGBColor,
    /// Words and values.
    pub text: RGBColor,
    /// Axis labels.
    pub muted: RGBColor,
    /// Axes and grid lines.
    pub axis: RGBColor,
    /// The plan marks on output bars.
    pub plan: RGBColor,
}

impl Theme {
    /// This theme's neutral colours.
    pub fn palette(self) -> Palette {
        match self {
            Theme::Screen => Palette {
                background: RGBColor(0x18, 0x18, 0x18),
                text: RGBColor(0xf4, 0xf4, 0xf4),
                muted: RGBColor(0xcf, 0xcf, 0xcf),
                axis: RGBColor(0x88, 0x88, 0x88),
                plan: RGBColor(0xff, 0xff, 0xff),
            },
            Theme::Print => Palette {
                background: RGBColor(0xff, 0xff, 0xff),
                text: RGBColor(0x11, 0x11, 0x11),
                muted: RGBColor(0x44, 0x44, 0x44),
                axis: RGBColor(0x66, 0x66, 0x66),
                plan: RGBColor(0x00, 0x00, 0x00),
            },
        }
    }
}

/// A picture of some figures, drawable on any plotters backend at its own pixel size.
pub trait Chart {
    /// Width and height in pixels (SVG user units).
    fn size(&self) -> (u32, u32);
    /// What the chart shows, in words (the SVG's `aria-label`).
    fn label(&self) -> &str;
    /// Draws the chart on `area`, already filled with the background.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, palette: &Palette) -> Result<(), String>;
}

/// `chart` as an SVG document to put inline in HTML (scales to its container, labelled for
/// screen readers) or save as a file.
pub fn svg(chart: &impl Chart, theme: Theme) -> Result<String, ChartError> {
    register_fonts();
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, chart.size()).into_drawing_area();
        paint(chart, &area, theme)?;
    }
    let attributes = format!("<svg class=\"chart\" role=\"img\" aria-label=\"{}\" ", esc(chart.label()));
    Ok(out.replacen("<svg ", &attributes, 1))
}

/// `chart` as a PNG image.
pub fn png(chart: &impl Chart, theme: Theme) -> Result<Vec<u8>, ChartError> {
    use image::ImageEncoder as _;
    register_fonts();
    let (w, h) = chart.size();
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        paint(chart, &area, theme)?;
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, w, h, image::ColorType::Rgb8)
        .map_err(|e| ChartError { chart: chart.label().to_owned(), message: e.to_string() })?;
    Ok(out)
}

/// `chart` as inline SVG for a page; a chart that cannot be drawn says so in words instead of
/// failing the page.
pub fn inline_svg(chart: &impl Chart, theme: Theme) -> String {
    svg(chart, theme).unwrap_or_else(|e| {
        tracing::error!(error = %e, "chart not drawn");
        format!("<p class=\"error\">{}</p>", esc(&e.to_string()))
    })
}

fn paint<DB: DrawingBackend>(
    chart: &impl Chart,
    area: &DrawingArea<DB, Shift>,
    theme: Theme,
) -> Result<(), ChartError> {
    let palette = theme.palette();
    let failed = |message: String| ChartError { chart: chart.label().to_owned(), message };
    area.fill(&palette.background).map_err(|e| failed(e.to_string()))?;
    chart.draw(area, &palette).map_err(failed)?;
    area.present().map_err(|e| failed(e.to_string()))
}

/// Escapes text for HTML/SVG content and attributes.
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

/// The colour of a state as CSS hex (the same on every chart, in the CSS and the legends).
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

/// A `#rrggbb` colour for plotters (black for anything else: the table above is all hex).
fn rgb(hex: &str) -> RGBColor {
    let byte = |k: usize| hex.get(k..k + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
    RGBColor(byte(1), byte(3), byte(5))
}

/// Blue of output and series.
const SERIES: &str = "#0072B2";
/// Vermilion of defects and faults.
const ALARM: &str = "#D55E00";

fn text_style(size: u32, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&colour).pos(Pos::new(h, v))
}

fn bold_style(size: u32, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (FAMILY, size).into_font().style(FontStyle::Bold).color(&colour).pos(Pos::new(h, v))
}

/// Draws `element`, turning the backend's error into words.
fn put<DB, E>(area: &DrawingArea<DB, Shift>, element: E) -> Result<(), String>
where
    DB: DrawingBackend,
    for<'a> &'a E: plotters::element::PointCollection<'a, (i32, i32)>,
    E: plotters::element::Drawable<DB>,
{
    area.draw(&element).map_err(|e| e.to_string())
}

/// Output per hour as bars with their values written on them, each hour's plan as a mark
/// across its bar; a key names both.
#[derive(Debug, Clone)]
pub struct HourlyOutput<'a> {
    /// The hours, in order.
    pub hours: &'a [HourOutput],
    /// Number format.
    pub lang: Lang,
}

impl Chart for HourlyOutput<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 300)
    }

    fn label(&self) -> &str {
        "output per hour"
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, p: &Palette) -> Result<(), String> {
        // The bottom keeps two rows: the hour, and the hour's plan as a number beside a mark.
        let (w, h, top, bottom, left) = (1100.0, 300.0, 40.0, 66.0, 16.0);
        let words = self.lang.words();
        // At least 8 slots wide: one early hour of a shift is a bar, not a wall.
        let n = self.hours.len().max(8) as f64;
        let max = self.hours.iter().map(|o| o.output.max(o.plan.unwrap_or(0))).max().unwrap_or(0).max(1) as f64;
        let slot = (w - left * 2.0) / n;
        let plot = h - top - bottom;
        let y = |v: f64| (top + plot - plot * v / max) as i32;
        // The key: what the colour and the mark mean, in words.
        put(area, Rectangle::new([(16, 8), (34, 26)], rgb(SERIES).filled()))?;
        put(area, Text::new(words.output.to_owned(), (42, 17), text_style(20, p.muted, HPos::Left, VPos::Center)))?;
        put(area, PathElement::new(vec![(200, 17), (236, 17)], p.plan.stroke_width(4)))?;
        put(area, Text::new(words.plan.to_owned(), (244, 17), text_style(20, p.muted, HPos::Left, VPos::Center)))?;
        for (i, o) in self.hours.iter().enumerate() {
            let bx = left + slot * i as f64 + slot * 0.15;
            let bar_w = slot * 0.7;
            let top_y = y(o.output as f64);
            put(area, Rectangle::new([(bx as i32, top_y), ((bx + bar_w) as i32, y(0.0))], rgb(SERIES).filled()))?;
            let middle = (bx + bar_w / 2.0) as i32;
            put(
                area,
                Text::new(
                    self.lang.count(o.output),
                    (middle, (top_y - 4).max(44)),
                    bold_style(26, p.text, HPos::Center, VPos::Bottom),
                ),
            )?;
            if let Some(plan) = o.plan {
                let py = y(plan as f64);
                put(
                    area,
                    PathElement::new(
                        vec![((bx - 4.0) as i32, py), ((bx + bar_w + 4.0) as i32, py)],
                        p.plan.stroke_width(4),
                    ),
                )?;
            }
            let hour = o.label.rsplit(' ').next().unwrap_or(&o.label).to_owned();
            put(
                area,
                Text::new(hour, (middle, (h - 34.0) as i32), text_style(22, p.muted, HPos::Center, VPos::Bottom)),
            )?;
            if let Some(plan) = o.plan {
                // The plan as a number, after a short plan mark (the key says what the mark is).
                let row = (h - 14.0) as i32;
                put(area, PathElement::new(vec![(middle - 34, row), (middle - 20, row)], p.plan.stroke_width(4)))?;
                put(
                    area,
                    Text::new(
                        self.lang.count(plan),
                        (middle - 16, row),
                        text_style(20, p.plan, HPos::Left, VPos::Center),
                    ),
                )?;
            }
        }
        put(area, PathElement::new(vec![(left as i32, y(0.0)), ((w - left) as i32, y(0.0))], p.axis.stroke_width(1)))
    }
}

/// Horizontal bars, largest first, each with its name and its value written out (defects by
/// count, downtime by reason).
#[derive(Debug, Clone)]
pub struct Bars {
    /// What the bars show (`aria-label`).
    pub label: String,
    /// Name, size and the value as written beside the bar.
    pub rows: Vec<(String, f64, String)>,
    /// Bar colour (hex).
    pub colour: &'static str,
}

impl Bars {
    /// The defect Pareto: count and share of each code, labelled with the catalogue's name in
    /// `lang` beside the code ("Missing component (MISSING_COMPONENT)").
    pub fn pareto(defects: &[ParetoBar], names: &CodeNames, lang: Lang) -> Self {
        Bars {
            label: "top defects".to_owned(),
            rows: defects
                .iter()
                .map(|d| {
                    (
                        lang.coded(names, &d.code),
                        d.count as f64,
                        format!("{} ({})", lang.count(d.count), lang.percent(Some(d.share))),
                    )
                })
                .collect(),
            colour: ALARM,
        }
    }
}

/// Width of the widest glyph of the bars' 24 px labels, generously (upper-case codes such as
/// `MISSING_COMPONENT` are the widest text they show).
const BAR_GLYPH_PX: u32 = 16;

impl Bars {
    /// Where the bars start: after the longest name, so no name runs under a bar (at least 250).
    fn label_width(&self) -> u32 {
        let longest = self.rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        (BAR_GLYPH_PX * u32::try_from(longest).unwrap_or(u32::MAX / BAR_GLYPH_PX) + 16).max(250)
    }
}

impl Chart for Bars {
    fn size(&self) -> (u32, u32) {
        (self.label_width() + 510, 44 * self.rows.len().max(1) as u32 + 8)
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, p: &Palette) -> Result<(), String> {
        let (row, bar_max) = (44, 300.0);
        let label_w = i32::try_from(self.label_width()).unwrap_or(i32::MAX);
        let max = self.rows.iter().map(|r| r.1).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        for (i, (name, value, written)) in self.rows.iter().enumerate() {
            let y = 4 + row * i as i32;
            let bw = (bar_max * value / max).round() as i32;
            put(area, Text::new(name.clone(), (0, y + row / 2 - 2), text_style(24, p.text, HPos::Left, VPos::Center)))?;
            put(
                area,
                Rectangle::new([(label_w, y + 6), (label_w + bw.max(1), y + row - 8)], rgb(self.colour).filled()),
            )?;
            put(
                area,
                Text::new(
                    written.clone(),
                    (label_w + bw + 10, y + row / 2 - 2),
                    text_style(24, p.text, HPos::Left, VPos::Center),
                ),
            )?;
        }
        Ok(())
    }
}

/// One row per station of its state intervals across `[from, to)`, faults hatched, hours
/// marked in plant time. A fault of any length stays visible (see [`columns`]).
#[derive(Debug, Clone)]
pub struct Timeline<'a> {
    /// Station name and its intervals in time order.
    pub rows: &'a [(String, &'a [StateInterval])],
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
    /// Time format.
    pub lang: Lang,
    /// Plant time zone of the hour marks.
    pub zone: chrono_tz::Tz,
}

/// Columns a timeline row is cut into: a state shorter than a column is not drawn as its own
/// sliver (a shift of starved/running flips would be tens of thousands of shapes).
const COLUMNS: usize = 480;

impl Chart for Timeline<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 40 * self.rows.len().max(1) as u32 + 30)
    }

    fn label(&self) -> &str {
        "machine states"
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, p: &Palette) -> Result<(), String> {
        let (w, row, left, axis) = (1100.0, 40, 130.0, 30);
        let h = self.size().1 as i32;
        let (from, to) = (self.from, self.to);
        let span = (to - from).num_milliseconds().max(1) as f64;
        let x = |t: DateTime<Utc>| {
            (left + (w - left - 10.0) * ((t - from).num_milliseconds() as f64 / span).clamp(0.0, 1.0)).round() as i32
        };
        for (i, (station, intervals)) in self.rows.iter().enumerate() {
            let y0 = row * i as i32 + 4;
            let y1 = row * (i as i32 + 1) - 4;
            put(
                area,
                Text::new(station.clone(), (0, (y0 + y1) / 2), text_style(24, p.text, HPos::Left, VPos::Center)),
            )?;
            for run in columns(intervals, from, to, COLUMNS) {
                let (x0, x1) = (x(run.start), x(run.end));
                if run.state == MachineState::Fault {
                    // At least two pixels wide, and hatched: a fault is seen without colour too.
                    let x1 = x1.max(x0 + 2);
                    put(area, Rectangle::new([(x0, y0), (x1, y1)], rgb(state_colour(run.state)).filled()))?;
                    for stripe in hatch(x0, x1, y0, y1, 10) {
                        put(area, PathElement::new(stripe, RGBColor(0x30, 0x10, 0x00).stroke_width(3)))?;
                    }
                } else {
                    put(area, Rectangle::new([(x0, y0), (x1.max(x0 + 1), y1)], rgb(state_colour(run.state)).filled()))?;
                }
            }
        }
        // Ticks in plant time, on whole quarters or hours.
        let span_h = (to - from).num_minutes() as f64 / 60.0;
        let step = chrono::Duration::minutes(match span_h {
            h if h <= 2.0 => 15,
            h if h <= 12.0 => 60,
            _ => 120,
        });
        let zone_from = from.with_timezone(&self.zone);
        let mut tick = zone_from
            .date_naive()
            .and_hms_opt(zone_from.hour(), 0, 0)
            .and_then(|t| t.and_local_timezone(self.zone).earliest())
            .map(|t| t.to_utc());
        while let Some(t) = tick.filter(|t| *t < from) {
            tick = Some(t + step);
        }
        let base = h - axis;
        while let Some(t) = tick.filter(|t| *t <= to) {
            put(area, PathElement::new(vec![(x(t), 0), (x(t), base)], p.axis.stroke_width(1)))?;
            put(
                area,
                Text::new(
                    self.lang.time(t, self.zone),
                    (x(t), h - 4),
                    text_style(20, p.muted, HPos::Center, VPos::Bottom),
                ),
            )?;
            tick = Some(t + step);
        }
        Ok(())
    }
}

/// Diagonal stripes `gap` pixels apart across the box `[x0, x1] × [y0, y1]`, each clipped to it.
fn hatch(x0: i32, x1: i32, y0: i32, y1: i32, gap: i32) -> Vec<Vec<(i32, i32)>> {
    let height = (y1 - y0).max(1);
    let mut stripes = Vec::new();
    let mut k = x0 - height;
    while k < x1 {
        // The stripe runs from (k, y1) up to (k + height, y0); keep its part inside [x0, x1].
        let t0 = (f64::from(x0 - k) / f64::from(height)).max(0.0);
        let t1 = (f64::from(x1 - k) / f64::from(height)).min(1.0);
        if t0 < t1 {
            let at = |t: f64| (k + (t * f64::from(height)).round() as i32, y1 - (t * f64::from(height)).round() as i32);
            stripes.push(vec![at(t0), at(t1)]);
        }
        k += gap;
    }
    stripes
}

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

/// A share per period (yield per shift or day) as a line with its points, each value written
/// above its point; periods without data leave a gap in words ("—").
#[derive(Debug, Clone)]
pub struct Trend {
    /// What the line shows (`aria-label`).
    pub label: String,
    /// Period label and its share (0–1), if any.
    pub points: Vec<(String, Option<f64>)>,
    /// Number format.
    pub lang: Lang,
}

impl Chart for Trend {
    fn size(&self) -> (u32, u32) {
        (1100, 320)
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, p: &Palette) -> Result<(), String> {
        let n = self.points.len().max(1);
        let low = self.points.iter().filter_map(|(_, v)| *v).fold(1.0, f64::min);
        // Start the axis below the lowest value, on a whole tenth, so changes are visible.
        let floor = ((low * 10.0).floor() / 10.0 - 0.1).clamp(0.0, 0.9);
        let lang = self.lang;
        let labels: Vec<String> = self.points.iter().map(|(l, _)| l.clone()).collect();
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, floor..1.02f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(14))
            .x_label_formatter(&|x| {
                let k = x.round();
                if (x - k).abs() > 0.01 || k < 0.0 {
                    return String::new();
                }
                labels.get(k as usize).cloned().unwrap_or_default()
            })
            .y_label_formatter(&|y| lang.percent(Some(*y)))
            .label_style((FAMILY, 16).into_font().color(&p.muted))
            .axis_style(p.axis)
            .light_line_style(p.background)
            .bold_line_style(p.axis.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        // Each run of periods with data is one line; a period without data breaks it.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs = Vec::new();
        for (k, (_, v)) in self.points.iter().enumerate() {
            match v {
                Some(v) => run.push((k as f64, *v)),
                None => runs.push(std::mem::take(&mut run)),
            }
        }
        runs.push(run);
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            chart.draw_series(LineSeries::new(run.clone(), rgb(SERIES).stroke_width(3))).map_err(|e| e.to_string())?;
            chart
                .draw_series(run.iter().map(|&(x, y)| Circle::new((x, y), 6, rgb(SERIES).filled())))
                .map_err(|e| e.to_string())?;
        }
        let style = bold_style(16, p.text, HPos::Center, VPos::Bottom);
        chart
            .draw_series(self.points.iter().enumerate().map(|(k, (_, v))| {
                let at = (k as f64, v.unwrap_or(floor).min(1.0));
                EmptyElement::at(at) + Text::new(lang.percent(*v), (0, -10), style.clone())
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The legend of [`Timeline`] as HTML: each state's swatch (faults hatched) and its word.
pub fn legend(lang: Lang) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for s in STATES {
        let swatch = match s {
            MachineState::Fault => {
                format!("background: repeating-linear-gradient(45deg, {0} 0 6px, #301000 6px 9px)", state_colour(s))
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

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc()
    }

    fn iv(state: MachineState, from_s: i64, to_s: Option<i64>) -> StateInterval {
        StateInterval {
            line: crate::domain::LineId::parse("l").unwrap(),
            station: crate::domain::StationId::parse("S").unwrap(),
            started_at: t0() + chrono::Duration::seconds(from_s),
            ended_at: to_s.map(|s| t0() + chrono::Duration::seconds(s)),
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
        let runs = columns(&list, t0(), t0() + chrono::Duration::seconds(100), 10);
        let shape: Vec<(MachineState, i64, i64)> =
            runs.iter().map(|r| (r.state, (r.start - t0()).num_seconds(), (r.end - t0()).num_seconds())).collect();
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

    /// The parsed SVG document, or the parser's complaint.
    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"))
    }

    fn fills<'a>(doc: &'a roxmltree::Document<'a>, colour: &str) -> usize {
        doc.descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill").is_some_and(|f| f.eq_ignore_ascii_case(colour)))
            .count()
    }

    #[test]
    fn a_one_second_fault_in_a_twelve_hour_shift_is_drawn_hatched() {
        let twelve_hours = 12 * 3600;
        let list = vec![
            iv(MachineState::Running, 0, Some(20_000)),
            iv(MachineState::Fault, 20_000, Some(20_001)),
            iv(MachineState::Running, 20_001, None),
        ];
        let rows = vec![("FT".to_owned(), list.as_slice())];
        let chart = Timeline {
            rows: &rows,
            from: t0(),
            to: t0() + chrono::Duration::seconds(twelve_hours),
            lang: Lang::En,
            zone: chrono_tz::Asia::Ho_Chi_Minh,
        };
        for theme in [Theme::Screen, Theme::Print] {
            let svg = svg(&chart, theme).unwrap();
            let doc = parse(&svg);
            assert_eq!(doc.root_element().attribute("aria-label"), Some("machine states"));
            assert_eq!(fills(&doc, state_colour(MachineState::Fault)), 1, "{svg}");
            assert_eq!(fills(&doc, state_colour(MachineState::Running)), 2);
            let stripes = doc.descendants().filter(|n| n.has_tag_name("polyline") || n.has_tag_name("path")).count();
            assert!(stripes > 12, "hour ticks and the fault's hatch: {stripes}");
        }
    }

    #[test]
    fn hourly_bars_write_every_value_and_plan_and_decode_as_png() {
        let at = |h| DateTime::parse_from_rfc3339(&format!("2026-12-01T{h:02}:00:00Z")).unwrap().to_utc();
        let hours = vec![
            HourOutput { label: "2026-12-01 14:00".into(), from: at(7), to: at(8), output: 1234, plan: Some(1300) },
            HourOutput { label: "2026-12-01 15:00".into(), from: at(8), to: at(9), output: 0, plan: None },
        ];
        let chart = HourlyOutput { hours: &hours, lang: Lang::Vi };
        let svg = svg(&chart, Theme::Screen).unwrap();
        let doc = parse(&svg);
        let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
        // The plan written as a number (1.300), not only drawn as a mark.
        for word in ["1.234", "0", "14:00", "15:00", "Kế hoạch", "1.300"] {
            assert!(texts.iter().any(|t| t.trim().eq_ignore_ascii_case(word)), "{word}: {texts:?}");
        }
        assert_eq!(fills(&doc, SERIES), 3, "two bars and the key");
        let png = png(&chart, Theme::Print).unwrap();
        let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        assert_eq!((image.width(), image.height()), chart.size());
    }

    #[test]
    fn a_long_defect_code_ends_before_its_bar() {
        let bars = Bars {
            label: "top defects".to_owned(),
            rows: vec![
                ("MISSING_COMPONENT".to_owned(), 5.0, "5 (62.5 %)".to_owned()),
                ("TOMBSTONE".to_owned(), 3.0, "3 (37.5 %)".to_owned()),
            ],
            colour: ALARM,
        };
        let svg = svg(&bars, Theme::Print).unwrap();
        let doc = parse(&svg);
        let starts: Vec<f64> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill").is_some_and(|f| f.eq_ignore_ascii_case(ALARM)))
            .filter_map(|n| n.attribute("x")?.parse().ok())
            .collect();
        assert_eq!(starts.len(), 2, "{svg}");
        // 17 upper-case letters at 24 px need about 17 × 15 px: the bars start after them.
        assert!(starts.iter().all(|x| *x >= 17.0 * 15.0), "{starts:?}");
        assert!(bars.size().0 > 760, "the chart widens with its names");
    }

    #[test]
    fn vietnamese_words_are_set_in_the_embedded_font() {
        // The PNG path renders glyphs itself: with no font it would fail ("unable to draw text").
        let bars = Bars {
            label: "lỗi".to_owned(),
            rows: vec![
                ("Điện áp thấp".to_owned(), 3.0, "3 (75,0 %)".to_owned()),
                ("Trầy xước".to_owned(), 1.0, "1".to_owned()),
            ],
            colour: ALARM,
        };
        let png = png(&bars, Theme::Print).unwrap();
        let image = image::load_from_memory(&png).unwrap().to_rgb8();
        let dark = image.pixels().filter(|p| p.0.iter().all(|c| *c < 0x40)).count();
        assert!(dark > 200, "the words were drawn: {dark} dark pixels");
        let svg = svg(&bars, Theme::Print).unwrap();
        assert!(parse(&svg).descendants().any(|n| n.text().map(str::trim) == Some("Điện áp thấp")), "{svg}");
    }

    #[test]
    fn a_trend_breaks_where_a_period_has_no_data() {
        let chart = Trend {
            label: "rolled throughput yield".to_owned(),
            points: vec![
                ("A".into(), Some(0.95)),
                ("B".into(), None),
                ("C".into(), Some(0.97)),
                ("D".into(), Some(0.9)),
            ],
            lang: Lang::En,
        };
        let svg = svg(&chart, Theme::Print).unwrap();
        let doc = parse(&svg);
        let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
        for word in ["95.0 %", "—", "97.0 %", "90.0 %", "A", "D"] {
            assert!(texts.iter().any(|t| t.trim() == word), "{word}: {texts:?}");
        }
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 3);
    }
}
