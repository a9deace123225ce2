//! The `mes` binary as users and scripts drive it: real processes, real databases.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use mes::bench::sample_plant::SamplePlant;
use plc_contract::StationResultLine;

use crate::harness::TestDb;

fn mes(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mes")).args(args).output().expect("the mes binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = mes(args);
    assert!(out.status.success(), "mes {args:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `--data-dir DIR` for SQLite, `--database-url URL` for PostgreSQL.
fn store_args(db: &TestDb) -> Vec<String> {
    match db.dir() {
        Some(dir) => vec!["--data-dir".into(), dir.join("data").display().to_string()],
        None => vec!["--database-url".into(), db.url().to_owned()],
    }
}

fn with(base: &[&str], store: &[String]) -> Vec<String> {
    base.iter().map(|s| (*s).to_owned()).chain(store.iter().cloned()).collect()
}

fn run_ok(args: &[String]) -> String {
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[tokio::test]
async fn demo_then_export_gives_back_every_generated_record_exactly_once() {
    for db in TestDb::all().await {
        let store = store_args(&db);
        let first = run_ok(&with(&["demo", "--history", "--seed", "3", "--phones", "20", "--tablets", "10"], &store));
        let truth = SamplePlant::new(3, Utc::now()).next_chunk(20, 10).records;
        assert!(
            first.contains(&format!("records    {} new, 0 already stored", truth.len())),
            "{}: {first}",
            db.label()
        );
        let again = run_ok(&with(&["demo", "--history", "--seed", "3", "--phones", "20", "--tablets", "10"], &store));
        assert!(
            again.contains(&format!("records    0 new, {} already stored", truth.len())),
            "{}: {again}",
            db.label()
        );

        let jsonl = run_ok(&with(&["export", "station-results", "--format", "jsonl"], &store));
        let exported: Vec<StationResultLine> =
            jsonl.lines().map(|l| serde_json::from_str(l).expect("each line is a result")).collect();
        assert_eq!(exported.len(), truth.len(), "{}: one line per record, no duplicates", db.label());
        // The demo's history ends "now", so instants differ from run to run; records do not.
        let got: BTreeSet<_> = exported.iter().map(StationResultLine::without_times).collect();
        let want: BTreeSet<_> = truth.iter().map(|r| r.to_result_line(None).without_times()).collect();
        assert_eq!(got, want, "{}", db.label());
        assert!(exported.iter().all(|l| l.recorded_at.is_some() && l.plc_epoch == Some(1)));

        let csv = run_ok(&with(
            &["export", "station-results", "--format", "csv", "--line", "phone-1", "--station", "FT"],
            &store,
        ));
        let mut rows = csv.lines();
        assert_eq!(
            rows.next(),
            Some(
                "line,station,plc_epoch,seq,serial,result,defects,consumed,produced_at,started_at,recorded_at,on_hold,repair_action"
            )
        );
        let ft = truth.iter().filter(|r| r.line.as_str() == "phone-1" && r.station.as_str() == "FT").count();
        assert_eq!(rows.count(), ft, "{}", db.label());
        if let Some(dir) = db.dir() {
            assert!(dir.join("data").join("mes.sqlite").exists(), "the SQLite store lives under --data-dir");
        }
        let store_handle = db.store().await;
        db.cleanup(store_handle).await;
    }
}

#[tokio::test]
async fn trace_json_lists_what_the_generator_put_in_a_phone() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    run_ok(&with(&["demo", "--history", "--seed", "5", "--phones", "10", "--tablets", "0"], &store));
    let mut plant = SamplePlant::new(5, Utc::now());
    plant.next_chunk(10, 0);
    let (phone, board) = plant.truth.product_board.iter().next().expect("a phone");

    let json: serde_json::Value = serde_json::from_str(&run_ok(&with(&["trace", phone, "--json"], &store))).unwrap();
    let mut ids = BTreeSet::new();
    collect_ids(&json["tree"], &mut ids);
    ids.remove(phone.as_str());
    assert_eq!(ids, plant.truth.backward(phone));
    assert_eq!(json["units"][phone]["unit"]["status"], "packed");
    assert_eq!(json["units"][board]["unit"]["status"], "consumed");

    let reel = plant.truth.board_reels[board].keys().next().expect("a reel").clone();
    let forward: serde_json::Value =
        serde_json::from_str(&run_ok(&with(&["trace", "--lot", &reel, "--json"], &store))).unwrap();
    let found: BTreeSet<String> =
        forward["units"].as_array().unwrap().iter().map(|u| u["hit"]["serial"].as_str().unwrap().to_owned()).collect();
    let expected: BTreeSet<String> = plant.truth.forward_of_reel(&reel).into_keys().collect();
    assert_eq!(found, expected);

    let human = run_ok(&with(&["trace", phone], &store));
    assert!(human.contains(board) && human.contains(&reel), "{human}");
}

fn collect_ids(node: &serde_json::Value, out: &mut BTreeSet<String>) {
    if let Some(id) = node["item"]["id"].as_str() {
        out.insert(id.to_owned());
    }
    for child in node["children"].as_array().into_iter().flatten() {
        collect_ids(child, out);
    }
}

#[test]
fn unknown_serials_and_lots_exit_2_with_a_message() {
    let db = TestDb::sqlite();
    let dir = db.dir().unwrap().join("data").display().to_string();
    let out = mes(&["trace", "NO-SUCH-SERIAL", "--data-dir", &dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"NO-SUCH-SERIAL\" is unknown"));
    let out = mes(&["trace", "--lot", "NO-SUCH-LOT", "--data-dir", &dir]);
    assert_eq!(out.status.code(), Some(2));
    let out = mes(&["trace", "--data-dir", &dir]);
    assert_eq!(out.status.code(), Some(2), "clap usage error: SERIAL or --lot is required");
}

/// `mes outbox` shows a collector host's backlog and quarantine, exits 1 while something is set
/// aside, and `--retry` puts it back into the outbox at its old place.
#[tokio::test]
async fn the_outbox_command_lists_the_quarantine_and_sends_an_entry_again() {
    let db = TestDb::sqlite();
    let data = db.dir().unwrap().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let dir = data.display().to_string();
    let out = mes(&["outbox", "--data-dir", &dir]);
    assert_eq!(out.status.code(), Some(2), "no outbox here");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no outbox"));

    let path = data.join(mes::store::OUTBOX_FILE);
    drop(mes::store::Outbox::open(&path, 1 << 20).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO quarantine (id, line, queued_at, quarantined_at, records, error, entry) \
         VALUES (7, 'phone-1', '2026-12-07T01:00:00Z', '2026-12-07T01:05:00Z', 3, 'refused 3 times in a row: the record was refused', '{}')",
        [],
    )
    .unwrap();
    drop(conn);
    let out = mes(&["outbox", "--data-dir", &dir]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "something set aside is an alarm: {text}");
    assert!(text.contains("quarantine: 1 entries the central database refused (3 unit records)"), "{text}");
    assert!(text.contains("phone-1") && text.contains("refused 3 times in a row"), "{text}");

    let moved = ok(&["outbox", "--retry", "7", "--data-dir", &dir]);
    assert!(moved.starts_with("1 quarantined entries put back into the outbox"), "{moved}");
    let doc: serde_json::Value = serde_json::from_str(&ok(&["outbox", "--json", "--data-dir", &dir])).unwrap();
    assert_eq!(doc["quarantine"], serde_json::json!([]), "{doc}");
    assert_eq!(
        (doc["outbox"]["backlog_entries"].as_u64(), doc["outbox"]["backlog_records"].as_u64()),
        (Some(1), Some(3))
    );
}

#[test]
fn a_bad_config_is_refused_naming_file_line_and_key() {
    let db = TestDb::sqlite();
    let dir = db.dir().unwrap();
    let path = dir.join("mes.toml");
    std::fs::write(&path, "data_dir = \"d\"\n[plant]\ntime_zone = \"Asia/Hanoi_Typo\"\n").unwrap();
    let out = mes(&["--config", path.to_str().unwrap(), "migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:3:13: plant.time_zone", path.display())), "{stderr}");
    assert!(!dir.join("d").exists(), "nothing is created before the config is valid");
}

#[test]
fn migrate_creates_the_store_from_a_config_file_and_lists_its_tables() {
    let db = TestDb::sqlite();
    let dir = db.dir().unwrap();
    std::fs::write(dir.join("mes.toml"), "data_dir = \"plant-data\"\n").unwrap();
    let out = ok(&["--config", dir.join("mes.toml").to_str().unwrap(), "migrate"]);
    assert!(out.contains("10 migrations applied now"), "{out}");
    assert!(
        out.contains("station_results") && out.contains("genealogy_edges") && out.contains("defect_codes"),
        "{out}"
    );
    assert!(Path::new(&dir.join("plant-data/mes.sqlite")).exists(), "data_dir is relative to the config file");
    let again = ok(&["--config", dir.join("mes.toml").to_str().unwrap(), "migrate"]);
    assert!(again.contains("0 migrations applied now"), "{again}");
}

#[test]
fn the_shipped_profiles_pass_profile_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    let files: Vec<String> = ["phone-line.toml", "smt-line.toml", "tablet-line.toml"]
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    let mut args = vec!["profile", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = ok(&args);
    assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), 3, "{out}");
    assert!(out.contains("opcua opc.tcp://127.0.0.1:4840/mes/tablet"), "{out}");
}

