//! `mes simulate` as a process: deterministic ground truth and cross-line genealogy.

use std::collections::BTreeSet;
use std::process::Command;

use plc_contract::StationResultLine;

use crate::harness::TestDb;

fn simulate(dir: &std::path::Path, name: &str, seed: &str) -> Vec<StationResultLine> {
    let file = dir.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_mes"))
        .args([
            "simulate",
            "--line",
            "smt,phone",
            "--seed",
            seed,
            "--speed",
            "3000",
            "--modbus-port",
            "0",
            "--minutes",
            "45",
            "--no-validation",
        ])
        .arg("--ground-truth")
        .arg(&file)
        .output()
        .expect("mes simulate runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("simulating smt-1: modbus tcp 127.0.0.1:") && stdout.contains("simulating phone-1"),
        "{stdout}"
    );
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a ground-truth line"))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_ground_truth_and_boards_come_from_the_smt_line() {
    let db = TestDb::sqlite();
    let dir = db.dir().unwrap();
    let a = simulate(dir, "a.jsonl", "3");
    let b = simulate(dir, "b.jsonl", "3");
    let c = simulate(dir, "c.jsonl", "4");
    let key = |v: &[StationResultLine]| -> BTreeSet<StationResultLine> {
        v.iter().map(StationResultLine::without_times).collect()
    };
    assert!(a.len() >= 50, "{} records", a.len());
    assert_eq!(key(&a), key(&b), "same seed, same records");
    assert_ne!(key(&a), key(&c), "another seed, another history");
    let made: BTreeSet<&str> = a
        .iter()
        .filter(|l| l.line == "smt-1" && l.station == "ICT" && l.result == "pass")
        .map(|l| l.serial.as_str())
        .collect();
    let loaded: Vec<&str> = a
        .iter()
        .filter(|l| l.line == "phone-1" && l.station == "LOAD")
        .flat_map(|l| l.consumed.iter().filter(|c| c.kind == "pcba").map(|c| c.id.as_str()))
        .collect();
    assert!(!loaded.is_empty());
    assert!(loaded.iter().all(|b| made.contains(b)), "every board a phone consumed was made and passed by smt-1");
    assert!(
        a.iter().all(|l| l.plc_epoch.is_none() && l.recorded_at.is_none()),
        "ground truth carries SPEC §8 keys only"
    );
}

#[test]
fn the_tablet_line_is_served_over_opc_ua_with_its_endpoint_path() {
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_mes"))
        .args([
            "simulate",
            "--line",
            "tablet",
            "--opcua-port",
            "0",
            "--speed",
            "3000",
            "--minutes",
            "30",
            "--no-validation",
        ])
        .arg("--pki-dir")
        .arg(dir.path().join("pki"))
        .arg("--ground-truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("simulating tablet-1: opc.tcp://127.0.0.1:") && stdout.contains("/mes/tablet"), "{stdout}");
    let lines: Vec<StationResultLine> =
        std::fs::read_to_string(&truth).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l.line == "tablet-1" && l.serial.starts_with("TB1-")), "tablets produced");
    assert!(dir.path().join("pki").join("own").exists(), "certificates made on first start");
}
