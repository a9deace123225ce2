//! `mes bench trace`: genealogy and yield queries on a factory-sized store (by default 10 million
//! units and 110 million genealogy edges, a year of boards and phones): backward trace p50/p99,
//! forward trace of a reel that reaches 100,000 units, yield of one line for one day, on SQLite
//! and PostgreSQL; each against the bare SQL floor (the recursive walk or range count alone),
//! measured in the same run on the same database.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeZone, Utc};
use clap::Args;
use mes::bench::sample_plant::PHONE_LINE;
use mes::config::Config;
use mes::domain::ids::{LotId, SerialNumber};
use mes::domain::kpi::Grain;
use mes::domain::record::ConsumedItem;
use mes::figures::{self, Scope};
use mes::store::bench::bulk::{Synthetic, load_postgres, load_sqlite};
use mes::store::{Store, create_database, drop_database, sqlite_url, with_database};
use rand::{RngExt, SeedableRng};

use super::acquisition::percentile;
use super::prepare;

/// Options of `mes bench trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Boards to generate; as many phones are made from them (units = 2 × boards).
    #[arg(long, default_value_t = 5_000_000)]
    boards: u64,
    /// Reels each board places from (edges per board).
    #[arg(long, default_value_t = 18)]
    reels_per_board: u32,
    /// Boards a reel lasts for: its forward trace reaches twice as many units.
    #[arg(long, default_value_t = 50_000)]
    boards_per_reel: u64,
    /// Backward traces to time (random phones).
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// Folder for the SQLite file (kept afterwards with --keep); default a temp folder.
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
    /// Keep the generated databases (the SQLite file, the PostgreSQL database) for inspection.
    #[arg(long)]
    keep: bool,
    /// Also run on PostgreSQL: an admin URL; a fresh database is created (and dropped).
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Skip SQLite (PostgreSQL only).
    #[arg(long)]
    no_sqlite: bool,
    /// Measure an SQLite file an earlier `--keep` run generated with the same sizes, instead of
    /// generating one (the load takes minutes).
    #[arg(long, value_name = "FILE")]
    reuse_sqlite: Option<std::path::PathBuf>,
    /// Measure a PostgreSQL database an earlier `--keep` run left (its name, on the server of
    /// `--postgres-url`) instead of loading one; it is kept.
    #[arg(long, value_name = "NAME", requires = "postgres_url")]
    reuse_postgres: Option<String>,
}

