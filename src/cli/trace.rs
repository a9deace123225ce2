//! `mes trace`: backward genealogy of a serial (everything in it, with every station visit), or
//! forward genealogy of a lot, reel or serial (every unit containing it, "contains" and
//! "possibly contains" apart). `--json` prints one JSON document.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::Args;
use mes::config::Config;
use mes::domain::genealogy::{Containment, TraceNode};
use mes::domain::ids::{LotId, SerialNumber};
use mes::domain::record::{Certainty, ConsumedItem};
use mes::store::{BackwardTrace, ForwardTrace, UnitView};

/// Options of `mes trace`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["serial", "lot"])))]
pub struct TraceArgs {
    /// Serial to trace backward (everything in it); with --forward, every unit containing it.
    serial: Option<String>,
    /// Lot or reel to trace forward: every unit containing it, at any depth.
    #[arg(long, conflicts_with = "serial")]
    lot: Option<String>,
    #[command(flatten)]
    material: super::hold::MaterialArgs,
    /// Trace SERIAL forward instead (e.g. which phone got this PCBA).
    #[arg(long, requires = "serial")]
    forward: bool,
    /// Print one JSON document instead of a tree or table.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: &Config, args: &TraceArgs) -> anyhow::Result<ExitCode> {
    let zone = Times { zone: config.calendar.time_zone, lang: config.lang };
    let store = super::open_store(config).await?;
    let forward_item = match (&args.lot, &args.serial) {
        (Some(lot), _) => Some(ConsumedItem::Lot(args.material.lot(lot)?)),
        (None, Some(serial)) if args.forward => {
            Some(ConsumedItem::Serial(SerialNumber::parse(serial.clone()).context("SERIAL")?))
        }
        _ => None,
    };
    if let Some(item) = forward_item {
        let Some(trace) = store.forward_trace(&item).await.map_err(super::hold::lot_hint)? else {
            eprintln!("{} {:?} was never recorded as consumed", kind_word(&item), item.id());
            return Ok(ExitCode::from(2));
        };
        let text = if args.json { serde_json::to_string_pretty(&trace)? + "\n" } else { render_forward(&trace, zone)? };
        super::emit(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let serial = SerialNumber::parse(args.serial.clone().unwrap_or_default()).context("SERIAL")?;
    let Some(trace) = store.backward_trace(&serial).await? else {
        eprintln!("serial {:?} is unknown to the MES", serial.as_str());
        return Ok(ExitCode::from(2));
    };
    let text = if args.json {
        serde_json::to_string_pretty(&trace)? + "\n"
    } else {
        // Lots under a hold are marked where they sit in the tree, as units are.
        render_backward(&trace, &store.held_lots().await?, zone)?
    };
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn kind_word(item: &ConsumedItem) -> &'static str {
    match item {
        ConsumedItem::Serial(_) => "serial",
        ConsumedItem::Lot(_) => "lot",
    }
}

/// How the terminal shows instants: plant time in the chosen language's order, to the second.
/// Shown as its zone's name.
#[derive(Debug, Clone, Copy)]
struct Times {
    zone: Tz,
    lang: mes::present::i18n::Lang,
}

impl std::fmt::Display for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.zone)
    }
}

fn local(t: DateTime<Utc>, zone: Times) -> String {
    zone.lang.moment(t, zone.zone)
}

fn render_backward(trace: &BackwardTrace, held: &BTreeSet<LotId>, zone: Times) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    writeln!(out, "Backward trace (times in {zone})")?;
    render_node(&mut out, &trace.tree, (trace, held), zone, ("", true, true))?;
    Ok(out)
}

fn render_node(
    out: &mut String,
    node: &TraceNode,
    (trace, held): (&BackwardTrace, &BTreeSet<LotId>),
    zone: Times,
    (prefix, last, root): (&str, bool, bool),
) -> std::fmt::Result {
    let (branch, child_prefix) = if root {
        (String::new(), String::new())
    } else if last {
        (format!("{prefix}└─ "), format!("{prefix}   "))
    } else {
        (format!("{prefix}├─ "), format!("{prefix}│  "))
    };
    let mut head = format!("{branch}{} {}", node.kind, node.item);
    if let Some(edge) = &node.via {
        if let Some(r) = &edge.ref_designator {
            head.push_str(&format!(" [{r}]"));
        }
        head.push_str(&format!("  at {}/{} seq {}", edge.line, edge.station, edge.seq));
    }
    if node.certainty == Certainty::Possible {
        head.push_str("  (POSSIBLE: ambiguous reel change)");
    }
    if let ConsumedItem::Lot(l) = &node.item
        && held.contains(l)
    {
        head.push_str("  [ON HOLD]");
    }
    let view = trace.units.get(node.item.id()).filter(|_| matches!(node.item, ConsumedItem::Serial(_)));
    if let Some(view) = view {
        head.push_str(&unit_summary(view));
    }
    writeln!(out, "{head}")?;
    if let Some(view) = view {
        for v in &view.visits {
            let r = &v.record;
            let defects: Vec<&str> = r.defects.iter().map(|d| d.code.as_str()).collect();
            writeln!(
                out,
                "{child_prefix}   · {}  {}/{:<8} {:<4} seq {}{}{}",
                local(r.ended_at, zone),
                r.line,
                r.station.as_str(),
                r.verdict.as_str(),
                r.seq,
                if defects.is_empty() { String::new() } else { format!("  defects {}", defects.join(",")) },
                r.repair_action.as_ref().map_or_else(String::new, |a| format!("  action {a}"))
            )?;
        }
    }
    for (i, child) in node.children.iter().enumerate() {
        render_node(out, child, (trace, held), zone, (&child_prefix, i + 1 == node.children.len(), false))?;
    }
    Ok(())
}

fn unit_summary(view: &UnitView) -> String {
    let mut s = format!("  [{}", view.unit.status.as_str());
    if let Some(p) = &view.unit.product {
        s.push_str(&format!(", {p}"));
    }
    if let Some(w) = &view.unit.work_order {
        s.push_str(&format!(", {w}"));
    }
    if view.unit.on_hold {
        s.push_str(", ON HOLD");
    }
    s.push(']');
    s
}

fn render_forward(trace: &ForwardTrace, zone: Times) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let contains = trace.units.iter().filter(|u| u.hit.containment == Containment::Contains).count();
    writeln!(
        out,
        "Forward trace of {} {}: {} units contain it, {} possibly contain it (times in {zone})",
        kind_word(&trace.item),
        trace.item,
        contains,
        trace.units.len() - contains
    )?;
    writeln!(
        out,
        "{:<24} {:<18} {:>5} {:<10} {:<11} {:<5} last seen",
        "serial", "containment", "depth", "product", "status", "hold"
    )?;
    for u in &trace.units {
        let containment = match u.hit.containment {
            Containment::Contains => "contains",
            Containment::PossiblyContains => "possibly contains",
        };
        let last = u
            .last_seen
            .as_ref()
            .map(|seen| format!("{}/{} {}", seen.line, seen.station, local(seen.at, zone)))
            .unwrap_or_default();
        writeln!(
            out,
            "{:<24} {:<18} {:>5} {:<10} {:<11} {:<5} {last}",
            u.hit.serial.as_str(),
            containment,
            u.hit.depth,
            u.product.as_ref().map(|p| p.as_str()).unwrap_or("-"),
            u.status.as_str(),
            if u.on_hold { "HOLD" } else { "" },
        )?;
    }
    Ok(out)
}
