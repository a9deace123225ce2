//! Collectors against the bundled simulators over real loopback Modbus TCP: what the MES
//! records equals what the simulated PLCs produced, record for record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DurationRound, Utc};
use mes::acquisition::collector::Mode;
use mes::acquisition::health::LineHealth;
use mes::acquisition::sink::Ports;
use mes::acquisition::{Collectors, DriverSettings};
use mes::domain::counter::{CounterEventKind, CounterKind, DeltaRules, deltas};
use mes::domain::equipment::StationKind;
use mes::domain::kpi::{Visit, line_yield, station_yields};
use mes::domain::record::Verdict;
use mes::domain::shift::ShiftCalendar;
use mes::domain::{LineId, StationId};
use mes::figures::{self, Scope};
use mes::store::{StationResultFilter, Store};
use mes_simulators::faults::Faults;
use mes_simulators::opcua::OpcUaLogin;
use mes_simulators::run::{SimulateOptions, simulate};
use plc_contract::StationResultLine;
use plc_contract::profile::{Address, Handshake, Profile, Role};
use plc_contract::profile::{FailDisposition, fail_disposition};

use crate::harness::{Child, OwnPostgres, TestDb};

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
    for line in ["smt-1", "phone-1", "tablet-1"] {
        assert!(truth.iter().filter(|t| t.line == line).count() > 50, "too few records of {line}");
    }
    assert!(truth.iter().any(|t| t.station == "REPAIR"), "no repairs");
    // Every repair says what was done (the phone's Modbus and the tablet's OPC UA benches),
    // and nothing else claims a repair action: the comparison then proves the field end to end.
    for t in truth {
        assert_eq!(t.repair_action.is_some(), t.station == "REPAIR" && t.line != "smt-1", "{t:?}");
    }
    // The phone's battery is dual-sourced: the station reports whose lot each phone got, and
    // both suppliers print the same lot codes (the comparison then proves the material per record).
    let batteries: BTreeSet<(&str, &str)> = truth
        .iter()
        .filter(|t| t.line == "phone-1")
        .flat_map(|t| &t.consumed)
        .filter(|c| c.kind == "battery_lot")
        .map(|c| (c.id.as_str(), c.supplier.as_deref().unwrap_or("")))
        .collect();
    let suppliers: BTreeSet<&str> = batteries.iter().map(|(_, s)| *s).collect();
    assert_eq!(suppliers, BTreeSet::from(["ATL Vietnam", "Sunwoda Bac Giang"]), "{batteries:?}");
    let codes: BTreeSet<&str> = batteries.iter().map(|(code, _)| *code).collect();
    assert!(codes.len() < batteries.len(), "a lot code printed by both suppliers: {batteries:?}");
    assert!(truth.iter().any(|t| t.consumed.iter().any(|c| c.kind == "pcba")), "no boards consumed");
    assert!(
        truth.iter().any(|t| t.consumed.iter().any(|c| c.certainty.as_deref() == Some("possible"))),
        "no ambiguous reel splice"
    );
}

/// The three bundled lines: SMT and phone over Modbus TCP, tablet over OPC UA
/// (SignAndEncrypt, user login).
fn all_lines() -> Vec<Profile> {
    vec![bundled("smt-line.toml"), bundled("phone-line.toml"), bundled("tablet-line.toml")]
}

/// What one run of simulated lines and collectors left behind.
struct Run {
    truth: Vec<StationResultLine>,
    /// The ground truth with its production instants.
    truth_timed: Vec<StationResultLine>,
    got: Vec<StationResultLine>,
    health: Vec<LineHealth>,
    store: Arc<Store>,
    validations: Vec<plc_contract::ValidationLine>,
}

/// Simulation of `lines` for `minutes` of simulated time at `speed` from now, on free loopback
/// ports, validating, with no faults and no ground truth (callers set what they need).
fn sim_options(lines: Vec<Profile>, seed: u64, speed: f64, minutes: u64, dir: &Path) -> SimulateOptions {
    SimulateOptions {
        lines,
        seed,
        speed,
        modbus_port: 0,
        ground_truth: None,
        duration: Some(Duration::from_secs(minutes * 60)),
        start: Utc::now().duration_trunc(chrono::Duration::seconds(1)).unwrap(),
        faults: Faults::parse("").unwrap(),
        opcua_port: 0,
        opcua_login: OpcUaLogin::bundled(dir.join("pki")),
        validate: true,
        extra_tags: 0,
        ack_latencies: None,
        resume: Default::default(),
    }
}

/// Starts the simulated `lines` on free loopback ports; the task and each line's address.
async fn start_simulation(
    options: SimulateOptions,
) -> (tokio::task::JoinHandle<Result<u64, mes_simulators::run::SimulateError>>, Vec<(String, std::net::SocketAddr)>) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let sim = tokio::spawn(simulate(
        options,
        move |addresses| {
            let _ = ready_tx.send(addresses.to_vec());
        },
        std::future::pending::<()>(),
    ));
    (sim, ready_rx.await.unwrap())
}

