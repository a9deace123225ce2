//! Tidy checks, written as ordinary tests (after rust-analyzer): the architecture's import
//! rules hold, so a violation fails CI instead of slowly eroding the layout.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Code lines of a file (comments and doc comments dropped), with their numbers.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .filter(|(_, l)| !l.starts_with("//"))
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn violations(files: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        for (n, line) in code_lines(file) {
            for word in forbidden {
                if line.contains(word) {
                    found.push(format!("{}:{n}: `{word}` in: {line}", file.display()));
                }
            }
        }
    }
    found
}

#[test]
fn the_domain_does_no_io_reads_no_clock_and_imports_no_framework() {
    let files = rust_files(&src().join("domain"));
    assert!(files.len() > 5);
    let found = violations(
        &files,
        &[
            "sea_orm",
            "tokio",
            "actix",
            "std::fs",
            "std::net",
            "std::io",
            "Utc::now",
            "SystemTime",
            "Instant::now",
            "crate::store",
        ],
    );
    assert!(found.is_empty(), "domain must stay pure:\n{}", found.join("\n"));
}

#[test]
fn only_the_store_imports_sea_orm() {
    let outside: Vec<PathBuf> =
        rust_files(&src()).into_iter().filter(|p| !p.starts_with(src().join("store"))).collect();
    let found = violations(&outside, &["sea_orm::", "sea_orm;", "sqlx::", "rusqlite::"]);
    assert!(found.is_empty(), "database crates belong in src/store:\n{}", found.join("\n"));
}

#[test]
fn anyhow_lives_only_at_the_binary_edge() {
    let library: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|p| !p.starts_with(src().join("cli")) && !p.ends_with("main.rs"))
        .collect();
    let found = violations(&library, &["anyhow"]);
    assert!(found.is_empty(), "library code returns typed errors:\n{}", found.join("\n"));
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<String> = rust_files(&src())
        .into_iter()
        .filter(|p| !std::fs::read_to_string(p).unwrap().trim_start().starts_with("//!"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(missing.is_empty(), "modules without a //! header:\n{}", missing.join("\n"));
}

#[test]
fn only_the_web_imports_actix() {
    let outside: Vec<PathBuf> = rust_files(&src()).into_iter().filter(|p| !p.starts_with(src().join("web"))).collect();
    let found = violations(&outside, &["actix_web", "actix_"]);
    assert!(found.is_empty(), "actix belongs in src/web:\n{}", found.join("\n"));
}

#[test]
fn figures_are_computed_in_the_domain_and_assembled_once() {
    // The CLI and the web show figures; neither computes one (no domain formula call there).
    let shows: Vec<PathBuf> =
        rust_files(&src().join("cli")).into_iter().chain(rust_files(&src().join("web"))).collect();
    let found =
        violations(&shows, &["station_yields(", "station_oee(", "aggregate_oee(", "defect_pareto(", "line_yield("]);
    assert!(found.is_empty(), "figures are assembled by mes::figures:\n{}", found.join("\n"));
}

#[test]
fn acquisition_commits_through_its_own_ports_and_the_store_implements_them() {
    // A collector never names the store: it is handed `acquisition::sink::Ports` (the store
    // today, a local outbox when the central database is away), so what stands behind them is
    // the composition root's choice.
    let acquisition = rust_files(&src().join("acquisition"));
    assert!(acquisition.len() > 5);
    let found = violations(&acquisition, &["crate::store", "mes::store", "Store::"]);
    assert!(found.is_empty(), "acquisition must not import the store:\n{}", found.join("\n"));
    // The store takes from acquisition only the ports it implements.
    let store = rust_files(&src().join("store"));
    let found: Vec<String> = violations(&store, &["crate::acquisition"])
        .into_iter()
        .filter(|v| !v.contains("crate::acquisition::sink::"))
        .collect();
    assert!(
        found.is_empty(),
        "the store implements acquisition's ports and imports nothing else of it:\n{}",
        found.join("\n")
    );
}

#[test]
fn one_composition_root_starts_the_long_running_parts() {
    // `mes demo`, `mes serve` and `mes collect` start collectors and the web front through
    // `cli/app.rs`, so they share one wiring and one shutdown order. Benchmarks set up what
    // they measure themselves.
    let cli: Vec<PathBuf> = rust_files(&src().join("cli"))
        .into_iter()
        .filter(|p| !p.ends_with("app.rs") && !p.starts_with(src().join("cli").join("bench")))
        .collect();
    assert!(cli.len() > 5);
    let found = violations(&cli, &["Collectors::start(", "Web::build(", "run_until_stopped("]);
    assert!(found.is_empty(), "start long-running parts in src/cli/app.rs:\n{}", found.join("\n"));
}

#[test]
fn benchmark_code_stays_out_of_the_service() {
    // The bulk loader writes ids itself and skips foreign-key triggers; the sample plant makes
    // up a history. Neither may be reachable from the service's modules: only `mes bench`,
    // `mes demo --history` and tests use them.
    let service: Vec<PathBuf> = ["acquisition", "domain", "store", "web", "reports", "present"]
        .iter()
        .flat_map(|d| rust_files(&src().join(d)))
        .chain(["audit.rs", "figures.rs", "config.rs", "telemetry.rs", "work.rs"].iter().map(|f| src().join(f)))
        .filter(|p| !p.starts_with(src().join("store").join("bench")))
        .collect();
    assert!(service.len() > 40);
    let found: Vec<String> = violations(&service, &["bench::", "sample_plant", "bulk::", "baseline::"])
        .into_iter()
        // The store declares its benchmark subtree, and nothing else of it.
        .filter(|v| !v.ends_with("in: pub mod bench;"))
        .collect();
    assert!(found.is_empty(), "benchmark code imported by the service:\n{}", found.join("\n"));
    let cli: Vec<PathBuf> = rust_files(&src().join("cli"))
        .into_iter()
        .filter(|p| !p.starts_with(src().join("cli").join("bench")) && !p.ends_with("demo.rs"))
        .collect();
    let found = violations(&cli, &["mes::bench", "store::bench"]);
    assert!(found.is_empty(), "only `mes bench` and `mes demo --history` use benchmark code:\n{}", found.join("\n"));
}
