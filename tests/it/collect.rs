//! Collectors against the bundled simulators over real loopback Modbus TCP: what the MES
//! records equals what the simulated PLCs produced, record for record.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DurationRound, Utc};
use mes::acquisition::Collectors;
use mes::acquisition::collector::Mode;
use mes::store::{StationResultFilter, Store};
use mes_simulators::run::{SimulateOptions, simulate};
use plc_contract::StationResultLine;
use plc_contract::profile::{Endpoint, Profile};

use crate::harness::TestDb;

pub fn bundled(name: &str) -> Profile {
    Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles").join(name)).unwrap()
}

/// Every result the store holds, in the ground-truth form without instants.
pub async fn recorded(store: &Store) -> Vec<StationResultLine> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.station_results(&StationResultFilter::default(), after, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        out.extend(page.iter().map(|r| r.record.to_result_line(None).without_times()));
    }
    out
}

pub fn read_truth(path: &Path) -> Vec<StationResultLine> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<StationResultLine>(l).unwrap().without_times())
        .collect()
}

/// Multiset difference, for a readable failure.
pub fn compare(
    truth: &[StationResultLine],
    got: &[StationResultLine],
) -> (Vec<StationResultLine>, Vec<StationResultLine>) {
    let mut counts: BTreeMap<&StationResultLine, i64> = BTreeMap::new();
    for t in truth {
        *counts.entry(t).or_default() += 1;
    }
    for g in got {
        *counts.entry(g).or_default() -= 1;
    }
    let missing = counts.iter().filter(|(_, n)| **n > 0).map(|(l, _)| (*l).clone()).collect();
    let extra = counts.iter().filter(|(_, n)| **n < 0).map(|(l, _)| (*l).clone()).collect();
    (missing, extra)
}

/// The history is rich enough to prove something: failures, repairs, cross-line boards,
/// and ambiguous reel splices.
pub fn assert_meaningful(truth: &[StationResultLine]) {
    assert!(truth.len() > 300, "only {} records", truth.len());
    assert!(truth.iter().any(|t| t.result == "fail"), "no failures");
    assert!(truth.iter().any(|t| t.station == "REPAIR"), "no repairs");
    assert!(truth.iter().any(|t| t.consumed.iter().any(|c| c.kind == "pcba")), "no boards consumed");
    assert!(
        truth.iter().any(|t| t.consumed.iter().any(|c| c.certainty.as_deref() == Some("possible"))),
        "no ambiguous reel splice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_record_exactly_what_the_simulated_plcs_produced() {
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let truth_file = dir.path().join("truth.jsonl");
        let options = SimulateOptions {
            lines: vec![bundled("smt-line.toml"), bundled("phone-line.toml")],
            seed: 11,
            speed: 200.0,
            modbus_port: 0,
            ground_truth: Some(truth_file.clone()),
            duration: Some(Duration::from_secs(60 * 60)),
            start: Utc::now().duration_trunc(chrono::Duration::seconds(1)).unwrap(),
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let sim = tokio::spawn(simulate(
            options,
            move |addresses| {
                let _ = ready_tx.send(addresses.to_vec());
            },
            std::future::pending::<()>(),
        ));
        let addresses = ready_rx.await.unwrap();
        let mut profiles = vec![bundled("smt-line.toml"), bundled("phone-line.toml")];
        for p in &mut profiles {
            let (_, addr) = addresses.iter().find(|(l, _)| *l == p.line).unwrap();
            if let Endpoint::ModbusTcp { port, .. } = &mut p.endpoint {
                *port = addr.port();
            }
        }
        let store = Arc::new(db.store().await);
        let collectors = Collectors::start(store.clone(), profiles).await.unwrap();
        let health = collectors.health.clone();
        sim.await.unwrap().unwrap();
        collectors.set_mode(Mode::Drain);
        collectors.join().await;

        let truth = read_truth(&truth_file);
        assert_meaningful(&truth);
        let got = recorded(&store).await;
        let (missing, extra) = compare(&truth, &got);
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: {} produced, {} recorded; missing {:?}; extra {:?}",
            db.label(),
            truth.len(),
            got.len(),
            missing.iter().take(3).collect::<Vec<_>>(),
            extra.iter().take(3).collect::<Vec<_>>()
        );
        for h in &health {
            let h = h.snapshot();
            assert_eq!(h.connects, 1, "{}: {} reconnected without a fault", db.label(), h.line);
            assert!(h.stations.iter().all(|s| s.errors == 0), "{}: {:?}", db.label(), h.stations);
        }
        let counts = store.row_counts().await.unwrap();
        assert!(counts["state_intervals"] > 20, "{counts:?}");
        assert!(counts["counter_samples"] > 20, "{counts:?}");
        db.cleanup(Arc::try_unwrap(store).ok().expect("collectors released the store")).await;
    }
}