/// [`run_lines`] with the given line profiles.
/// `held` are put on hold: lots before anything runs, units as soon as the store knows them (on
/// the line, after their first record, as a quality engineer would). `tweak` changes what the collectors believe about the PLCs (a wrong unit id, a mistyped
/// tag), not the simulated PLCs themselves.
async fn run_profiles(
    db: &TestDb,
    lines: Vec<Profile>,
    seed: u64,
    faults: &str,
    held: &[mes::domain::hold::HoldTarget],
    tweak: impl Fn(&mut Profile),
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let truth_file = dir.path().join("truth.jsonl");
    let options_speed = 200.0;
    let mut options = sim_options(lines.clone(), seed, options_speed, 60, dir.path());
    options.ground_truth = Some(truth_file.clone());
    options.faults = Faults::parse(faults).unwrap();
    let (sim, addresses) = start_simulation(options).await;
    let mut profiles = lines;
    for p in &mut profiles {
        tweak(p);
        assert!(addresses.iter().any(|(l, _)| *l == p.line), "{} is served", p.line);
        p.move_to_served(&addresses);
        p.at_speed(options_speed);
    }
    let store = Arc::new(db.store().await);
    let (lots, units): (Vec<_>, Vec<_>) =
        held.iter().cloned().partition(|t| matches!(t, mes::domain::hold::HoldTarget::Lot(_)));
    for target in &lots {
        assert!(store.place_hold(target, "test hold", "test", Utc::now()).await.unwrap().placed);
    }
    let placing = {
        let store = store.clone();
        tokio::spawn(async move {
            for target in units {
                loop {
                    match store.place_hold(&target, "test hold", "test", Utc::now()).await {
                        Ok(outcome) => break assert!(outcome.placed),
                        Err(mes::store::StoreError::UnknownUnit { .. }) => {
                            tokio::time::sleep(Duration::from_millis(20)).await; // not made yet
                        }
                        Err(e) => panic!("{target:?}: {e}"),
                    }
                }
            }
        })
    };
    let password = OpcUaLogin::bundled(dir.path().join("pki")).password;
    let settings = DriverSettings { pki_dir: dir.path().join("pki-mes"), fallback_password: Some(password) };
    let collectors = Collectors::start(Ports::all(store.clone()), profiles, &settings).await.unwrap();
    let health = collectors.health.clone();
    sim.await.unwrap().unwrap();
    assert!(placing.is_finished(), "a held unit was never made");
    placing.await.unwrap();
    collectors.set_mode(Mode::Drain);
    collectors.join().await;
    let truth = read_truth(&truth_file);
    let got = recorded(&store).await;
    let validations = std::fs::read_to_string(mes_simulators::run::validation_truth_path(&truth_file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let truth_timed =
        std::fs::read_to_string(&truth_file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Run { truth, truth_timed, got, health: health.iter().map(|h| h.snapshot()).collect(), store, validations }
}

fn assert_exact(label: &str, truth: &[StationResultLine], got: &[StationResultLine]) {
    let (missing, extra) = compare(truth, got);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{label}: {} produced, {} recorded; missing {:?}; extra {:?}",
        truth.len(),
        got.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.iter().take(3).collect::<Vec<_>>()
    );
}

/// Per station: units counted by the PLC's "in" counter (from stored samples, plus the value
/// at the first sample, which the simulated PLC started from zero), and the data-quality events
/// met on the way.
async fn counted_in(store: &Store, line: &str) -> BTreeMap<String, (u64, Vec<CounterEventKind>)> {
    let line_id = LineId::parse(line).unwrap();
    let profile = all_lines().into_iter().find(|p| p.line == line).unwrap();
    let mut out = BTreeMap::new();
    for s in &profile.stations {
        let station = StationId::parse(s.code.clone()).unwrap();
        let samples: Vec<_> = store
            .counter_samples(&line_id, &station)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.counter == CounterKind::In)
            .collect();
        let d = deltas(&samples, &DeltaRules::default());
        let before_first = samples.first().map_or(0, |f| u64::from(f.raw));
        out.insert(
            s.code.clone(),
            (before_first + d.iter().map(|d| d.count).sum::<u64>(), d.iter().filter_map(|d| d.event).collect()),
        );
    }
    out
}

fn produced_at(truth: &[StationResultLine], line: &str, station: &str) -> u64 {
    truth.iter().filter(|t| t.line == line && t.station == station).count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_record_exactly_what_the_simulated_plcs_produced() {
    for db in TestDb::all().await {
        let run = run_profiles(&db, all_lines(), 11, "", &[], |_| {}).await;
        let (truth, got, health, store) = (&run.truth, &run.got, &run.health, run.store.clone());
        assert_meaningful(truth);
        assert_exact(db.label(), truth, got);
        // Yields the MES computes equal yields computed directly from the ground truth.
        let (from, to) = (Utc::now() - chrono::Duration::days(365), Utc::now() + chrono::Duration::days(365));
        for line in ["smt-1", "phone-1", "tablet-1"] {
            let route = store.production_steps(line).await.unwrap();
            let mes = station_yields(&store.yield_visits(line, from, to).await.unwrap(), &route, from, to);
            let truth_visits: Vec<Visit> = run
                .truth_timed
                .iter()
                .filter(|t| t.line == line)
                .map(|t| Visit {
                    serial: t.serial.clone(),
                    station: StationId::parse(t.station.clone()).unwrap(),
                    verdict: if t.result == "pass" { Verdict::Pass } else { Verdict::Fail },
                    ended_at: t.produced_at,
                    defects: t.defects.clone(),
                    opportunities_per_unit: None,
                })
                .collect();
            let expected = station_yields(&truth_visits, &route, from, to);
            assert_eq!(mes, expected, "{}: {line} yields", db.label());
            assert!(mes.iter().any(|s| s.fpy.is_some_and(|f| f < 1.0)) || line == "smt-1", "{line}: {mes:?}");
            // Scrap, DPMO and the OEE quantities equal the same figures over the ground truth.
            let scope = Scope { line: LineId::parse(line).unwrap(), station: None, from, to, by: None };
            let calendar = ShiftCalendar::three_shifts(mes::domain::shift::DEFAULT_TIME_ZONE);
            let yields = &figures::yields(&store, &calendar, &scope).await.unwrap().slices[0].figures;
            let stations = store.line_stations(line).await.unwrap();
            let has_repair = stations.iter().any(|s| s.kind == StationKind::Repair);
            let scraps = |id: &StationId| {
                let kind = stations.iter().find(|s| &s.id == id).map_or("repair", |s| s.kind.as_str());
                fail_disposition(kind, has_repair) == FailDisposition::Scrap
            };
            let opportunities = store.line_opportunities(line).await.unwrap();
            assert!(opportunities.is_some(), "{line}: the profile declares its product");
            let truth_line = line_yield(&truth_visits, scraps, opportunities, from, to);
            assert_eq!(yields.line_yield, truth_line, "{}: {line} scrap and DPMO", db.label());
            assert!(truth_line.dpmo.is_some_and(|d| d > 0.0), "{line}: {truth_line:?}");
            assert!(line != "smt-1" || truth_line.scrapped > 0, "AOI failures scrap boards: {truth_line:?}");
            let oee = figures::oee(&store, &calendar, &scope, Utc::now()).await.unwrap();
            let oee = &oee.slices[0].figures;
            for s in &oee.stations {
                let truth_pq = truth_visits.iter().filter(|v| v.station == s.station).count() as u64;
                let truth_gq =
                    truth_visits.iter().filter(|v| v.station == s.station && v.verdict == Verdict::Pass).count() as u64;
                let q = s.figures.quantities;
                assert_eq!(
                    (q.pq, q.gq, q.rq + q.sq),
                    (truth_pq, truth_gq, truth_pq - truth_gq),
                    "{line} {}",
                    s.station
                );
                assert!(s.figures.time.apt_ms > 0, "{line} {}: running time recorded", s.station);
            }
            // Every unit the line recorded is of the product its profile declares.
            let declared = all_lines().into_iter().find(|p| p.line == line).and_then(|p| p.product).unwrap().code;
            let serial = truth_visits.first().map(|v| v.serial.clone()).unwrap();
            let serial = mes::domain::SerialNumber::parse(serial).unwrap();
            let trace = store.backward_trace(&serial).await.unwrap().unwrap();
            let product = trace.units[serial.as_str()].unit.product.as_ref().map(ToString::to_string);
            assert_eq!(product.as_deref(), Some(declared.as_str()), "{line}: {serial}'s product");
            // The line as one work unit (docs/kpi.md): its constraint's time, its output as
            // quantities: units out of the last step and units scrapped, from the ground truth.
            let l = &oee.line_oee.figures;
            let constraint = oee.line_oee.constraint.clone().expect("a line with steps has a constraint");
            let c = oee.stations.iter().find(|s| s.station == constraint).unwrap();
            assert!(oee.stations.iter().all(|s| s.ideal_cycle_ms <= c.ideal_cycle_ms), "{line}: {constraint}");
            assert_eq!(l.time, c.figures.time, "{line}: the line's time is {constraint}'s");
            let last = route.last().unwrap();
            let out = truth_visits.iter().filter(|v| &v.station == last && v.verdict == Verdict::Pass).count() as u64;
            let q = l.quantities;
            assert_eq!(
                (q.pq, q.gq, q.rq, q.sq),
                (out + truth_line.scrapped, out, 0, truth_line.scrapped),
                "{}: {line} output quantities",
                db.label()
            );
            let (a, e, q) = (l.availability.unwrap(), l.effectiveness.unwrap(), l.quality.unwrap());
            assert!(a > 0.0 && a <= 1.0 && q > 0.0 && q <= 1.0 && e > 0.0, "{line}: {l:?}");
            if let Some(o) = l.oee {
                assert!(o <= a && o <= e && o <= q, "{line}: {l:?}");
            }
        }
        for h in health {
            assert_eq!(h.connects, 1, "{}: {} reconnected without a fault", db.label(), h.line);
            assert!(h.stations.iter().all(|s| s.errors == 0), "{}: {:?}", db.label(), h.stations);
        }
        for line in ["smt-1", "phone-1", "tablet-1"] {
            for (station, (counted, events)) in counted_in(&store, line).await {
                let produced = produced_at(truth, line, &station);
                assert_eq!(counted, produced, "{}: {line} {station}: counter vs records", db.label());
                assert!(events.iter().all(|e| *e == CounterEventKind::Gap), "{line} {station}: {events:?}");
            }
        }
        // Breakdowns are recorded as fault intervals with the profile's reason for the code;
        // the collectors closed every interval when they stopped.
        let mut faults = 0;
        for profile in all_lines() {
            let line = LineId::parse(profile.line.clone()).unwrap();
            for st in &profile.stations {
                let code = StationId::parse(st.code.clone()).unwrap();
                for i in store.state_intervals(&line, &code).await.unwrap() {
                    assert!(i.ended_at.is_some(), "a stopped collector leaves no interval open: {i:?}");
                    if i.state == mes::domain::state::MachineState::Fault {
                        faults += 1;
                        let expected = i.fault_code.and_then(|c| profile.fault_reasons.get(&c));
                        assert!(
                            expected.is_some() && i.reason.as_ref() == expected,
                            "{} {}: {i:?}",
                            profile.line,
                            st.code
                        );
                    }
                }
            }
        }
        assert!(faults > 0, "no breakdown in an hour of three lines");
        // Every packed phone got an IMEI, and the IMEI leads back to the phone.
        let packed: Vec<&StationResultLine> =
            truth.iter().filter(|t| t.line == "phone-1" && t.station == "PACK" && t.result == "pass").collect();
        assert!(!packed.is_empty(), "no phone packed");
        let imei = packed[0].consumed.iter().find(|c| c.kind == "imei").expect("an IMEI at pack");
        assert_eq!(imei.id.len(), 15);
        let item = mes::domain::record::ConsumedItem::Lot(mes::domain::LotId::parse(imei.id.clone()).unwrap());
        let forward = store.forward_trace(&item).await.unwrap().expect("the IMEI is known");
        assert!(forward.units.iter().any(|u| u.hit.serial.as_str() == packed[0].serial), "{forward:?}");
        let counts = store.row_counts().await.unwrap();
        assert!(counts["state_intervals"] > 20, "{counts:?}");
        assert!(counts["counter_samples"] > 20, "{counts:?}");
        drop(store);
        db.cleanup(Arc::try_unwrap(run.store).ok().expect("collectors released the store")).await;
    }
}

/// Connections cut, answers stalled past the timeout, server-busy exceptions, PLC restarts,
/// counter resets and jumps, forced faults: still every record exactly once.
/// A plant of several lines of one kind in one simulation (as `mes bench scale` runs): each
/// further line numbers its serials and IMEIs apart and each OPC UA line has a certificate of
/// its own, so every line is collected, exactly, and no serial or IMEI is made twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lines_of_each_kind_are_collected_exactly_and_make_no_serial_or_imei_twice() {
    let db = TestDb::sqlite();
    let second = |file: &str, kind: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles").join(file);
        let text = std::fs::read_to_string(&path).unwrap().replace(&format!("{kind}-1"), &format!("{kind}-2"));
        Profile::parse(&path, &text).unwrap()
    };
    let mut lines = all_lines();
    lines.extend([
        second("smt-line.toml", "smt"),
        second("phone-line.toml", "phone"),
        second("tablet-line.toml", "tablet"),
    ]);
    let run = run_profiles(&db, lines, 11, "", &[], |_| {}).await;
    assert_exact(db.label(), &run.truth, &run.got);
    for line in ["smt-2", "phone-2", "tablet-2"] {
        assert!(run.truth.iter().filter(|t| t.line == line).count() > 50, "too few records of {line}");
    }
    // A serial belongs to one line (units move between lines only as consumed boards).
    let mut line_of: BTreeMap<&str, &str> = BTreeMap::new();
    for t in &run.truth {
        let first = *line_of.entry(&t.serial).or_insert(&t.line);
        assert_eq!(first, t.line, "serial {} made on two lines", t.serial);
    }
    let mut imeis: BTreeMap<&str, &str> = BTreeMap::new();
    for t in &run.truth {
        for c in t.consumed.iter().filter(|c| c.kind == "imei") {
            let first = *imeis.entry(&c.id).or_insert(&t.serial);
            assert_eq!(first, t.serial, "IMEI {} packed into two phones", c.id);
        }
    }
    assert!(imeis.len() > 20, "phones were packed on both lines: {}", imeis.len());
    db.cleanup(Arc::into_inner(run.store).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_the_link_and_in_the_plcs_lose_or_double_nothing() {
    for db in TestDb::all().await {
        let faults = "drop=3,stall=4:800,busy=0.05,restart=7,counter_reset=11,counter_jump=13,fault=5";
        let run = run_profiles(&db, all_lines(), 11, faults, &[], |_| {}).await;
        let (truth, got, health, store) = (run.truth, run.got, run.health, run.store);
        assert_meaningful(&truth);
        assert_exact(db.label(), &truth, &got);
        assert_record_times_follow_the_plc_clocks(&store, &run.truth_timed).await;
        // Stalls and busy answers are Modbus-side; `drop` cuts Modbus links and restarts the
        // OPC UA server, so every collector had to reconnect (new OPC UA sessions included).
        for h in &health {
            assert!(h.connects > 2, "{}: {} was never cut off: {} connects", db.label(), h.line, h.connects);
        }
        for h in health.iter().filter(|h| h.line != "tablet-1") {
            assert!(h.stations.iter().any(|s| s.errors > 0), "{}: no busy or timeout was seen", db.label());
        }
        let mut events = Vec::new();
        for line in ["smt-1", "phone-1", "tablet-1"] {
            for (station, (counted, e)) in counted_in(&store, line).await {
                let produced = produced_at(&truth, line, &station);
                assert!(counted <= produced, "{line} {station}: counted {counted} > produced {produced}: {e:?}");
                events.extend(e);
            }
        }
        for kind in [CounterEventKind::Restart, CounterEventKind::Reset, CounterEventKind::Implausible] {
            assert!(events.contains(&kind), "no {kind:?} among the counter events {events:?}");
        }
        let page = store.station_results(&StationResultFilter::default(), 0, 1_000_000).await.unwrap();
        let epochs: std::collections::BTreeSet<(String, u32)> =
            page.iter().map(|r| (r.record.station.to_string(), r.record.epoch.0)).collect();
        assert!(epochs.len() > 14, "PLC restarts produced records under new epochs: {epochs:?}");
        db.cleanup(Arc::try_unwrap(store).ok().expect("collectors released the store")).await;
    }
}

/// Where a profile names a `produced_at` tag (phone: local seconds on Modbus; tablet: local
/// text with milliseconds on OPC UA) a record's time is the PLC's clock, not the time the MES
/// read it, even when links were cut and stalled meanwhile; without one (SMT), the read time.
async fn assert_record_times_follow_the_plc_clocks(store: &Store, truth: &[StationResultLine]) {
    let page = store.station_results(&StationResultFilter::default(), 0, 1_000_000).await.unwrap();
    let clock: BTreeMap<(String, String, u64, String), chrono::DateTime<Utc>> = truth
        .iter()
        .filter_map(|t| Some(((t.line.clone(), t.station.clone(), t.seq, t.serial.clone()), t.plc_clock?)))
        .collect();
    let (mut late, mut checked) = (0, 0);
    for r in &page {
        let rec = &r.record;
        let key = (rec.line.to_string(), rec.station.to_string(), rec.seq.0, rec.serial.to_string());
        let Some(plc) = clock.get(&key) else { continue };
        let resolution = match rec.line.as_str() {
            "phone-1" => chrono::Duration::seconds(1),
            "tablet-1" => chrono::Duration::milliseconds(1),
            _ => {
                assert!(rec.ended_at >= *plc, "{key:?}: without a PLC clock the read time, after production");
                continue;
            }
        };
        let want = plc.duration_trunc(resolution).unwrap();
        assert_eq!(rec.ended_at, want, "{key:?}: the PLC's clock, read {}", r.recorded_at);
        checked += 1;
        late += usize::from(r.recorded_at - rec.ended_at > chrono::Duration::seconds(1));
    }
    assert!(checked > 100, "{checked} records with a PLC clock");
    assert!(late > 0, "stalls and cut links made some records read well after they were made");
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
pub async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, limit: Duration, mut check: F) {
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The three bundled profiles' files.
fn bundled_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    ["smt-line.toml", "phone-line.toml", "tablet-line.toml"].iter().map(|f| root.join(f)).collect()
}

/// `mes <command>` collecting the lines of `profiles` at `addresses` into `url`, with its data
/// folder and its log (`collect.log`) in `data_dir`.
fn collecting(
    command: &[&str],
    data_dir: &Path,
    url: &str,
    addresses: &[(String, String)],
    profiles: &[PathBuf],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mes"));
    cmd.args(command)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--database-url", url])
        .env("MES_OPCUA_PASSWORD", "crash-test");
    for profile in profiles {
        cmd.arg("--profile").arg(profile);
    }
    for (line, addr) in addresses {
        cmd.arg("--connect").arg(format!("{line}={addr}"));
    }
    let log = std::fs::File::create(data_dir.join("collect.log")).unwrap();
    cmd.stderr(log);
    cmd
}

/// `mes collect` of `profiles` (see [`collecting`]).
fn collect_process(data_dir: &Path, url: &str, addresses: &[(String, String)], profiles: &[PathBuf]) -> Child {
    let mut cmd = collecting(&["collect"], data_dir, url, addresses, profiles);
    Child(cmd.stdout(std::process::Stdio::null()).spawn().unwrap())
}

/// What a `mes simulate` process prints after its addresses.
type SimulatorOutput = std::io::Lines<std::io::BufReader<std::process::ChildStdout>>;

/// `mes simulate` of the three lines (seed 5, 150x, `minutes` of simulated production) in a
/// process of its own, writing its ground truth to `truth`; with the rest of its output and each line's
/// address.
fn simulator_process(
    dir: &Path,
    truth: &Path,
    minutes: u32,
    extra: &[String],
) -> (Child, SimulatorOutput, Vec<(String, String)>) {
    use std::io::BufRead;
    let mut sim = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_mes"))
            .args(["simulate", "--line", "smt,phone,tablet", "--seed", "5", "--speed", "150"])
            .args(["--modbus-port", "0", "--opcua-port", "0", "--linger", "300"])
            .args(["--minutes", &minutes.to_string()])
            .arg("--pki-dir")
            .arg(dir.join("pki-sim"))
            .arg("--ground-truth")
            .arg(truth)
            .args(extra)
            .env("MES_OPCUA_PASSWORD", "crash-test")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = std::io::BufReader::new(sim.0.stdout.take().unwrap()).lines();
    let mut addresses = Vec::new();
    for _ in 0..3 {
        let line = out.next().unwrap().unwrap();
        // "simulating smt-1: modbus tcp 127.0.0.1:PORT" or "simulating tablet-1: opc.tcp://127.0.0.1:PORT/path"
        let name = line.split_whitespace().nth(1).unwrap().trim_end_matches(':').to_owned();
        let last = line.split_whitespace().last().unwrap();
        let address = last.trim_start_matches("opc.tcp://").split('/').next().unwrap().to_owned();
        addresses.push((name, address));
    }
    (sim, out, addresses)
}

/// Waits until the simulator reports the end of production, then until the store holds as
/// many records as its ground truth, and checks them record for record, and that each station
/// has at most its current state interval open.
async fn assert_production_collected_exactly(db: &TestDb, store: &Store, mut out: SimulatorOutput, truth_file: &Path) {
    let stopped =
        tokio::task::spawn_blocking(move || out.any(|l| l.is_ok_and(|l| l.starts_with("production stopped"))));
    assert!(stopped.await.unwrap(), "the simulator reports the end of production");
    let total = read_truth(truth_file).len() as u64;
    wait_until("every produced record to be stored", Duration::from_secs(90), async || {
        store.row_counts().await.unwrap()["station_results"] >= total
    })
    .await;
    let truth = read_truth(truth_file);
    assert_meaningful(&truth);
    assert_exact(db.label(), &truth, &recorded(store).await);
    // An ended collector's open state intervals were closed when collection resumed: each
    // station has at most its current one open.
    for profile in all_lines() {
        let line = LineId::parse(profile.line.clone()).unwrap();
        for s in &profile.stations {
            let intervals = store.state_intervals(&line, &StationId::parse(s.code.clone()).unwrap()).await.unwrap();
            let open = intervals.iter().filter(|i| i.ended_at.is_none()).count();
            assert!(open <= 1, "{} {}: {open} open intervals", profile.line, s.code);
        }
    }
}

/// What each test of two collector hosts for the same lines starts with: a temp folder with a
/// data folder per host (`a`, `b`), `mes simulate` of the three lines for `minutes` of
/// production — the phone line with flag-handshake stations, whose record numbers the MES
/// assigns — writing its ground truth there, and the profiles to collect them with.
struct TwoHosts {
    _dir: tempfile::TempDir,
    truth_file: PathBuf,
    sim: Child,
    out: SimulatorOutput,
    addresses: Vec<(String, String)>,
    profiles: Vec<PathBuf>,
    a_dir: PathBuf,
    b_dir: PathBuf,
}

impl TwoHosts {
    fn start(minutes: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let truth_file = dir.path().join("truth.jsonl");
        let phone = dir.path().join("phone-flags.toml");
        std::fs::write(&phone, phone_line_with_flag_handshakes_text()).unwrap();
        let line_profile = format!("phone={}", phone.display());
        let (sim, out, addresses) =
            simulator_process(dir.path(), &truth_file, minutes, &["--line-profile".into(), line_profile]);
        let mut profiles = bundled_files();
        profiles[1] = phone;
        let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a_dir).unwrap();
        std::fs::create_dir_all(&b_dir).unwrap();
        Self { _dir: dir, truth_file, sim, out, addresses, profiles, a_dir, b_dir }
    }
}

/// Whether the process `pid` holds every line of the three.
async fn held_by(store: &Store, pid: u32) -> bool {
    let owners = store.line_owners().await.unwrap_or_default();
    all_lines().iter().all(|p| owners.get(&p.line).is_some_and(|o| o.ends_with(&format!(" pid {pid}"))))
}

/// A process's log in its data folder (empty before it exists).
fn log_in(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("collect.log")).unwrap_or_default()
}