#[test]
fn a_bad_profile_fails_profile_check_naming_file_line_and_field() {
    let db = TestDb::sqlite();
    let good =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles/phone-line.toml")).unwrap();
    let bad = good.replacen(
        r#"result       = { address = "hr:32", type = "u16" }"#,
        r#"result       = { address = "hr:32", type = "f32" }"#,
        1,
    );
    assert_ne!(bad, good, "the fixture edit must apply");
    let path = db.dir().unwrap().join("phone-line.toml");
    std::fs::write(&path, bad).unwrap();
    let out = mes(&["profile", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = good.lines().position(|l| l.starts_with("result       = { address = \"hr:32\"")).unwrap() + 1;
    assert!(
        stderr
            .contains(&format!("{}:{line}:44: stations[0].tags.result.type: F32 is not allowed here", path.display())),
        "{stderr}"
    );
}

#[tokio::test]
async fn counters_report_every_station_with_its_records_and_counts() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    run_ok(&with(&["demo", "--history", "--seed", "5", "--phones", "10", "--tablets", "0"], &store));
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&with(&["counters", "--line", "phone-1", "--json"], &store))).unwrap();
    let records = json["records"].as_array().unwrap();
    assert_eq!(records.len(), 7, "the phone line's production steps: {records:?}");
    assert!(records.iter().all(|r| r[1].as_u64().unwrap() > 0), "{records:?}");
    let counters = json["counters"].as_array().unwrap();
    assert_eq!(counters.len(), 7 * 3);
    // The generated history stores one sample per counter: nothing is counted from it yet.
    assert!(counters.iter().all(|c| c["samples"].as_u64().unwrap() == 1 && c["counted"] == 0), "{counters:?}");
    let table = run_ok(&with(&["counters", "--line", "phone-1"], &store));
    assert!(table.contains("station") && table.contains("FT"), "{table}");
}

