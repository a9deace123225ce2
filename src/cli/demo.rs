//! `mes demo` (and `mes` with no subcommand): creates the store under the data folder and loads
//! a generated sample plant, so a newcomer can trace and export within a minute. Live
//! simulators, collectors and the dashboard join it as their issues land.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{Duration, DurationRound, Utc};
use clap::Args;
use mes::config::Config;
use mes::domain::record::Verdict;
use mes::sample_plant::{SamplePlant, plant_model};
use mes::store::RecordBatch;

/// Options of `mes demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the generated history: the same seed gives the same serials and results.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Phones to generate (each with its PCBA from the SMT line).
    #[arg(long, default_value_t = 120)]
    phones: usize,
    /// Tablets to generate (each with its PCBA from the SMT line).
    #[arg(long, default_value_t = 60)]
    tablets: usize,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self { seed: 7, phones: 120, tablets: 60 }
    }
}

/// Records per transaction when loading, as a collector would batch them.
const BATCH: usize = 500;

pub async fn run(config: &Config, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config).await?;
    store.register_plant(&plant_model()).await?;
    // The history ends about now; re-running the demo regenerates the same records (same
    // seed, same PLC sequence numbers), which the store recognises and skips.
    let start = Utc::now().duration_trunc(Duration::minutes(1)).unwrap_or_else(|_| Utc::now()) - Duration::hours(8);
    let mut plant = SamplePlant::new(args.seed, start);
    let chunk = plant.next_chunk(args.phones, args.tablets);

    let (mut inserted, mut duplicates, mut edges) = (0, 0, 0);
    for records in chunk.records.chunks(BATCH) {
        let receipt = store.commit(&RecordBatch { records: records.to_vec(), ..Default::default() }).await?;
        inserted += receipt.inserted;
        duplicates += receipt.duplicates;
        edges += receipt.edges;
    }
    store
        .commit(&RecordBatch {
            records: Vec::new(),
            state_intervals: chunk.state_intervals.clone(),
            counter_samples: chunk.counter_samples.clone(),
        })
        .await?;

    let mut per_line: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for r in &chunk.records {
        let entry = per_line.entry(r.line.as_str()).or_default();
        entry.0 += 1;
        match r.verdict {
            Verdict::Pass => entry.1 += 1,
            Verdict::Fail => entry.2 += 1,
        }
    }
    let url = config.effective_database_url();
    let mut out = String::new();
    writeln!(out, "MES demo: sample plant loaded (seed {})", args.seed)?;
    writeln!(out, "  store      {}", mes::store::redact(&url))?;
    writeln!(out, "  records    {inserted} new, {duplicates} already stored, {edges} genealogy links")?;
    writeln!(out, "  {:<10} {:>8} {:>8} {:>6}", "line", "records", "pass", "fail")?;
    for (line, (n, pass, fail)) in &per_line {
        writeln!(out, "  {line:<10} {n:>8} {pass:>8} {fail:>6}")?;
    }
    let counts = store.row_counts().await?;
    writeln!(
        out,
        "  units {}  lots/reels {}  state intervals {}  counter samples {}",
        counts.get("units").copied().unwrap_or(0),
        counts.get("material_lots").copied().unwrap_or(0),
        counts.get("state_intervals").copied().unwrap_or(0),
        counts.get("counter_samples").copied().unwrap_or(0),
    )?;
    let phone = plant.truth.product_board.keys().next().cloned().unwrap_or_default();
    let reel = plant.truth.reel_boards.keys().next().cloned().unwrap_or_default();
    let dir = if config.database_url.is_none() {
        format!(" --data-dir {}", config.data_dir.display())
    } else {
        String::new()
    };
    writeln!(out)?;
    writeln!(out, "Try:")?;
    writeln!(out, "  mes trace {phone}{dir}                  # everything in a phone, down to the reels")?;
    writeln!(out, "  mes trace --lot {reel}{dir}   # every board and phone a reel went into")?;
    writeln!(out, "  mes export station-results --format jsonl{dir}")?;
    writeln!(out)?;
    writeln!(out, "Not built yet: live line simulators, PLC collectors and the dashboard on http://127.0.0.1:8080")?;
    writeln!(out, "(issues 3-6). This demo loads a generated history instead.")?;
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