/// Two collecting processes configured for the same three lines on one PostgreSQL: each line
/// is collected by one of them, the other stands by; the holder killed with SIGKILL, the
/// standby takes every line over within 10 s (SPEC: line ownership), resuming from the store,
/// and the records are exact, none lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_collector_takes_over_the_lines_of_a_killed_holder_and_nothing_is_lost_or_doubled() {
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // a SQLite store belongs to one process: there is no standby to test
        }
        let TwoHosts { _dir, truth_file, sim, out, addresses, profiles, a_dir, b_dir } = TwoHosts::start(40);
        let store = db.store().await;
        let lines: Vec<String> = all_lines().iter().map(|p| p.line.clone()).collect();

        let mut a = collect_process(&a_dir, db.url(), &addresses, &profiles);
        let a_pid = a.0.id();
        wait_until("the first process to hold every line", Duration::from_secs(30), async || {
            held_by(&store, a_pid).await
        })
        .await;
        // The standby is a whole `mes serve`, so its readiness and metrics say who collects.
        let (b, base) = serve_process(&b_dir, db.url(), &addresses, &profiles);
        let b_pid = b.0.id();
        let b_log = || log_in(&b_dir);
        wait_until("the second process to stand by", Duration::from_secs(30), async || {
            b_log().matches("standing by").count() >= lines.len()
        })
        .await;
        wait_until("the holder to store 60 records", Duration::from_secs(60), async || {
            store.row_counts().await.unwrap()["station_results"] >= 60
        })
        .await;
        assert!(held_by(&store, a_pid).await, "the standby took no line while the holder lived");
        let (status, ready) = fetch_text(&base, "/readyz").await;
        assert_eq!(status, 200, "a hot standby is ready: {ready}");
        let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
        let standby = "standby: collected by mes collector";
        for line in &lines {
            let text = ready["collectors"][line].as_str().unwrap_or_default();
            assert!(text.starts_with(standby) && text.ends_with(&format!(" pid {a_pid}")), "{line}: {ready}");
        }
        for line in &lines {
            let owner = ready["owners"][line].as_str().unwrap_or_default();
            assert!(owner.ends_with(&format!(" pid {a_pid}")), "the store names {line}'s holder: {ready}");
        }
        let (_, metrics) = fetch_text(&base, "/metrics").await;
        assert_eq!(sample(&metrics, "mes_line_owned", &["line=\"phone-1\""]), Some(0.0), "{metrics}");

        a.0.kill().unwrap(); // SIGKILL: its sessions end, and with them its locks
        a.0.wait().unwrap();
        wait_until("the standby to take every line over", Duration::from_secs(10), async || {
            held_by(&store, b_pid).await
        })
        .await;
        assert_production_collected_exactly(&db, &store, out, &truth_file).await;
        assert!(b_log().contains("line taken over"), "{}", b_log());
        let (_, ready) = fetch_text(&base, "/readyz").await;
        assert!(ready.contains("connected, collected by this process (mes collector"), "{ready}");
        let (_, metrics) = fetch_text(&base, "/metrics").await;
        assert_eq!(sample(&metrics, "mes_line_owned", &["line=\"phone-1\""]), Some(1.0), "{metrics}");
        drop((sim, b));
        db.cleanup(store).await;
    }
}