#[tokio::test]
async fn a_hold_on_a_reel_marks_every_unit_that_contains_it_until_released() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    run_ok(&with(&["demo", "--history", "--seed", "5", "--phones", "10", "--tablets", "0"], &store));
    let mut plant = SamplePlant::new(5, Utc::now());
    plant.next_chunk(10, 0);
    let (reel, _) = plant.truth.reel_boards.iter().next().expect("a reel");
    let placed = run_ok(&with(&["hold", "--lot", reel, "--reason", "paste contamination", "--by", "qe1"], &store));
    assert!(placed.contains("hold placed"), "{placed}");
    let trace: serde_json::Value =
        serde_json::from_str(&run_ok(&with(&["trace", "--lot", reel, "--json"], &store))).unwrap();
    let units = trace["units"].as_array().unwrap();
    assert!(!units.is_empty() && units.iter().all(|u| u["on_hold"] == true), "{trace}");
    // The reel is marked held where it sits in a unit's tree.
    let serial = units[0]["hit"]["serial"].as_str().unwrap();
    let tree = run_ok(&with(&["trace", serial], &store));
    let reel_line = tree.lines().find(|l| l.contains(&format!("reel {reel}"))).unwrap_or_else(|| panic!("{tree}"));
    assert!(reel_line.ends_with("[ON HOLD]"), "{tree}");
    let again = run_ok(&with(&["hold", "--lot", reel, "--reason", "again"], &store));
    assert!(again.contains("already on hold"), "{again}");
    let list = run_ok(&with(&["holds"], &store));
    assert!(list.contains("HELD") && list.contains("qe1") && list.contains("paste contamination"), "{list}");
    // The export marks exactly the held units' results.
    let held: BTreeSet<String> = units.iter().map(|u| u["hit"]["serial"].as_str().unwrap().to_owned()).collect();
    let export = run_ok(&with(&["export", "station-results", "--format", "jsonl"], &store));
    let lines: Vec<StationResultLine> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l.on_hold == Some(true)), "no result marked held");
    for l in &lines {
        assert_eq!(l.on_hold == Some(true), held.contains(&l.serial), "{l:?}");
    }
    let csv = run_ok(&with(&["export", "station-results", "--format", "csv"], &store));
    assert!(csv.lines().next().unwrap().contains(",on_hold,"), "{csv}");
    assert_eq!(
        csv.lines().filter(|l| l.contains(",true,")).count(),
        lines.iter().filter(|l| l.on_hold.is_some()).count()
    );
    run_ok(&with(&["release", "--lot", reel, "--by", "qe2", "--reason", "supplier cleared the lot"], &store));
    let export = run_ok(&with(&["export", "station-results", "--format", "jsonl"], &store));
    assert!(!export.contains("on_hold"), "released: nothing is marked");
    let trace: serde_json::Value =
        serde_json::from_str(&run_ok(&with(&["trace", "--lot", reel, "--json"], &store))).unwrap();
    assert!(trace["units"].as_array().unwrap().iter().all(|u| u["on_hold"] == false), "{trace}");
    let holds: serde_json::Value = serde_json::from_str(&run_ok(&with(&["holds", "--json"], &store))).unwrap();
    assert_eq!(holds[0]["released"]["by"], "qe2", "{holds}");
    assert_eq!(holds[0]["released"]["reason"], "supplier cleared the lot", "the release's reason is kept: {holds}");
    // The table is in plant time, the zone named, the release and its reason under the hold.
    let table = run_ok(&with(&["holds"], &store));
    assert!(table.starts_with("times in plant time (Asia/Ho_Chi_Minh)") && !table.contains("UTC"), "{table}");
    let placed: chrono::DateTime<Utc> = holds[0]["placed_at"].as_str().unwrap().parse().unwrap();
    let local = placed.with_timezone(&mes::domain::shift::DEFAULT_TIME_ZONE).format("%Y-%m-%d %H:%M:%S").to_string();
    assert!(table.contains(&local), "placed at {local} plant time: {table}");
    assert!(table.contains("by qe2: supplier cleared the lot"), "{table}");
    // In Vietnamese (the global --lang, or MES_LANG), dates come day first.
    let vi = placed.with_timezone(&mes::domain::shift::DEFAULT_TIME_ZONE).format("%d/%m/%Y %H:%M:%S").to_string();
    let table = run_ok(&with(&["holds", "--lang", "vi"], &store));
    assert!(table.contains(&vi) && !table.contains(&local), "placed at {vi}: {table}");
    let trace = run_ok(&with(&["--lang", "vi", "trace", "--lot", reel], &store));
    let shaped = |w: &str, sep: u8, at: [usize; 2]| {
        w.len() == 10 && at.iter().all(|i| w.as_bytes()[*i] == sep) && w.bytes().filter(u8::is_ascii_digit).count() == 8
    };
    let words: Vec<&str> = trace.split_whitespace().collect();
    assert!(words.iter().any(|w| shaped(w, b'/', [2, 5])), "a day-first date: {trace}");
    assert!(!words.iter().any(|w| shaped(w, b'-', [4, 7])), "no year-first date: {trace}");
    // A release must say why.
    let refused = Command::new(env!("CARGO_BIN_EXE_mes"))
        .args(with(&["release", "--lot", reel, "--reason", "  "], &store))
        .output()
        .unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--reason"));
}