pub async fn run(config: &Config, args: &TraceArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(args.boards >= 1000 && args.boards_per_reel > 0 && args.samples > 0, "sizes must be positive");
    let spec = Synthetic {
        boards: args.boards,
        reels_per_board: args.reels_per_board,
        boards_per_reel: args.boards_per_reel.min(args.boards),
        start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().context("start")?,
        days: 365,
    };
    let mut report = format!(
        "trace benchmark: {} units, {} genealogy edges, {} reels per board, a reel reaches {} units\n\
         machine: {} logical CPUs, {} build\n\n",
        spec.units(),
        spec.edges(),
        spec.reels_per_board,
        2 * spec.boards_per_reel,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "DEBUG (numbers are not representative)" } else { "release" },
    );
    let temp = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir)).context("temp folder")?;
    super::super::emit(&std::mem::take(&mut report))?;
    if let Some(path) = args.reuse_sqlite.as_ref().filter(|_| !args.no_sqlite) {
        let size = std::fs::metadata(path).with_context(|| format!("--reuse-sqlite {}", path.display()))?.len();
        let counts = Store::connect(&sqlite_url(path)).await?.row_counts().await?;
        anyhow::ensure!(
            counts.get("genealogy_edges") == Some(&spec.edges()),
            "{} holds {:?} edges, not the {} these sizes make",
            path.display(),
            counts.get("genealogy_edges"),
            spec.edges()
        );
        super::super::emit(&format!(
            "SQLite: reused {} ({} units, {} station results, {} edges); file {:.2} GiB\n",
            path.display(),
            counts.get("units").copied().unwrap_or(0),
            counts.get("station_results").copied().unwrap_or(0),
            spec.edges(),
            size as f64 / f64::from(1u32 << 30)
        ))?;
        super::super::emit(&measure(config, &sqlite_url(path), &spec, args.samples).await?)?;
    } else if !args.no_sqlite {
        let path = temp.path().join("trace-bench.sqlite");
        let url = sqlite_url(&path);
        let ids = prepare(&url).await?;
        let started = Instant::now();
        let loaded = {
            let (path, spec) = (path.clone(), spec);
            tokio::task::spawn_blocking(move || load_sqlite(&path, &ids, &spec)).await??
        };
        let load_s = started.elapsed().as_secs_f64();
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        super::super::emit(&format!(
            "SQLite: loaded {} units, {} lots, {} station results, {} edges in {load_s:.0} s; file {:.2} GiB\n",
            loaded.units,
            loaded.lots,
            loaded.results,
            loaded.edges,
            size as f64 / f64::from(1u32 << 30)
        ))?;
        super::super::emit(&measure(config, &url, &spec, args.samples).await?)?;
    }
    if let (Some(admin), Some(name)) = (&args.postgres_url, &args.reuse_postgres) {
        let url = with_database(admin, name);
        let store = Store::connect(&url).await?;
        let counts = store.row_counts().await?;
        anyhow::ensure!(
            counts.get("genealogy_edges") == Some(&spec.edges()),
            "database {name} holds {:?} edges, not the {} these sizes make",
            counts.get("genealogy_edges"),
            spec.edges()
        );
        let size = store.database_bytes().await?;
        report.push_str(&format!(
            "\nPostgreSQL: reused database {name} ({} units, {} station results, {} edges); database {:.2} GiB\n",
            counts.get("units").copied().unwrap_or(0),
            counts.get("station_results").copied().unwrap_or(0),
            spec.edges(),
            size as f64 / f64::from(1u32 << 30)
        ));
        report.push_str(&measure(config, &url, &spec, args.samples).await?);
    } else if let Some(admin) = &args.postgres_url {
        let name = format!("mes_bench_trace_{}", std::process::id());
        let url = create_database(admin, &name).await?;
        let outcome = async {
            let ids = prepare(&url).await?;
            let started = Instant::now();
            let loaded = load_postgres(&url, &ids, &spec).await?;
            let load_s = started.elapsed().as_secs_f64();
            let size = Store::connect(&url).await?.database_bytes().await?;
            let mut out = format!(
                "\nPostgreSQL: loaded {} units, {} lots, {} station results, {} edges in {load_s:.0} s; database {:.2} GiB\n",
                loaded.units,
                loaded.lots,
                loaded.results,
                loaded.edges,
                size as f64 / f64::from(1u32 << 30)
            );
            out.push_str(&measure(config, &url, &spec, args.samples).await?);
            anyhow::Ok(out)
        }
        .await;
        if args.keep {
            report.push_str(&format!("kept PostgreSQL database {name}\n"));
        } else {
            drop_database(admin, &name).await?;
        }
        report.push_str(&outcome?);
    }
    if args.keep {
        report.push_str(&format!("kept {}\n", temp.keep().display()));
    }
    super::super::emit(&report)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Times the three queries and their floors on a loaded store; checks every answer's size.