/// A network partition between the holder and PostgreSQL (a proxy in between, cut) while a
/// standby still reaches it, on the phone line with flag-handshake stations whose record
/// numbers the MES assigns. The standby takes every line over; the holder, which cannot
/// confirm its leases, goes on into its outbox with its sequence stations only: a flag station
/// is acknowledged only for a record committed to the central database under the lease the
/// collector holds (its epoch checked in the commit transaction), so the two never both handle
/// a flag station's records, nor number two records alike. Once the holder sees the standby
/// acknowledge records, it leaves the line (else the records it takes would be missing from
/// the standby's interlock, which then denied the boards entering the phone line, and the
/// line stalled). Once the partition heals, the holder forwards its outbox and stands by; the
/// records are exact, none lost or doubled, none torn between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_holder_and_the_standby_that_took_its_lines_never_both_handle_a_flag_station() {
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // a SQLite store belongs to one process: there is no standby to test
        }
        let TwoHosts { _dir, truth_file, sim, out, addresses, profiles, a_dir, b_dir } = TwoHosts::start(240);
        let store = db.store().await;
        let proxy = CutProxy::before(&db).await;
        let lines = all_lines().len();
        let (a_log, b_log) = (|| log_in(&a_dir), || log_in(&b_dir));

        // The holder reaches the database through the proxy; the standby directly.
        let _a = collect_process(&a_dir, &proxy.url, &addresses, &profiles);
        let a_pid = _a.0.id();
        wait_until("the first process to hold every line", Duration::from_secs(30), async || {
            held_by(&store, a_pid).await
        })
        .await;
        let _b = collect_process(&b_dir, db.url(), &addresses, &profiles);
        let b_pid = _b.0.id();
        wait_until("the second process to stand by", Duration::from_secs(30), async || {
            b_log().matches("standing by").count() >= lines
        })
        .await;
        wait_until("the holder to store 60 records", Duration::from_secs(60), async || {
            store.row_counts().await.unwrap()["station_results"] >= 60
        })
        .await;

        proxy.cut();
        wait_until("the standby to take every line over", Duration::from_secs(20), async || {
            held_by(&store, b_pid).await
        })
        .await;
        wait_until("the holder to collect on into its outbox", Duration::from_secs(20), async || {
            a_log().matches("collecting on into the outbox").count() >= lines
        })
        .await;
        // Both run for a while; the flag stations go on, with the standby.
        let produced = || {
            // The simulator is writing: a last line may be half there.
            let text = std::fs::read_to_string(&truth_file).unwrap_or_default();
            let truth: Vec<StationResultLine> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
            (truth.len(), truth.iter().filter(|r| r.station == "DISPLAY").count())
        };
        let (all, display) = produced();
        let went_on = tokio::time::timeout(Duration::from_secs(90), async {
            loop {
                let (all_now, display_now) = produced();
                if all_now > all + 150 && display_now > display + 5 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        if went_on.await.is_err() {
            panic!(
                "production during the partition: {all} → {:?} records (all, DISPLAY); holder's log:\n{}\nstandby's log:\n{}",
                produced(),
                a_log(),
                b_log()
            );
        }
        let outbox = a_dir.join("outbox.sqlite");
        assert!(outbox_records(&outbox) > 0, "the holder kept collecting its sequence stations");
        // Until it saw the standby acknowledge them: then it left the lines to it, whose
        // interlock must see every record to judge the units entering the phone line.
        assert!(a_log().contains("another process acknowledges this line's records"), "{}", a_log());

        proxy.restore();
        wait_until("the holder to find its lines taken", Duration::from_secs(30), async || {
            a_log().matches("another process took the line").count() >= lines
        })
        .await;
        assert_production_collected_exactly(&db, &store, out, &truth_file).await;
        wait_until("the holder's outbox to be forwarded", Duration::from_secs(30), async || {
            outbox_records(&outbox) == 0
        })
        .await;
        drop((sim, proxy));
        db.cleanup(store).await;
    }
}

/// `mes serve` collecting the three lines at `addresses` and serving on a free loopback port;
/// with its web address (`http://127.0.0.1:PORT`). Its log goes to `collect.log`.
fn serve_process(data_dir: &Path, url: &str, addresses: &[(String, String)], profiles: &[PathBuf]) -> (Child, String) {
    Child::serving(collecting(&["serve", "--listen", "127.0.0.1:0"], data_dir, url, addresses, profiles))
}

/// What each test of a collector cut off from PostgreSQL starts with: a temp folder, `mes
/// simulate` of the three lines for `minutes` of production writing its ground truth there,
/// the store, and a proxy before its server.
struct CutOff {
    dir: tempfile::TempDir,
    truth_file: PathBuf,
    sim: Child,
    out: SimulatorOutput,
    addresses: Vec<(String, String)>,
    store: Store,
    proxy: CutProxy,
}

impl CutOff {
    async fn start(db: &TestDb, minutes: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let truth_file = dir.path().join("truth.jsonl");
        let (sim, out, addresses) = simulator_process(dir.path(), &truth_file, minutes, &[]);
        let store = db.store().await;
        let proxy = CutProxy::before(db).await;
        Self { dir, truth_file, sim, out, addresses, store, proxy }
    }
}

/// A TCP proxy in front of PostgreSQL whose connections the test can cut: while cut, every
/// connection through it is closed and new ones are refused.
struct CutProxy {
    addr: std::net::SocketAddr,
    /// The database URL through the proxy (set by [`CutProxy::before`]).
    url: String,
    open: Arc<std::sync::atomic::AtomicBool>,
    pipes: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// A proxy before `db`'s server, with the URL of the same database through it.
    async fn before(db: &TestDb) -> Self {
        // postgres://user@127.0.0.1:5432/db → the same database through the proxy.
        let (head, rest) = db.url().split_once('@').unwrap();
        let (server, path) = rest.split_once('/').unwrap();
        let mut proxy = Self::start(server.parse().unwrap()).await;
        proxy.url = format!("{head}@{}/{path}", proxy.addr);
        proxy
    }

    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let pipes: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (open, pipes) = (open.clone(), pipes.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !open.load(std::sync::atomic::Ordering::SeqCst) {
                        continue; // dropped: the connection is refused
                    }
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    pipes.lock().unwrap().push(pipe);
                }
            }
        });
        Self { addr, url: String::new(), open, pipes, accept }
    }

    /// Closes every connection through the proxy and refuses new ones.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Lets connections through again.
    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The collector's database connections cut for a while during production (a TCP proxy in
/// between), with its outbox turned off: commits fail and nothing is acknowledged, the line's
/// lease is lost and its collector stops; when the database answers again the line is claimed
/// again and collection resumes from the store. Records exact, none lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_cut_off_from_its_database_without_an_outbox_loses_or_doubles_nothing() {
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // an embedded store has no connection to cut
        }
        // Longer than the others: production blocks while the collector is cut off.
        let CutOff { dir, truth_file, sim, out, addresses, store, proxy } = CutOff::start(&db, 80).await;
        let config = write_config(dir.path(), "[outbox]\nenabled = false\n");
        let config = config.to_str().unwrap();
        let mut cmd =
            collecting(&["collect", "--config", config], dir.path(), &proxy.url, &addresses, &bundled_files());
        let _collector = Child(cmd.stdout(std::process::Stdio::null()).spawn().unwrap());
        let log = || std::fs::read_to_string(dir.path().join("collect.log")).unwrap_or_default();
        wait_until("the collector to store 60 records", Duration::from_secs(60), async || {
            store.row_counts().await.unwrap()["station_results"] >= 60
        })
        .await;

        proxy.cut();
        wait_until("the collector to give its lines up", Duration::from_secs(30), async || {
            log().matches("the line's lease was lost").count() >= 3
        })
        .await;
        let at_cut = store.row_counts().await.unwrap()["station_results"];
        let truth_lines = || std::fs::read_to_string(&truth_file).map(|t| t.lines().count()).unwrap_or(0);
        let produced = truth_lines();
        wait_until("production to go on meanwhile", Duration::from_secs(30), async || truth_lines() > produced + 40)
            .await;
        assert_eq!(store.row_counts().await.unwrap()["station_results"], at_cut, "nothing committed while cut off");
        assert!(!dir.path().join("outbox.sqlite").exists(), "no outbox when it is turned off");

        proxy.restore();
        assert_production_collected_exactly(&db, &store, out, &truth_file).await;
        assert!(log().matches("line claimed").count() >= 6, "each line claimed again: {}", log());
        drop((sim, proxy));
        db.cleanup(store).await;
    }
}

/// Store-and-forward (issue 18): the collecting host's database connections cut during
/// production. The collectors go on: each batch is committed to the local outbox and
/// acknowledged, `/readyz` and `/metrics` show the backlog, nothing reaches the central
/// database meanwhile; once it answers, the outbox is forwarded in order and emptied, and the
/// records are exact — none lost, none doubled — with no state interval left open twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_cut_off_from_its_database_keeps_collecting_into_its_outbox_and_forwards_it_exactly() {
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // an embedded store is local: it keeps no outbox
        }
        let CutOff { dir, truth_file, sim, out, addresses, store, proxy } = CutOff::start(&db, 60).await;
        let (_mes, base) = serve_process(dir.path(), &proxy.url, &addresses, &bundled_files());
        let log = || std::fs::read_to_string(dir.path().join("collect.log")).unwrap_or_default();
        wait_until("the collectors to store 60 records", Duration::from_secs(60), async || {
            store.row_counts().await.unwrap()["station_results"] >= 60
        })
        .await;

        proxy.cut();
        let outbox = dir.path().join("outbox.sqlite");
        // Far more than the PLCs' rings hold: the collectors went on acknowledging.
        wait_until("the collectors to keep 150 records in the outbox", Duration::from_secs(60), async || {
            outbox_records(&outbox) >= 150
        })
        .await;
        let kept = outbox_records(&outbox);
        let (status, ready) = fetch_text(&base, "/readyz").await;
        assert_eq!(status, 200, "a collector host that keeps collecting into its outbox is ready: {ready}");
        let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
        assert!(ready["outbox"]["backlog_records"].as_u64().unwrap() >= kept, "{ready}");
        assert!(ready["outbox"]["database_error"].is_string(), "{ready}");
        assert_eq!(ready["outbox"]["full"], false, "{ready}");
        let (_, metrics) = fetch_text(&base, "/metrics").await;
        assert!(plain_sample(&metrics, "mes_outbox_backlog_records").unwrap() >= kept as f64, "{metrics}");
        assert_eq!(plain_sample(&metrics, "mes_database_away"), Some(1.0), "{metrics}");
        let at_cut = store.row_counts().await.unwrap()["station_results"];

        proxy.restore();
        assert_production_collected_exactly(&db, &store, out, &truth_file).await;
        assert!(at_cut < read_truth(&truth_file).len() as u64, "production went on during the cut");
        wait_until("the outbox to be emptied", Duration::from_secs(30), async || outbox_records(&outbox) == 0).await;
        assert!(log().contains("outbox forwarded"), "{}", log());
        // The tablet line's LOAD lets a board in by its fallback when no answer comes in time
        // (the PLC's ground truth says "timeout"). Each such board is on record: as unanswered
        // when the collector gave up on it (kept and forwarded like the rest), or with the
        // verdict the collector wrote too late; nothing is flagged unanswered that was answered.
        let asked: Vec<plc_contract::ValidationLine> =
            std::fs::read_to_string(mes_simulators::run::validation_truth_path(&truth_file))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        let at_load =
            |serial: &str| asked.iter().find(|v| v.line == "tablet-1" && v.station == "LOAD" && v.serial == serial);
        let stored = store.validation_answers("tablet-1").await.unwrap();
        for (station, _, serial, _, reason) in &stored {
            if reason.as_deref() == Some(mes::domain::validation::UNANSWERED_ALLOWED) {
                assert_eq!(station, "LOAD", "only the station that lets units pass gives up: {stored:?}");
                assert_eq!(at_load(serial).map(|v| v.outcome.as_str()), Some("timeout"), "{serial}: {stored:?}");
            }
        }
        for v in asked.iter().filter(|v| v.line == "tablet-1" && v.station == "LOAD" && v.outcome == "timeout") {
            assert!(
                stored.iter().any(|(st, _, serial, _, _)| *st == v.station && *serial == v.serial),
                "{v:?}: {stored:?}"
            );
        }
        let (_, metrics) = fetch_text(&base, "/metrics").await;
        assert!(plain_sample(&metrics, "mes_outbox_forwarded_records_total").unwrap() >= kept as f64, "{metrics}");
        drop((sim, proxy));
        db.cleanup(store).await;
    }
}