#[tokio::test]
async fn yield_by_shift_splits_the_period_and_first_visits_add_up() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    run_ok(&with(&["demo", "--history", "--seed", "5", "--phones", "40", "--tablets", "0"], &store));
    // The generated history ends now and spans eight hours.
    let from = (Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (from, to) = (from.as_str(), to.as_str());
    let whole: serde_json::Value = serde_json::from_str(&run_ok(&with(
        &["kpi", "yield", "--line", "phone-1", "--from", from, "--to", to, "--json"],
        &store,
    )))
    .unwrap();
    let days: serde_json::Value = serde_json::from_str(&run_ok(&with(
        &["kpi", "yield", "--line", "phone-1", "--from", from, "--to", to, "--by", "shift", "--json"],
        &store,
    )))
    .unwrap();
    let buckets = days["buckets"].as_array().unwrap();
    assert!((9..=10).contains(&buckets.len()), "three days of 8-hour shifts, clipped: {}", buckets.len());
    for (k, station) in whole["stations"].as_array().unwrap().iter().enumerate() {
        let total = station["first_visits"].as_u64().unwrap();
        let split: u64 = buckets.iter().map(|b| b["stations"][k]["first_visits"].as_u64().unwrap()).sum();
        assert_eq!(split, total, "{}: first visits per shift add up to the whole", station["station"]);
        assert!(total > 0, "{station}");
    }
    // Counter-based output beside the records: the generated history stores one sample per
    // counter, so nothing is counted and the whole difference shows.
    for (k, c) in whole["counters"].as_array().unwrap().iter().enumerate() {
        assert_eq!(c["records"], whole["stations"][k]["visits"], "{c}");
        assert_eq!(c["counted_in"], 0, "{c}");
        assert_eq!(c["difference"].as_i64().unwrap(), c["records"].as_i64().unwrap(), "{c}");
    }
    let rty = whole["rty"].as_f64().unwrap();
    assert!(whole["stations"].as_array().unwrap().iter().all(|s| s["fpy"].as_f64().unwrap() >= rty));
    // The human report heads each shift with its range in plant time, the running one partial.
    let human =
        run_ok(&with(&["kpi", "yield", "--line", "phone-1", "--from", from, "--to", to, "--by", "shift"], &store));
    assert!(human.starts_with("times in plant time (Asia/Ho_Chi_Minh)\n") && !human.contains("UTC"), "{human}");
    let headings: Vec<&str> = human.lines().filter(|l| l.contains(" – ")).collect();
    assert_eq!(headings.len(), buckets.len(), "{human}");
    let (first, last) = (headings.len() > 2).then(|| (1, headings.len() - 2)).unwrap();
    for h in &headings[first..=last] {
        let starts_a_shift = ["06:00 –", "14:00 –", "22:00 –"].iter().any(|s| h.contains(s));
        assert!(starts_a_shift, "a whole shift starts at 06:00, 14:00 or 22:00 plant time: {h}");
    }
    assert_eq!(headings.iter().filter(|h| h.contains("running: partial")).count(), 1, "{human}");
    let pareto = run_ok(&with(&["kpi", "pareto", "--line", "phone-1", "--from", from, "--to", to], &store));
    assert!(pareto.contains("FT_") || pareto.contains("no defects"), "{pareto}");
}