async fn measure(config: &Config, url: &str, spec: &Synthetic, samples: usize) -> anyhow::Result<String> {
    let store = Store::connect(url).await?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let phones: Vec<String> = (0..samples).map(|_| Synthetic::phone_serial(rng.random_range(0..spec.boards))).collect();
    // Each phone holds its board, the board's reels and three lots (the tree lists the phone too).
    let expected_edges = i64::from(spec.reels_per_board) + 4;
    for serial in phones.iter().take(20) {
        store.backward_trace(&SerialNumber::parse(serial.clone())?).await?;
    }
    let mut ours = Vec::with_capacity(samples);
    for serial in &phones {
        let serial = SerialNumber::parse(serial.clone())?;
        let started = Instant::now();
        let trace = store.backward_trace(&serial).await?.context("a generated phone is unknown")?;
        ours.push(started.elapsed());
        anyhow::ensure!(
            trace.tree.items().len() as i64 == expected_edges + 1,
            "trace of {serial} has {} items",
            trace.tree.items().len()
        );
    }
    let mut floor = Vec::with_capacity(samples);
    for serial in &phones {
        let started = Instant::now();
        let n = store.bare_backward_edges(serial).await?;
        floor.push(started.elapsed());
        anyhow::ensure!(n == expected_edges, "{serial}: {n} edges");
    }
    ours.sort();
    floor.sort();
    let mut out = format!(
        "  backward trace of a phone ({samples} random phones, {expected_edges} items each):\n\
         \x20   ours  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n\
         \x20   floor p50 {:.2} ms  p99 {:.2} ms (the recursive walk alone)  ratio p99 {:.1}\n",
        ms(percentile(&ours, 0.5)),
        ms(percentile(&ours, 0.99)),
        ms(percentile(&ours, 1.0)),
        ms(percentile(&floor, 0.5)),
        ms(percentile(&floor, 0.99)),
        percentile(&ours, 0.99).as_secs_f64() / percentile(&floor, 0.99).as_secs_f64().max(1e-9),
    );

    // A reel in the middle of the year: it fed boards_per_reel boards, each in one phone.
    let reel = Synthetic::reel_code(spec.reels_per_board / 2, spec.boards.div_ceil(spec.boards_per_reel) / 2);
    let item = ConsumedItem::Lot(LotId::parse(reel.clone())?);
    let expected_units = 2 * spec.boards_per_reel as usize;
    let mut forward = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let trace = store.forward_trace(&item).await?.context("the reel is unknown")?;
        forward.push(started.elapsed());
        anyhow::ensure!(trace.units.len() == expected_units, "reel {reel} reaches {} units", trace.units.len());
        let started = Instant::now();
        let n = store.bare_forward_units(&reel).await?;
        bare.push(started.elapsed());
        anyhow::ensure!(n as usize == expected_units, "floor found {n} units");
    }
    forward.sort();
    bare.sort();
    out.push_str(&format!(
        "  forward trace of reel {reel} ({expected_units} units, 5 runs):\n\
         \x20   ours  median {:.0} ms  min {:.0} ms  max {:.0} ms\n\
         \x20   floor median {:.0} ms (the recursive walk alone)  ratio {:.1}\n",
        ms(percentile(&forward, 0.5)),
        ms(percentile(&forward, 0.0)),
        ms(percentile(&forward, 1.0)),
        ms(percentile(&bare, 0.5)),
        percentile(&forward, 0.5).as_secs_f64() / percentile(&bare, 0.5).as_secs_f64().max(1e-9),
    ));

    // Yield of the phone line for one plant-local day in mid-year.
    let zone = config.calendar.time_zone;
    let day = zone.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).single().context("day")?.with_timezone(&Utc);
    let scope = Scope {
        line: mes::domain::LineId::parse(PHONE_LINE)?,
        station: None,
        from: day,
        to: day + chrono::Duration::days(1),
        by: None::<Grain>,
    };
    let mut yields = Vec::new();
    let mut counts = Vec::new();
    let mut visits = 0;
    for _ in 0..10 {
        let started = Instant::now();
        let report = figures::yields(&store, &config.calendar, &scope).await?;
        yields.push(started.elapsed());
        visits = report.slices[0].figures.stations.iter().map(|s| s.visits).sum::<u64>();
        let started = Instant::now();
        let n = store.bare_line_results(PHONE_LINE, scope.from, scope.to).await?;
        counts.push(started.elapsed());
        anyhow::ensure!(n as u64 == visits, "yield saw {visits} visits, the day has {n}");
    }
    yields.sort();
    counts.sort();
    out.push_str(&format!(
        "  yield of {PHONE_LINE} for 2026-07-01 ({visits} visits, 10 runs):\n\
         \x20   ours  median {:.1} ms  max {:.1} ms\n\
         \x20   floor median {:.1} ms (counting the day's results)  ratio {:.1}\n",
        ms(percentile(&yields, 0.5)),
        ms(percentile(&yields, 1.0)),
        ms(percentile(&counts, 0.5)),
        percentile(&yields, 0.5).as_secs_f64() / percentile(&counts, 0.5).as_secs_f64().max(1e-9),
    ));
    Ok(out)
}