/// The outbox full while the database is away: the collectors stop acknowledging (the PLCs
/// keep their records, then block), the alarm shows on `/readyz` and `/metrics`, nothing is
/// dropped; once the database answers, everything — the outbox and what waited in the PLCs —
/// is stored exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_stops_acknowledgements_raises_the_alarm_and_drops_nothing() {
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // an embedded store is local: it keeps no outbox
        }
        let CutOff { dir, truth_file, sim, out, addresses, store, proxy } = CutOff::start(&db, 60).await;
        let config = write_config(dir.path(), "[outbox]\nmax_kb = 24\n");
        let serve = ["serve", "--listen", "127.0.0.1:0", "--config", config.to_str().unwrap()];
        let (_mes, base) = Child::serving(collecting(&serve, dir.path(), &proxy.url, &addresses, &bundled_files()));
        let log = || std::fs::read_to_string(dir.path().join("collect.log")).unwrap_or_default();
        wait_until("the collectors to store 30 records", Duration::from_secs(60), async || {
            store.row_counts().await.unwrap()["station_results"] >= 30
        })
        .await;

        proxy.cut();
        wait_until("the outbox to fill", Duration::from_secs(60), async || log().contains("the outbox is full")).await;
        let (status, ready) = fetch_text(&base, "/readyz").await;
        assert_eq!(status, 503, "a full outbox is not ready: {ready}");
        let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
        assert_eq!(ready["outbox"]["full"], true, "{ready}");
        let (_, metrics) = fetch_text(&base, "/metrics").await;
        assert_eq!(plain_sample(&metrics, "mes_outbox_full"), Some(1.0), "{metrics}");
        let outbox = dir.path().join("outbox.sqlite");
        let bytes = outbox_bytes(&outbox);
        assert!(bytes <= 24 * 1024, "the outbox stays within its bound: {bytes} bytes");
        // Acknowledgements stopped: the PLCs' rings fill and production blocks.
        let truth_lines = || std::fs::read_to_string(&truth_file).map(|t| t.lines().count()).unwrap_or(0);
        let mut last = (truth_lines(), std::time::Instant::now());
        wait_until("production to block", Duration::from_secs(60), async || {
            let now = truth_lines();
            if now != last.0 {
                last = (now, std::time::Instant::now());
            }
            last.1.elapsed() > Duration::from_secs(3)
        })
        .await;
        assert_eq!(outbox_bytes(&outbox), bytes, "nothing more kept while full");

        proxy.restore();
        assert_production_collected_exactly(&db, &store, out, &truth_file).await;
        wait_until("the outbox to be emptied", Duration::from_secs(30), async || outbox_records(&outbox) == 0).await;
        assert!(log().contains("the outbox has room again"), "{}", log());
        drop((sim, proxy));
        db.cleanup(store).await;
    }
}

/// Chaos on a PostgreSQL server of the test's own: stopped for a minute of production, started
/// again; later killed with SIGKILL, started again (crash recovery). The collector host rides out
/// both on its outbox — its sequence stations acknowledged throughout; the flag-handshake
/// stations, whose records the MES numbers under the line's lease, wait for the database — and
/// forwards what it kept, and the holder gets its lines back before the standby could; the
/// records are exact, none lost or doubled, no state interval left open twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_host_rides_out_its_postgresql_stopped_and_killed_and_loses_or_doubles_nothing() {
    let Some(pg) = OwnPostgres::start() else { return };
    let admin_url = pg.url("postgres");
    let url = mes::store::create_database(&admin_url, "mes_chaos").await.unwrap();
    let db = TestDb::Postgres { admin_url, name: "mes_chaos".into(), url };
    // Long enough for a minute of production with the database stopped, then a kill. The phone
    // line's flag stations number their records under the line's lease: the holder must keep
    // its lease (and epoch) over the restart to go on.
    let TwoHosts { _dir, truth_file, sim, out, addresses, profiles, a_dir, b_dir } = TwoHosts::start(260);
    let store = db.store().await;
    let (a, _base) = serve_process(&a_dir, db.url(), &addresses, &profiles);
    let log = || log_in(&a_dir);
    let held_by_a = async || held_by(&store, a.0.id()).await;
    wait_until("the first host to hold every line", Duration::from_secs(60), async || held_by_a().await).await;
    // A hot standby for the same lines.
    let _b = collect_process(&b_dir, db.url(), &addresses, &profiles);
    let stored = async || store.row_counts().await.map_or(0, |c| c["station_results"]);
    let outbox = a_dir.join("outbox.sqlite");
    wait_until("the collectors to store 60 records", Duration::from_secs(60), async || stored().await >= 60).await;

    for (round, how) in ["stopped", "killed with SIGKILL"].into_iter().enumerate() {
        let before = stored().await;
        let forwarded = log().matches("outbox forwarded").count();
        match round {
            0 => pg.stop(),
            _ => pg.kill(),
        }
        let down = std::time::Instant::now();
        // Stopped: for a minute of production (the issue's outage); killed: a short crash.
        let outage = Duration::from_secs(if round == 0 { 60 } else { 5 });
        wait_until(
            &format!("PostgreSQL {how}: 120 records kept in the outbox"),
            Duration::from_secs(120),
            async || outbox_records(&outbox) >= 120 && down.elapsed() >= outage,
        )
        .await;
        eprintln!("PostgreSQL {how} for {:.1} s of production", down.elapsed().as_secs_f64());
        pg.start_again();
        wait_until(&format!("PostgreSQL {how}, back: the outbox forwarded"), Duration::from_secs(60), async || {
            outbox_records(&outbox) == 0 && log().matches("outbox forwarded").count() > forwarded
        })
        .await;
        assert!(stored().await >= before + 120, "what the outbox kept while PostgreSQL was {how} is stored");
        wait_until(
            "the holder that rode the outage out to hold its lines again",
            Duration::from_secs(20),
            async || held_by_a().await,
        )
        .await;
    }
    let b_log = std::fs::read_to_string(b_dir.join("collect.log")).unwrap_or_default();
    assert!(!b_log.contains("line taken over"), "the standby took a line the holder still had records of: {b_log}");
    assert_production_collected_exactly(&db, &store, out, &truth_file).await;
    assert!(log().contains("lease cannot be confirmed"), "{}", log());
    assert!(log().contains("the line's lease is confirmed again"), "{}", log());
    drop(sim);
    db.cleanup(store).await;
}

/// A collector killed with SIGKILL while it forwards the outbox it filled during a cut, then
/// started again: the new process forwards what is left (entries sent twice change nothing)
/// before it resumes, and the records are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_while_forwarding_its_outbox_and_restarted_loses_or_doubles_nothing() {
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // an embedded store is local: it keeps no outbox
        }
        let CutOff { dir, truth_file, sim, out, addresses, store, proxy } = CutOff::start(&db, 120).await;
        let mut first = collect_process(dir.path(), &proxy.url, &addresses, &bundled_files());
        let log = || std::fs::read_to_string(dir.path().join("collect.log")).unwrap_or_default();
        wait_until("the collector to store 30 records", Duration::from_secs(60), async || {
            store.row_counts().await.unwrap()["station_results"] >= 30
        })
        .await;
        proxy.cut();
        let outbox = dir.path().join("outbox.sqlite");
        // More entries than one forwarding round takes, so the kill lands between rounds.
        wait_until("the outbox to hold 400 entries", Duration::from_secs(90), async || {
            outbox_sum(&outbox, "count(*)") >= 400
        })
        .await;
        let kept = outbox_records(&outbox);
        proxy.restore();
        wait_until("the first forwarding round", Duration::from_secs(30), async || log().contains("outbox forwarded"))
            .await;
        first.0.kill().unwrap(); // SIGKILL, mid-forward
        first.0.wait().unwrap();
        let left = outbox_records(&outbox);
        eprintln!("killed while forwarding: {left} of {kept} kept records still in the outbox");

        let _second = collect_process(dir.path(), db.url(), &addresses, &bundled_files());
        assert_production_collected_exactly(&db, &store, out, &truth_file).await;
        wait_until("the outbox to be emptied", Duration::from_secs(30), async || outbox_records(&outbox) == 0).await;
        drop((sim, proxy));
        db.cleanup(store).await;
    }
}

/// Unit records waiting in the outbox file at `path` (0 before it exists).
fn outbox_records(path: &Path) -> u64 {
    outbox_sum(path, "sum(records)")
}

/// Bytes of the entries waiting in the outbox file at `path`.
fn outbox_bytes(path: &Path) -> u64 {
    outbox_sum(path, "sum(length(entry))")
}

fn outbox_sum(path: &Path, what: &str) -> u64 {
    let Ok(c) = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    c.query_row(&format!("SELECT coalesce({what}, 0) FROM outbox"), [], |r| r.get::<_, i64>(0)).map_or(0, |n| n as u64)
}