#[tokio::test]
async fn downtime_lists_every_station_with_time_by_state() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    run_ok(&with(&["demo", "--history", "--seed", "5", "--phones", "20", "--tablets", "0"], &store));
    let from = (Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let json: serde_json::Value = serde_json::from_str(&run_ok(&with(
        &["kpi", "downtime", "--line", "phone-1", "--from", from.as_str(), "--json"],
        &store,
    )))
    .unwrap();
    let stations = json["stations"].as_array().unwrap();
    assert_eq!(stations.len(), 7);
    for s in stations {
        let total: f64 = s["seconds_by_state"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!(total > 0.0, "{s}");
        let failures = s["failures"].as_u64().unwrap();
        assert_eq!(s["mtbf_seconds"].is_null(), failures == 0, "{s}");
    }
    let by_day: serde_json::Value = serde_json::from_str(&run_ok(&with(
        &["kpi", "downtime", "--line", "phone-1", "--from", from.as_str(), "--by", "day", "--json"],
        &store,
    )))
    .unwrap();
    let days = by_day["buckets"].as_array().unwrap();
    assert!(days.len() >= 3 && days.iter().all(|d| d["stations"].as_array().unwrap().len() == 7), "{by_day}");
    let table = run_ok(&with(&["kpi", "downtime", "--line", "phone-1", "--from", from.as_str()], &store));
    assert!(table.contains("MTBF") && table.contains("LOAD"), "{table}");
}

/// Milliseconds of `[from, to)` inside the local daily windows `start..start+len` (minutes after
/// local midnight) in Asia/Ho_Chi_Minh, worked out here independently of the calendar code.
/// Counted in milliseconds, not minutes: when `to` falls inside a break (with seconds), the break
/// is split between the window's two ends and whole minutes would lose one.
fn millis_inside_daily(from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>, windows: &[(u32, i64)]) -> i64 {
    use chrono::TimeZone;
    let zone = mes::domain::shift::DEFAULT_TIME_ZONE;
    let mut total = 0;
    let mut day = from.with_timezone(&zone).date_naive() - chrono::Duration::days(1);
    while day <= to.with_timezone(&zone).date_naive() {
        for (start, len) in windows {
            let begin = zone.from_local_datetime(&day.and_hms_opt(start / 60, start % 60, 0).unwrap()).unwrap();
            let (s, e) = (begin.with_timezone(&Utc), begin.with_timezone(&Utc) + chrono::Duration::minutes(*len));
            total += (e.min(to) - s.max(from)).num_milliseconds().max(0);
        }
        day += chrono::Duration::days(1);
    }
    total
}

#[tokio::test]
async fn oee_is_measured_against_planned_time_from_the_shift_calendar_with_its_breaks() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    run_ok(&with(&["demo", "--history", "--seed", "6", "--phones", "30", "--tablets", "0"], &store));
    // Whole seconds, as people give them (planned time is counted in whole milliseconds).
    let to =
        chrono::DurationRound::duration_trunc(Utc::now() - chrono::Duration::hours(1), chrono::Duration::seconds(1))
            .unwrap();
    let from = to - chrono::Duration::hours(24);
    let (f, t) = (from.to_rfc3339(), to.to_rfc3339());
    let args = ["kpi", "oee", "--line", "phone-1", "--from", f.as_str(), "--to", t.as_str(), "--json"];
    let plain: serde_json::Value = serde_json::from_str(&run_ok(&with(&args, &store))).unwrap();
    // Three back-to-back shifts: all 24 hours are planned.
    let stations = plain["stations"].as_array().unwrap();
    assert!(!stations.is_empty());
    for s in stations {
        assert_eq!(s["time"]["pbt_ms"], 24 * 3_600_000, "{s}");
        let sum: i64 = ["apt_ms", "aust_ms", "adot_ms", "adet_ms", "unrecorded_ms"]
            .iter()
            .map(|k| s["time"][k].as_i64().unwrap())
            .sum();
        assert_eq!(sum, 24 * 3_600_000, "PBT is the sum of its elements: {s}");
        let q = &s["quantities"];
        assert_eq!(
            q["pq"].as_u64(),
            Some(q["gq"].as_u64().unwrap() + q["rq"].as_u64().unwrap() + q["sq"].as_u64().unwrap())
        );
        // The generated plant declares no ideal cycle times: no effectiveness, said so.
        assert!(s["effectiveness"].is_null() && s["oee"].is_null(), "{s}");
        assert!(s["problems"].as_array().unwrap().iter().any(|p| p["problem"] == "no_ideal_cycle_time"), "{s}");
    }
    assert!(plain["line_oee"]["availability"].as_f64().is_some_and(|a| a > 0.0 && a <= 1.0), "{}", plain["line_oee"]);
    // The same period with a 30-minute break in each shift: PBT shrinks by the breaks' overlap.
    let config = db.dir().unwrap().join("breaks.toml");
    let shift = |name: &str, start: &str, end: &str, b: &str, e: &str| {
        format!(
            "[[plant.shifts]]\nname = \"{name}\"\nstart = \"{start}\"\nend = \"{end}\"\nbreaks = [{{ start = \"{b}\", end = \"{e}\" }}]\n"
        )
    };
    std::fs::write(
        &config,
        shift("A", "06:00", "14:00", "10:00", "10:30")
            + &shift("B", "14:00", "22:00", "18:00", "18:30")
            + &shift("C", "22:00", "06:00", "02:00", "02:30"),
    )
    .unwrap();
    let with_config: Vec<String> =
        ["--config", config.to_str().unwrap()].iter().map(|s| (*s).to_owned()).chain(with(&args, &store)).collect();
    let breaks: serde_json::Value = serde_json::from_str(&run_ok(&with_config)).unwrap();
    let lost = millis_inside_daily(from, to, &[(600, 30), (1080, 30), (120, 30)]);
    assert_eq!(lost, 90 * 60_000, "a 24-hour window holds each daily break once");
    for s in breaks["stations"].as_array().unwrap() {
        assert_eq!(s["time"]["pbt_ms"].as_i64(), Some(24 * 3_600_000 - lost), "{s}");
    }
    let human = run_ok(&with(&args[..args.len() - 1], &store));
    assert!(human.contains("PBT") && human.contains("line") && human.contains("no ideal cycle time"), "{human}");
}

