//! `mes hold`, `mes release`, `mes holds`: quality holds on a lot, reel or unit. A hold on a lot
//! holds every unit that contains it, now and later (traces, exports and the validation
//! interlock see it); releasing keeps the record of who held and released, and when.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use mes::config::Config;
use mes::domain::hold::HoldTarget;
use mes::domain::ids::{LotId, SerialNumber};
use mes::domain::record::ConsumedItem;

/// What to hold or release.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["lot", "serial"])))]
pub struct Target {
    /// A lot or reel: every unit containing it, at any depth, now and later.
    #[arg(long)]
    lot: Option<String>,
    /// One unit (and every unit it goes into).
    #[arg(long)]
    serial: Option<String>,
    #[command(flatten)]
    material: MaterialArgs,
    /// Who does it (default: $USER).
    #[arg(long)]
    by: Option<String>,
}

/// Options of `mes hold`.
#[derive(Debug, Args)]
pub struct HoldArgs {
    #[command(flatten)]
    target: Target,
    /// Why (shown with every held unit).
    #[arg(long)]
    reason: String,
}

/// Options of `mes release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    target: Target,
    /// Why the hold is lifted (kept with the release, shown with the hold).
    #[arg(long)]
    reason: String,
}

/// The material of the lot `--lot` names: lot codes are printed by suppliers, so where one code
/// names lots of several materials, these say which.
#[derive(Debug, Args)]
pub struct MaterialArgs {
    /// The lot's manufacturer part number (as the line's profile names it).
    #[arg(long, requires = "lot")]
    part_number: Option<String>,
    /// The lot's supplier (as the line's profile names it).
    #[arg(long, requires = "lot")]
    supplier: Option<String>,
}

impl MaterialArgs {
    /// Lot `code` of this material (what is not given is not named: any).
    pub fn lot(&self, code: &str) -> anyhow::Result<LotId> {
        let material = mes::domain::Material::new(
            self.part_number.as_deref().unwrap_or_default(),
            self.supplier.as_deref().unwrap_or_default(),
        )
        .context("--part-number/--supplier")?;
        Ok(LotId::parse(code.to_owned()).context("--lot")?.of(material))
    }
}

/// A store error, with the options that settle an ambiguous lot named.
pub fn lot_hint(e: mes::store::StoreError) -> anyhow::Error {
    match e {
        e @ mes::store::StoreError::AmbiguousLot { .. } => anyhow::anyhow!("{e} (--part-number, --supplier)"),
        e => e.into(),
    }
}

impl Target {
    fn resolve(&self) -> anyhow::Result<(HoldTarget, ConsumedItem)> {
        Ok(match (&self.lot, &self.serial) {
            (Some(lot), _) => {
                let lot = self.material.lot(lot)?;
                (HoldTarget::Lot(lot.clone()), ConsumedItem::Lot(lot))
            }
            (None, Some(serial)) => {
                let serial = SerialNumber::parse(serial.clone()).context("--serial")?;
                (HoldTarget::Unit(serial.clone()), ConsumedItem::Serial(serial))
            }
            (None, None) => anyhow::bail!("give --lot or --serial"),
        })
    }

    fn who(&self) -> String {
        self.by.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "cli".into())
    }
}

pub async fn hold(config: &Config, args: &HoldArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.reason.trim().is_empty(), "--reason must say why");
    let store = super::open_store(config).await?;
    let (target, item) = args.target.resolve()?;
    let done = store.place_hold(&target, args.reason.trim(), &args.target.who(), Utc::now()).await.map_err(lot_hint)?;
    let trace = store.forward_trace(&item).await?;
    // The lot held, with its whole material.
    let name = trace.as_ref().map_or(&item, |t| &t.item).to_string();
    let mut out = String::new();
    if !done.placed {
        writeln!(out, "{name} is already on hold; nothing changed")?;
    } else {
        writeln!(out, "hold placed on {name} ({})", args.reason.trim())?;
    }
    if !done.seen {
        writeln!(
            out,
            "warning: no line has ever recorded lot {name}: it is held for units that consume it later; \
             check the id (and --part-number/--supplier where the line's profile names them) if you meant \
             a lot already in use",
        )?;
    }
    let held = trace.map(|t| t.units).unwrap_or_default();
    writeln!(out, "units held through it now: {}", held.len() + usize::from(matches!(target, HoldTarget::Unit(_))))?;
    for u in held.iter().take(20) {
        writeln!(out, "  {}  {}", u.hit.serial, u.status.as_str())?;
    }
    if held.len() > 20 {
        let flags = match &item {
            ConsumedItem::Lot(l) => {
                [("--part-number", l.material().part_number()), ("--supplier", l.material().supplier())]
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(f, v)| format!(" {f} {v:?}"))
                    .collect::<String>()
            }
            ConsumedItem::Serial(_) => String::new(),
        };
        writeln!(out, "  … {} more (mes trace --lot {}{flags} lists them all)", held.len() - 20, item.id())?;
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn release(config: &Config, args: &ReleaseArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.reason.trim().is_empty(), "--reason must say why the hold is lifted");
    let store = super::open_store(config).await?;
    let (hold_target, item) = args.target.resolve()?;
    let n =
        store.release_hold(&hold_target, &args.target.who(), args.reason.trim(), Utc::now()).await.map_err(lot_hint)?;
    if n == 0 {
        eprintln!("{} has no hold in force", item.id());
        return Ok(ExitCode::from(2));
    }
    super::emit(&format!("released {n} hold(s) on {}\n", item.id()))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn list(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config).await?;
    let holds = store.holds(mes::store::MAX_READ_ROWS).await?;
    if json {
        super::emit(&(serde_json::to_string_pretty(&holds)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    // Plant time, as every other command prints it, with the zone named once.
    let zone = config.calendar.time_zone;
    let at = |t: chrono::DateTime<Utc>| config.lang.moment(t, zone);
    let mut out = String::new();
    writeln!(out, "times in plant time ({zone})")?;
    writeln!(out, "{:<8} {:<28} {:<19} {:<12} reason", "state", "target", "placed", "by")?;
    for h in &holds {
        let (kind, id) = match &h.target {
            HoldTarget::Unit(s) => ("unit", s.to_string()),
            HoldTarget::Lot(l) => ("lot", l.to_string()),
        };
        let state = if h.is_active() { "HELD" } else { "released" };
        writeln!(
            out,
            "{state:<8} {:<28} {:<19} {:<12} {}",
            format!("{kind} {id}"),
            at(h.placed_at),
            h.placed_by,
            h.reason
        )?;
        if let Some(r) = &h.released {
            let why = r.reason.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
            writeln!(out, "{:<8} released {} by {}{why}", "", at(r.at), r.by)?;
        }
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