/// The value of an unlabelled sample `name` in a Prometheus text.
pub fn plain_sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Writes `text` as `dir/mes.toml`; its path.
fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("mes.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The collecting process is killed with SIGKILL mid-run (records committed but not yet
/// acknowledged, rings filling meanwhile), started again, and the result is still exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_mid_run_and_restarted_loses_or_doubles_nothing() {
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let truth_file = dir.path().join("truth.jsonl");
        let (sim, out, addresses) = simulator_process(dir.path(), &truth_file, 40, &[]);
        let store = db.store().await;
        let stored = async || store.row_counts().await.unwrap()["station_results"];
        let truth_lines = || std::fs::read_to_string(&truth_file).map(|t| t.lines().count()).unwrap_or(0);

        let mut first = collect_process(dir.path(), db.url(), &addresses, &bundled_files());
        wait_until("the first collector to store 60 records", Duration::from_secs(60), async || stored().await >= 60)
            .await;
        first.0.kill().unwrap(); // SIGKILL: no drain, no goodbye
        first.0.wait().unwrap();
        let at_kill = truth_lines();
        wait_until("production to go on without a collector", Duration::from_secs(60), async || {
            truth_lines() > at_kill + 40
        })
        .await;

        let _second = collect_process(dir.path(), db.url(), &addresses, &bundled_files());
        assert_production_collected_exactly(&db, &store, out, &truth_file).await;
        drop(sim);
        db.cleanup(store).await;
    }
}

/// The phone line with two stations speaking the flag handshakes of SPEC §3: DISPLAY a ready
/// flag the MES clears (on a holding register), BATTERY a ready flag answered by a separate
/// acknowledge flag the PLC then clears (on coils).
fn phone_line_with_flag_handshakes() -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles/phone-line.toml");
    Profile::parse(&path, &phone_line_with_flag_handshakes_text()).unwrap()
}

/// The text of [`phone_line_with_flag_handshakes`].
fn phone_line_with_flag_handshakes_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles/phone-line.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut parts: Vec<String> = text.split("[[stations]]").map(str::to_owned).collect();
    let seq_tags = "record_seq   = { address = \"hr:12\", type = \"u32\", scan = \"fast\" }\nrecord_ack   = { address = \"hr:14\", type = \"u32\" }";
    for part in parts.iter_mut() {
        if part.contains("code = \"DISPLAY\"") {
            assert!(part.contains(seq_tags));
            *part = part
                .replace("handshake = \"sequence\"", "handshake = \"ready_flag\"")
                .replace(seq_tags, "record_ready = { address = \"hr:12\", type = \"u16\", scan = \"fast\" }");
        } else if part.contains("code = \"BATTERY\"") {
            *part = part.replace("handshake = \"sequence\"", "handshake = \"ready_ack\"").replace(
                seq_tags,
                "record_ready = { address = \"co:0\", type = \"bool\", scan = \"fast\" }\nrecord_ack_flag = { address = \"co:1\", type = \"bool\" }",
            );
        }
    }
    parts.join("[[stations]]")
}

/// Ready-flag and ready/ack stations, under link faults that lose acknowledgements: the MES
/// numbers their records itself and still stores each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_handshake_stations_deliver_exactly_once_under_link_faults() {
    let db = TestDb::sqlite();
    let profile = phone_line_with_flag_handshakes();
    let Run { truth, got, health, store, .. } =
        run_profiles(&db, vec![profile.clone()], 17, "drop=3,stall=4:800,busy=0.05", &[], |_| {}).await;
    let handshake = |code: &str| profile.stations.iter().find(|s| s.code == code).unwrap().handshake;
    assert_eq!((handshake("DISPLAY"), handshake("BATTERY")), (Handshake::ReadyFlag, Handshake::ReadyAck));
    for station in ["DISPLAY", "BATTERY"] {
        assert!(produced_at(&truth, "phone-1", station) > 50, "{station} produced too little to prove anything");
    }
    assert_exact("flag handshakes", &truth, &got);
    assert!(health[0].connects > 2, "the link was cut: {} connects", health[0].connects);
    db.cleanup(Arc::try_unwrap(store).ok().expect("collectors released the store")).await;
}

/// One station's PLC unreachable (the collector has the wrong unit id: gateway exceptions) and
/// one returning garbage (its serial reads control bytes): both are counted as those stations'
/// errors, their records stay in their PLCs, and every other station is recorded exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_and_a_garbled_station_do_not_stop_the_others() {
    let db = TestDb::sqlite();
    let tweak = |p: &mut Profile| {
        for s in &mut p.stations {
            if s.code == "FT" {
                s.unit_id = Some(99);
            }
            if s.code == "SCREW" {
                // hr:30.. overlaps the result word (1 or 2): a control byte in the text.
                s.tags.get_mut(&Role::Serial).unwrap().address =
                    Address::Modbus { space: plc_contract::profile::RegisterSpace::HoldingRegister, index: 30 };
            }
        }
    };
    let Run { truth, got, health, store, .. } =
        run_profiles(&db, vec![bundled("phone-line.toml")], 29, "", &[], tweak).await;
    let bad = ["FT", "SCREW"];
    let others = |lines: &[StationResultLine]| -> Vec<StationResultLine> {
        lines.iter().filter(|l| !bad.contains(&l.station.as_str())).cloned().collect()
    };
    assert!(others(&truth).len() > 30, "the other stations produced: {}", others(&truth).len());
    assert_exact("healthy stations", &others(&truth), &others(&got));
    assert!(got.iter().all(|l| !bad.contains(&l.station.as_str())), "nothing recorded for the faulty stations");
    let stations = &health[0].stations;
    for s in stations {
        let faulty = bad.contains(&s.code.as_str());
        assert_eq!(s.errors > 0, faulty, "{}: {} errors ({:?})", s.code, s.errors, s.last_error);
    }
    let ft = stations.iter().find(|s| s.code == "FT").unwrap();
    assert!(ft.last_error.as_deref().unwrap_or("").contains("0x0B"), "gateway exception named: {:?}", ft.last_error);
    let screw = stations.iter().find(|s| s.code == "SCREW").unwrap();
    assert!(screw.last_error.as_deref().unwrap_or("").contains("serial"), "field named: {:?}", screw.last_error);
    db.cleanup(Arc::try_unwrap(store).ok().expect("collectors released the store")).await;
}

/// Boards placed from a held reel, boards that failed without repair, skipped their last step
/// or were never seen are sent to the phone and tablet lines: the interlock at their entry denies
/// each with the right reason, allows every good board, and records every answer. A phone and a
/// tablet put on hold before they exist (as a hold placed after loading would be: nothing asks
/// about them at entry, where their board is good) are refused at pack, so neither is packed or
/// reported packed; every other unit asking at pack is allowed. The records stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interlock_denies_held_failed_skipped_and_unknown_boards_and_allows_the_rest() {
    use mes::domain::hold::HoldTarget;
    let db = TestDb::sqlite();
    // The second reel of one feeder is held before anything runs: every board placed from it
    // (certainly or possibly) must be refused as on hold, whatever else is wrong with it.
    let held = "REEL-SMT-1-PNP-S1-00002";
    // A unit of each line and its last test before pack.
    let held_units = ["PH1-0000003", "TB1-0000002"];
    let last_test = ["RF", "CAL"];
    let mut holds = vec![HoldTarget::Lot(mes::domain::LotId::parse(held).unwrap())];
    holds.extend(held_units.map(|s| HoldTarget::Unit(mes::domain::SerialNumber::parse(s).unwrap())));
    let run = run_profiles(&db, all_lines(), 31, "route=0.1", &holds, |_| {}).await;
    let packed: std::collections::BTreeSet<&str> =
        run.truth.iter().filter(|r| r.station == "PACK").map(|r| r.serial.as_str()).collect();
    for line in ["PH1-", "TB1-"] {
        assert!(packed.iter().filter(|s| s.starts_with(line)).count() > 3, "{line} packed: {packed:?}");
    }
    for (serial, last) in held_units.into_iter().zip(last_test) {
        assert!(run.truth.iter().any(|r| r.serial == serial && r.station == last), "{serial} reached {last}");
        assert!(!packed.contains(serial), "held {serial} was packed");
    }
    for h in &run.health {
        assert!(h.held_packed.is_empty(), "{} reported packed: {:?}", h.line, h.held_packed);
    }
    assert_exact("with route faults", &run.truth, &run.got);
    let with_held_reel: std::collections::BTreeSet<&str> = run
        .truth
        .iter()
        .filter(|r| r.station == "PNP" && r.consumed.iter().any(|c| c.id == held))
        .map(|r| r.serial.as_str())
        .collect();
    assert!(!with_held_reel.is_empty(), "no board was placed from the held reel");
    let expected = |v: &plc_contract::ValidationLine| match v.truth.as_str() {
        _ if with_held_reel.contains(v.serial.as_str()) || held_units.contains(&v.serial.as_str()) => 3,
        "failed" => 2,
        "skipped" => 1,
        "unknown" => 4,
        _ => 0,
    };
    let answered: Vec<_> = run.validations.iter().filter(|v| v.outcome != "timeout").collect();
    assert!(answered.len() > 30, "validations answered: {}", answered.len());
    for v in &answered {
        let want = expected(v);
        assert_eq!(v.reason, want, "{} {} {} ({}): {v:?}", v.line, v.station, v.serial, v.truth);
        assert_eq!(v.outcome == "allow", want == 0, "{v:?}");
    }
    for kind in ["failed", "skipped", "unknown", "good"] {
        assert!(answered.iter().any(|v| v.truth == kind), "no {kind} board was asked about");
    }
    assert!(answered.iter().any(|v| v.reason == 3 && v.station == "LOAD"), "no board refused for the held reel");
    for line in ["phone-1", "tablet-1"] {
        let at_pack: Vec<_> = answered.iter().filter(|v| v.line == line && v.station == "PACK").collect();
        assert!(at_pack.iter().any(|v| v.outcome == "allow"), "{line}: no unit allowed at pack");
        assert_eq!(at_pack.iter().filter(|v| v.reason == 3).count(), 1, "{line}: refused at pack for its hold");
    }
    // Denied boards were never consumed.
    let denied: std::collections::BTreeSet<&str> =
        answered.iter().filter(|v| v.outcome == "deny").map(|v| v.serial.as_str()).collect();
    assert!(run.truth.iter().all(|r| r.consumed.iter().all(|c| !denied.contains(c.id.as_str()))));
    // Every answer is on record with its reason.
    let mut stored = Vec::new();
    for line in ["phone-1", "tablet-1"] {
        stored.extend(run.store.validation_answers(line).await.unwrap());
    }
    for v in &answered {
        assert!(
            stored.iter().any(|(station, _, serial, reason, _)| *station == v.station
                && *serial == v.serial
                && *reason == v.reason),
            "answer not recorded: {v:?}"
        );
    }
    db.cleanup(Arc::try_unwrap(run.store).ok().expect("collectors released the store")).await;
}

/// Fetches `path` from a web front: status and body.
pub async fn fetch_text(base: &str, path: &str) -> (u16, String) {
    let url = format!("{base}{path}");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = agent.get(&url).call().unwrap_or_else(|e| panic!("{url}: {e}"));
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
    })
    .await
    .unwrap()
}