/// `mes bench acquisition --connect` polls a server it did not start (here a `mes simulate`
/// process, found by its printed address) with the collector and the raw loop, and reports the
/// rate each achieved against the configured one.
#[test]
fn bench_acquisition_connects_to_a_server_it_did_not_start() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_mes"))
        .args(["simulate", "--line", "phone", "--modbus-port", "0", "--no-validation", "--speed", "1"])
        .arg("--pki-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = std::io::BufReader::new(sim.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    let address = first.split_whitespace().last().unwrap().to_owned();
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles/phone-line.toml");
    let out = mes(&[
        "bench",
        "acquisition",
        "--connect",
        &address,
        "--profile",
        profile.to_str().unwrap(),
        "--scan-ms",
        "50",
        "--seconds",
        "2",
        "--repeats",
        "1",
    ]);
    let _ = sim.kill();
    let _ = sim.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("against {address} (Modbus TCP)")) && text.contains("every 50 ms"), "{text}");
    for who in ["collector", "raw loop"] {
        let row =
            text.lines().find(|l| l.trim_start().starts_with(&format!("1  {who}"))).unwrap_or_else(|| panic!("{text}"));
        // reads/s, configured, achieved: the polls made of the ticks that came.
        let achieved: f64 =
            row.split_whitespace().nth(if who == "collector" { 4 } else { 5 }).unwrap().parse().unwrap();
        assert!(achieved > 0.5 && achieved <= 1.05, "{who} polled at its rate: {row}");
    }
    assert!(text.contains("median: collector achieved/configured"), "{text}");
}

/// `mes bench scale` at its smallest (one line of each kind, two collectors and a standby for
/// each, one web front): it runs every phase against real processes and PostgreSQL (the
/// partition among them), and its record-for-record check passes (the run fails otherwise).
#[test]
fn bench_scale_runs_every_phase_and_finds_every_record_once() {
    let Some(admin) = crate::harness::postgres_admin_url() else { return };
    let out = mes(&[
        "bench",
        "scale",
        "--postgres-url",
        &admin,
        "--lines",
        "3",
        "--collectors",
        "2",
        "--webs",
        "1",
        "--seconds",
        "5",
        "--outage-seconds",
        "3",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("every record once"), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for phase in [
        "steady production",
        "web 0:",
        "failover: collector 0 (2 lines",
        "partition: collector 1 (1 lines",
        "outage:",
        "caught up in",
        "(after a partition: met)",
    ] {
        assert!(text.contains(phase), "{phase}: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    }
}