/// The value of the Prometheus sample `name{labels…}` carrying every one of `labels`.
pub fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A collected line and a line whose PLCs cannot be reached, with the web front in the same
/// process: `/readyz` names the unreachable line, `/metrics` counts reads, link errors and
/// ingested records per line (every committed record exactly once), and each line page shows
/// its collector's health.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_metrics_and_line_pages_report_each_collector() {
    use mes::domain::shift::DEFAULT_TIME_ZONE;
    use mes::web::auth::Auth;
    use mes::web::{Web, WebState};
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    // Line codes of their own: metrics are per process, and other tests collect phone-1.
    let mut live = bundled("phone-line.toml");
    live.line = "phone-ops".into();
    let speed = 200.0;
    let mut options = sim_options(vec![live.clone()], 41, speed, 20, dir.path());
    options.validate = false;
    let (sim, addresses) = start_simulation(options).await;
    let addr = addresses[0].1;
    live.endpoint.move_to(&addr.ip().to_string(), addr.port());
    live.at_speed(speed);
    let mut dead = bundled("phone-line.toml");
    dead.line = "phone-dead".into();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    dead.endpoint.move_to("127.0.0.1", closed);
    let store = Arc::new(db.store().await);
    let settings = DriverSettings { pki_dir: dir.path().join("pki-mes"), fallback_password: None };
    let collectors = Collectors::start(Ports::all(store.clone()), vec![live, dead], &settings).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let state = WebState {
        kiosk: true,
        health: collectors.health.clone(),
        ..WebState::new(store.clone(), ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE), Auth::with_key([8; 32]))
    };
    let web = Web::build(listener, state, 1).unwrap();
    let base = format!("http://127.0.0.1:{}", web.port());
    let handle = web.handle();
    let server = tokio::spawn(web.run_until_stopped());

    let line = LineId::parse("phone-ops").unwrap();
    wait_until("records from phone-ops", Duration::from_secs(30), async || {
        !store
            .station_results(&StationResultFilter { line: Some(line.clone()), ..Default::default() }, 0, 1)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    wait_until("a link error on phone-dead", Duration::from_secs(30), async || {
        let (_, text) = fetch_text(&base, "/metrics").await;
        sample(&text, "mes_link_errors_total", &["line=\"phone-dead\""]).is_some_and(|v| v >= 1.0)
    })
    .await;
    let (status, ready) = fetch_text(&base, "/readyz").await;
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["collectors"]["phone-ops"], "connected", "{ready}");
    assert!(ready["collectors"]["phone-dead"].as_str().unwrap().starts_with("not connected"), "{ready}");
    assert_eq!(ready["database"], "reachable");

    let (_, metrics) = fetch_text(&base, "/metrics").await;
    for station in ["LOAD", "FT", "PACK"] {
        let labels = ["line=\"phone-ops\"", &format!("station=\"{station}\"")];
        assert!(sample(&metrics, "mes_reads_total", &labels).is_some_and(|v| v > 0.0), "reads of {station}: {metrics}");
        assert!(
            sample(&metrics, "mes_read_microseconds_total", &labels).is_some_and(|v| v > 0.0),
            "read time of {station}"
        );
    }
    assert_eq!(sample(&metrics, "mes_collector_connected", &["line=\"phone-ops\""]), Some(1.0));
    // A SQLite store has one collecting process: it owns its lines.
    assert_eq!(sample(&metrics, "mes_line_owned", &["line=\"phone-ops\""]), Some(1.0));
    assert_eq!(sample(&metrics, "mes_collector_connected", &["line=\"phone-dead\""]), Some(0.0));
    assert!(sample(&metrics, "mes_queue_depth", &["line=\"phone-ops\""]).is_some(), "queue depth reported");
    for class in ["fast", "default"] {
        let labels = ["line=\"phone-ops\"", &format!("scan_class=\"{class}\"")];
        assert!(sample(&metrics, "mes_scan_polls_total", &labels).is_some_and(|v| v > 0.0), "polls of {class}");
        assert!(sample(&metrics, "mes_scan_seconds_count", &labels).is_some_and(|v| v > 0.0), "poll times of {class}");
    }

    let (status, page) = fetch_text(&base, "/lines/phone-ops").await;
    assert_eq!(status, 200);
    assert!(page.contains("Collector: connected") && page.contains("id=\"health\""), "{page}");
    assert!(page.contains("id=\"scans\"") && page.contains("<td>fast</td><td class=\"n\">100 ms</td>"), "{page}");
    let (_, page) = fetch_text(&base, "/lines/phone-dead").await;
    assert!(page.contains("Collector: NOT CONNECTED"), "the dead line says so: {page}");

    sim.await.unwrap().unwrap();
    // Stop, not drain: the dead line would wait out the drain limit.
    collectors.set_mode(Mode::Stop);
    collectors.join().await;
    let (_, metrics) = fetch_text(&base, "/metrics").await;
    let stored = recorded(&store).await.iter().filter(|l| l.line == "phone-ops").count();
    assert!(stored > 30, "the line produced: {stored}");
    assert_eq!(
        sample(&metrics, "mes_records_ingested_total", &["line=\"phone-ops\""]),
        Some(stored as f64),
        "every committed record counted once"
    );
    handle.stop(true).await;
    server.await.unwrap().unwrap();
    drop(store);
}

/// The database is replaced under a running collector (dropped and made again, empty, as an
/// operator restoring a backup would): the collector finds its line's master data gone,
/// registers the line again and goes on; every record from then on is stored once, and the
/// records the PLCs held meanwhile are not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_whose_store_loses_its_master_data_registers_the_line_again_and_goes_on() {
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let truth_file = dir.path().join("truth.jsonl");
        let speed = 150.0;
        // Batteries from one supplier: the replacement below undoes every migration, and undoing
        // lots per material is refused while a lot code belongs to two suppliers.
        let single_sourced = || {
            let mut p = bundled("phone-line.toml");
            p.stations.iter_mut().flat_map(|s| &mut s.consumes).for_each(|c| c.supplier_tag = None);
            p
        };
        let mut options = sim_options(vec![single_sourced()], 21, speed, 40, dir.path());
        options.ground_truth = Some(truth_file.clone());
        let (sim, addresses) = start_simulation(options).await;
        let mut profile = single_sourced();
        profile.endpoint.move_to(&addresses[0].1.ip().to_string(), addresses[0].1.port());
        profile.at_speed(speed);
        let store = Arc::new(db.store().await);
        let settings = DriverSettings { pki_dir: dir.path().join("pki-mes"), fallback_password: None };
        let collectors = Collectors::start(Ports::all(store.clone()), vec![profile.clone()], &settings).await.unwrap();
        let health = collectors.health[0].clone();
        wait_until("30 records stored", Duration::from_secs(60), async || {
            store.row_counts().await.unwrap()["station_results"] >= 30
        })
        .await;

        // Another process replaces the database: every table dropped and made again, empty.
        let other = db.store().await;
        other.migrate_down_all().await.unwrap();
        other.migrate_up().await.unwrap();
        drop(other);
        wait_until("the line registered again", Duration::from_secs(60), async || {
            health.snapshot().master_data_restored >= 1
        })
        .await;
        sim.await.unwrap().unwrap();
        collectors.set_mode(Mode::Drain);
        collectors.join().await;

        let h = health.snapshot();
        assert!(h.store_errors >= 1 && h.last_store_error.is_none(), "{}: {h:?}", db.label());
        let truth = read_truth(&truth_file);
        let got = recorded(&store).await;
        // Per station: from the first record the new store holds, every produced record is
        // there, once: nothing the PLCs held while the master data was missing was lost.
        for s in &profile.stations {
            let mine: Vec<StationResultLine> = got.iter().filter(|g| g.station == s.code).cloned().collect();
            let produced_after = truth.iter().filter(|t| t.station == s.code).count();
            let Some(first) = mine.iter().map(|g| g.seq).min() else {
                assert!(produced_after < 5, "{}: {} stored nothing after the replacement", db.label(), s.code);
                continue;
            };
            let tail: Vec<StationResultLine> =
                truth.iter().filter(|t| t.station == s.code && t.seq >= first).cloned().collect();
            assert_exact(&format!("{} {}", db.label(), s.code), &tail, &mine);
        }
        assert!(got.len() > 50, "{}: {} records after the replacement", db.label(), got.len());
        db.cleanup(Arc::try_unwrap(store).ok().expect("collectors released the store")).await;
    }
}

/// `lines` with some stations made PLCs of their own: `[stations.endpoint]` added to each
/// station whose code is listed, keeping the line's protocol and every other key (the
/// simulators serve such a station on a port of its own; `move_to_served` points the profile
/// at it).
fn with_station_endpoints(file: &str, codes: &[&str], endpoint: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut parts: Vec<String> = text.split("[[stations]]").map(str::to_owned).collect();
    for part in parts.iter_mut().skip(1) {
        if codes.iter().any(|c| part.contains(&format!("code = \"{c}\""))) {
            // Before the station's first sub-table, so the keys belong to the station.
            let at = part.find("\n[").unwrap();
            part.insert_str(at, &format!("\n[stations.endpoint]\n{endpoint}"));
        }
    }
    Profile::parse(&path, &parts.join("[[stations]]")).unwrap()
}

/// Stations wired as separate PLCs on addresses of their own (Modbus and OPC UA), under cut
/// links: every record exactly once, each station read through its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_that_are_plcs_of_their_own_are_collected_through_their_own_endpoints() {
    let db = TestDb::sqlite();
    let lines = vec![
        bundled("smt-line.toml"),
        with_station_endpoints("phone-line.toml", &["FT", "PACK"], "port = 1"),
        with_station_endpoints("tablet-line.toml", &["LOAD"], "url = \"opc.tcp://127.0.0.1:1/mes/tablet\""),
    ];
    assert!(lines[1].stations.iter().filter(|s| s.endpoint.is_some()).count() == 2);
    let run = run_profiles(&db, lines, 31, "drop=4", &[], |_| {}).await;
    assert_meaningful(&run.truth);
    assert_exact(db.label(), &run.truth, &run.got);
    // The SMT line reconnects as a whole; on the phone line each cut connection was that
    // station's fault, made again by itself while the others went on.
    let line = |code: &str| run.health.iter().find(|h| h.line == code).unwrap();
    assert!(line("smt-1").connects > 1, "links were cut");
    assert!(line("phone-1").stations.iter().any(|s| s.errors > 0), "{:?}", line("phone-1").stations);
    db.cleanup(Arc::try_unwrap(run.store).ok().expect("collectors released the store")).await;
}

/// A station whose own PLC cannot be reached is that station's fault: the line's other
/// stations are collected exactly, and the station's health says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_station_plc_does_not_stop_its_line() {
    let db = TestDb::sqlite();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tweak = move |p: &mut Profile| {
        for s in &mut p.stations {
            if s.code == "FT" {
                s.endpoint = Some(plc_contract::profile::Endpoint::ModbusTcp {
                    host: "127.0.0.1".into(),
                    port: closed,
                    timeout: Duration::from_millis(300),
                });
            }
        }
    };
    let Run { truth, got, health, store, .. } =
        run_profiles(&db, vec![bundled("phone-line.toml")], 33, "", &[], tweak).await;
    let others = |lines: &[StationResultLine]| -> Vec<StationResultLine> {
        lines.iter().filter(|l| l.station != "FT").cloned().collect()
    };
    assert!(others(&truth).len() > 30, "the other stations produced: {}", others(&truth).len());
    assert_exact("stations behind the line's endpoint", &others(&truth), &others(&got));
    assert!(got.iter().all(|l| l.station != "FT"), "nothing recorded from the unreachable PLC");
    let ft = health[0].stations.iter().find(|s| s.code == "FT").unwrap();
    assert!(
        ft.errors > 0 && ft.last_error.as_deref().unwrap_or("").contains("unreachable"),
        "FT's health names its PLC: {:?}",
        ft.last_error
    );
    assert!(health[0].stations.iter().filter(|s| s.code != "FT").all(|s| s.errors == 0), "{:?}", health[0].stations);
    db.cleanup(Arc::try_unwrap(store).ok().expect("collectors released the store")).await;
}

/// One scan class's counts from a collector's health: (polls, skipped ticks, overruns).
fn scan_counts(health: &mes::acquisition::health::SharedHealth, class: &str) -> (u64, u64, u64) {
    let h = health.snapshot();
    let s = h.scans.iter().find(|s| s.class == class).unwrap();
    (s.polls, s.skipped, s.overruns)
}

/// Waits (1 ms steps) until a poll of `class` ends that did not overrun, and returns the counts
/// and the instant it was seen: at that moment every tick that has come is counted.
async fn just_after_a_poll(
    health: &mes::acquisition::health::SharedHealth,
    class: &str,
) -> ((u64, u64, u64), std::time::Instant) {
    let before = scan_counts(health, class);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = scan_counts(health, class);
        if now.0 > before.0 && now.2 == before.2 {
            return (now, std::time::Instant::now());
        }
        assert!(std::time::Instant::now() < deadline, "no poll of {class} within 30 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A 20 ms scan class against a PLC that answers every request 5 ms late and stalls 150 ms
/// every 2 s: in a measured window of about 5 s, every tick of the schedule is served by one
/// poll or counted as skipped, within one tick (a count, not a timing assertion: the ticks are
/// the window's length over the period); the stalls are counted as overruns, and the ticks they
/// swallowed are skipped, not made up for by a burst of polls. Polling "a period after the last
/// poll ended" makes about 200 polls of the 250 ticks here and fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_class_keeps_its_fixed_rate_and_counts_a_stall_as_an_overrun() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut line = bundled("phone-line.toml");
    line.line = "phone-scan".into();
    let mut options = sim_options(vec![line.clone()], 47, 1.0, 10, dir.path());
    options.validate = false;
    options.faults = Faults::parse("delay=5,stall=2:150").unwrap();
    let (sim, addresses) = start_simulation(options).await;
    // The collector watches the first station, every tag of it in one 20 ms class: one read of
    // 16 registers (state, fault, counters, epoch, sequence and acknowledged sequence) per tick.
    line.move_to_served(&addresses);
    line.stations.truncate(1);
    line.stations[0].validation = None;
    for tag in line.stations[0].tags.values_mut() {
        tag.scan = "fast".into();
    }
    line.scan_classes = BTreeMap::from([("fast".to_owned(), Duration::from_millis(20))]);
    let store = Arc::new(db.store().await);
    let settings = DriverSettings { pki_dir: dir.path().join("pki-mes"), fallback_password: None };
    let collectors = Collectors::start(Ports::all(store.clone()), vec![line], &settings).await.unwrap();
    let health = collectors.health[0].clone();
    wait_until("the first polls", Duration::from_secs(30), async || scan_counts(&health, "fast").0 >= 10).await;

    let (a, at_a) = just_after_a_poll(&health, "fast").await;
    tokio::time::sleep(Duration::from_millis(5_000)).await; // the measured window
    let (b, at_b) = just_after_a_poll(&health, "fast").await;
    let ticks = ((at_b - at_a).as_secs_f64() / 0.020).round() as i64;
    let (polls, skipped, overruns) = (b.0 - a.0, b.1 - a.1, b.2 - a.2);
    let report = format!("{ticks} ticks in the window: {polls} polls, {skipped} skipped, {overruns} overruns");
    eprintln!("20 ms class, 5 ms answers, 150 ms stalls: {report}");
    assert!(((polls + skipped) as i64 - ticks).abs() <= 1, "every tick served or skipped: {report}");
    // Two stall windows of 150 ms fall in 5 s: each is one overrun swallowing about 7 ticks.
    assert!(overruns >= 2, "the stalls are overruns: {report}");
    assert!(skipped >= 10, "the ticks under the stalls are skipped: {report}");
    assert!(polls as i64 <= ticks - 10 + 1, "no burst makes up for the stalls: {report}");

    collectors.set_mode(Mode::Stop);
    collectors.join().await;
    sim.abort();
}

/// Two masters acknowledging one sequence station, as while a standby holds a line whose
/// former holder, cut off from the database, collects on into its outbox. The placement
/// machine's record is read in several Modbus requests (its reels sit far from its key); a
/// proxy between the collector and the simulated PLC acknowledges the presented record itself,
/// as the other master would, between those requests, on every second read. A record whose
/// sequence moved on while it was read is read again, never stored with the next record's
/// reels or none: every record stored is one the line produced, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_another_master_acknowledges_while_it_is_read_is_never_stored_torn() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let truth_file = dir.path().join("truth.jsonl");
    let (sim, mut out, addresses) = simulator_process(dir.path(), &truth_file, 60, &[]);
    let smt = addresses.iter().find(|(l, _)| l == "smt-1").unwrap().1.parse().unwrap();
    let tearing = TearingProxy::start(smt).await;
    let addresses = [("smt-1".to_owned(), tearing.addr.to_string())];
    let smt_profile = bundled_files()[0].clone();
    let _collector = collect_process(dir.path(), db.url(), &addresses, &[smt_profile]);

    let stopped =
        tokio::task::spawn_blocking(move || out.any(|l| l.is_ok_and(|l| l.starts_with("production stopped"))));
    assert!(stopped.await.unwrap(), "the simulator reports the end of production");
    let truth: Vec<StationResultLine> = read_truth(&truth_file).into_iter().filter(|t| t.line == "smt-1").collect();
    let store = db.store().await;
    // Each record the line produced is stored by the collector or was taken by the other master.
    wait_until("every record to be stored or taken by the other master", Duration::from_secs(60), async || {
        let acked = tearing.taken.lock().unwrap().len() as u64;
        store.row_counts().await.unwrap()["station_results"] + acked >= truth.len() as u64
    })
    .await;
    let got = recorded(&store).await;
    // The records the other master took while the collector read them: produced, and never
    // stored (read whole or not at all).
    let taken = tearing.taken.lock().unwrap().clone();
    let placed_seqs: std::collections::BTreeSet<u64> =
        truth.iter().filter(|r| r.station == "PNP").map(|r| r.seq).collect();
    assert!(taken.iter().all(|s| placed_seqs.contains(s)), "taken {taken:?} of produced {placed_seqs:?}");
    let stored_taken: Vec<&StationResultLine> =
        got.iter().filter(|r| r.station == "PNP" && taken.contains(&r.seq)).collect();
    assert!(
        stored_taken.is_empty(),
        "{} records stored though another master acknowledged them while they were read (torn), e.g. {:?}",
        stored_taken.len(),
        stored_taken.iter().take(2).collect::<Vec<_>>()
    );
    let (_, extra) = compare(&truth, &got);
    assert!(
        extra.is_empty(),
        "{} records stored that the line never produced (torn reads), e.g. {:?}",
        extra.len(),
        extra.iter().take(2).collect::<Vec<_>>()
    );
    let acked = taken.len();
    let placed = got.iter().filter(|r| r.station == "PNP").count();
    assert!(acked >= 10, "the other master acknowledged records while they were read: {acked} ({placed} stored)");
    assert!(placed >= 10, "the placement machine's records are stored when read whole: {placed} ({acked} taken)");
    assert!(
        got.iter().filter(|r| r.station == "PNP").all(|r| !r.consumed.is_empty()),
        "every placed board carries its reels"
    );
    let log = std::fs::read_to_string(dir.path().join("collect.log")).unwrap();
    assert!(log.contains("was acknowledged while it was read"), "the collector says why it read a record again: {log}");
    drop(sim);
    db.cleanup(store).await;
}

/// A Modbus TCP proxy before a simulated SMT line that, on every second read of the placement
/// machine's reel registers (unit 3, the request from register 400), first acknowledges the record the
/// PLC presents on a connection of its own: another master, at the worst moment.
struct TearingProxy {
    addr: std::net::SocketAddr,
    /// The sequence numbers of the records it acknowledged.
    taken: Arc<std::sync::Mutex<Vec<u64>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TearingProxy {
    const UNIT: u8 = 3;
    const REELS: u16 = 400;

    async fn start(plc: std::net::SocketAddr) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_modbus::prelude::*;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let taken: Arc<std::sync::Mutex<Vec<u64>>> = Arc::default();
        let accept = tokio::spawn({
            let taken = taken.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let taken = taken.clone();
                    tokio::spawn(async move {
                        let Ok(server) = tokio::net::TcpStream::connect(plc).await else { return };
                        let mut other = tokio_modbus::client::tcp::connect_slave(plc, Slave(Self::UNIT)).await.unwrap();
                        let (mut from_client, mut to_client) = client.into_split();
                        let (mut from_server, mut to_server) = server.into_split();
                        tokio::spawn(async move {
                            let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                        });
                        let mut reads = 0u64;
                        loop {
                            // MBAP header: transaction, protocol, length (unit + PDU), unit.
                            let mut head = [0u8; 7];
                            if from_client.read_exact(&mut head).await.is_err() {
                                return;
                            }
                            let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
                            let mut pdu = vec![0u8; len.saturating_sub(1)];
                            if from_client.read_exact(&mut pdu).await.is_err() {
                                return;
                            }
                            let reads_reels = head[6] == Self::UNIT
                                && pdu.first() == Some(&3)
                                && pdu.len() >= 3
                                && u16::from_be_bytes([pdu[1], pdu[2]]) == Self::REELS;
                            if reads_reels {
                                reads += 1;
                                // record_seq (hr:12, u32) and record_ack (hr:14, u32).
                                let regs = other.read_holding_registers(12, 4).await.unwrap().unwrap();
                                if reads % 2 == 1 && regs[..2] != regs[2..] {
                                    other.write_multiple_registers(14, &regs[..2]).await.unwrap().unwrap();
                                    // u32 in two registers, high word first (the profile's default).
                                    taken.lock().unwrap().push(u64::from(regs[0]) << 16 | u64::from(regs[1]));
                                }
                            }
                            if to_server.write_all(&head).await.is_err() || to_server.write_all(&pdu).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Self { addr, taken, accept }
    }
}

impl Drop for TearingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
