//! Store tests, each run on SQLite and on PostgreSQL (see the harness).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use mes::bench::sample_plant::{PHONE_LINE, SMT_LINE, SamplePlant, TABLET_LINE, plant_model};
use mes::domain::genealogy::Containment;
use mes::domain::ids::{LineId, LotId, PlcEpoch, RecordSeq, SerialNumber, StationId};
use mes::domain::record::{Certainty, ConsumedItem, Consumption, RecordKey, UnitRecord, Verdict};
use mes::domain::state::{MachineState, StateInterval};
use mes::store::{RecordBatch, StationResultFilter, Store, StoreError};

use crate::harness::TestDb;

/// `n` phones passing the phone line's PACK station now (serials `{prefix}-1`…, PLC epoch
/// `epoch`): output the live figures must count.
pub fn packed_now(prefix: &str, n: u64, epoch: u32) -> Vec<UnitRecord> {
    (1..=n)
        .map(|k| {
            let key = RecordKey {
                line: LineId::parse(PHONE_LINE).unwrap(),
                station: StationId::parse("PACK").unwrap(),
                epoch: PlcEpoch(epoch),
                seq: RecordSeq(k),
            };
            UnitRecord::new(key, SerialNumber::parse(format!("{prefix}-{k}")).unwrap(), Verdict::Pass, Utc::now())
        })
        .collect()
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

pub async fn sample_store(
    db: &TestDb,
    seed: u64,
    phones: usize,
    tablets: usize,
) -> (Store, SamplePlant, Vec<UnitRecord>) {
    let store = db.store().await;
    let (plant, records) = fill_sample(&store, seed, phones, tablets).await;
    (store, plant, records)
}

/// Registers the sample plant in `store` and commits a generated history into it, as a
/// collector would: the generator (to go on) and the records.
pub async fn fill_sample(store: &Store, seed: u64, phones: usize, tablets: usize) -> (SamplePlant, Vec<UnitRecord>) {
    store.register_plant(&plant_model()).await.unwrap();
    let mut plant = SamplePlant::new(seed, start());
    let chunk = plant.next_chunk(phones, tablets);
    // Commit in several batches, as a collector would.
    for records in chunk.records.chunks(97) {
        store.commit(&RecordBatch { records: records.to_vec(), ..Default::default() }).await.unwrap();
    }
    store
        .commit(&RecordBatch {
            state_intervals: chunk.state_intervals.clone(),
            counter_samples: chunk.counter_samples.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    (plant, chunk.records)
}

async fn all_results(store: &Store, filter: &StationResultFilter) -> Vec<mes::store::StoredResult> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.station_results(filter, after, 250).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        out.extend(page);
    }
    out
}

#[tokio::test]
async fn migrations_apply_on_an_empty_database_and_roll_back() {
    for db in TestDb::all().await {
        let store = db.store().await;
        let tables: BTreeSet<String> = store.table_names().await.unwrap().into_iter().collect();
        for expected in [
            "sites",
            "areas",
            "lines",
            "stations",
            "products",
            "routes",
            "route_steps",
            "work_orders",
            "units",
            "material_lots",
            "station_results",
            "station_result_defects",
            "station_result_measurements",
            "genealogy_edges",
            "state_intervals",
            "counter_samples",
            "holds",
            "ledger_entries",
            "users",
            "sessions",
            "ledger_checkpoints",
            "ledger_record_hashes",
            "validation_answers",
            "line_leases",
            "repair_action_codes",
        ] {
            assert!(tables.contains(expected), "{}: missing table {expected}; have {tables:?}", db.label());
        }
        assert_eq!(store.migrate_up().await.unwrap(), 0, "{}: nothing pending after connect", db.label());
        store.migrate_down_all().await.unwrap();
        let left: Vec<String> =
            store.table_names().await.unwrap().into_iter().filter(|t| t != "seaql_migrations").collect();
        assert!(left.is_empty(), "{}: tables left after down: {left:?}", db.label());
        assert_eq!(store.migrate_up().await.unwrap(), 10, "{}: every migration re-applies", db.label());
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn redelivered_records_keep_one_row_each() {
    for db in TestDb::all().await {
        let (store, _, records) = sample_store(&db, 11, 20, 10).await;
        let before = store.row_counts().await.unwrap();
        assert_eq!(before["station_results"], records.len() as u64, "{}", db.label());
        // The PLCs re-offer everything (reconnect after a crash before acknowledging).
        let receipt = store.commit(&RecordBatch { records: records.clone(), ..Default::default() }).await.unwrap();
        assert_eq!(receipt.inserted, 0, "{}", db.label());
        assert_eq!(receipt.duplicates, records.len(), "{}", db.label());
        // And a batch holding the same record twice stores it once.
        let mut twice = records[..3].to_vec();
        twice.extend_from_slice(&records[..3]);
        let receipt = store.commit(&RecordBatch { records: twice, ..Default::default() }).await.unwrap();
        assert_eq!((receipt.inserted, receipt.duplicates), (0, 3), "{}", db.label());
        assert_eq!(store.row_counts().await.unwrap(), before, "{}: no table changed", db.label());
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn stored_records_read_back_exactly() {
    for db in TestDb::all().await {
        let (store, _, records) = sample_store(&db, 5, 15, 5).await;
        let stored = all_results(&store, &StationResultFilter::default()).await;
        let mut got: Vec<UnitRecord> = stored.into_iter().map(|s| s.record).collect();
        let mut want = records.clone();
        got.sort_by_key(|r| r.key());
        want.sort_by_key(|r| r.key());
        assert_eq!(got.len(), want.len(), "{}", db.label());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{}: record {:?} differs", db.label(), w.key());
        }
        // Repairs say what was done, in words the catalogue registered from the plant model.
        let actions = store.repair_action_names().await.unwrap();
        let done: BTreeSet<&str> = want.iter().filter_map(|r| r.repair_action.as_ref()).map(|a| a.as_str()).collect();
        assert!(!done.is_empty(), "{}: the sample has repairs", db.label());
        assert!(done.iter().all(|a| actions.contains_key(*a)), "{}: {done:?} not all in {actions:?}", db.label());
        assert_eq!(actions["RESOLDER"].name_vi.as_deref(), Some("Hàn lại"), "{}", db.label());
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn three_level_genealogy_traces_match_the_generators_truth() {
    for db in TestDb::all().await {
        let (store, plant, _) = sample_store(&db, 42, 60, 30).await;
        let truth = &plant.truth;
        assert!(
            truth.reel_boards.values().flat_map(|b| b.values()).any(|c| *c == Certainty::Possible),
            "the fixture must contain ambiguous reel changes"
        );
        // Backward: every phone and tablet contains exactly its board, the board's reels and its lots.
        for serial in truth.product_board.keys() {
            let trace = store.backward_trace(&SerialNumber::parse(serial.clone()).unwrap()).await.unwrap().unwrap();
            let got: BTreeSet<String> = trace.tree.items().into_iter().skip(1).map(|i| i.id().to_owned()).collect();
            assert_eq!(got, truth.backward(serial), "{}: backward trace of {serial}", db.label());
            assert!(
                trace.units.contains_key(serial) && trace.units.len() == 2,
                "{}: unit views of {serial}",
                db.label()
            );
            assert!(!trace.units[serial].visits.is_empty());
        }
        // Forward: every reel reaches exactly the boards and products the generator says, with
        // "contains" and "possibly contains" kept apart.
        for reel in truth.reel_boards.keys() {
            let item = ConsumedItem::Lot(LotId::parse(reel.clone()).unwrap());
            let trace = store.forward_trace(&item).await.unwrap().unwrap();
            let got: BTreeMap<String, Certainty> = trace
                .units
                .iter()
                .map(|u| {
                    let c = match u.hit.containment {
                        Containment::Contains => Certainty::Certain,
                        Containment::PossiblyContains => Certainty::Possible,
                    };
                    (u.hit.serial.to_string(), c)
                })
                .collect();
            assert_eq!(got, truth.forward_of_reel(reel), "{}: forward trace of {reel}", db.label());
        }
        // A board traced forward finds its product; unknown items are None, not empty.
        let (board, product) = truth.board_product.iter().next().unwrap();
        let item = ConsumedItem::Serial(SerialNumber::parse(board.clone()).unwrap());
        let forward = store.forward_trace(&item).await.unwrap().unwrap();
        assert_eq!(forward.units.iter().map(|u| u.hit.serial.to_string()).collect::<Vec<_>>(), vec![product.clone()]);
        let unknown = ConsumedItem::Lot(LotId::parse("NO-SUCH-LOT").unwrap());
        assert!(store.forward_trace(&unknown).await.unwrap().is_none());
        assert!(store.backward_trace(&SerialNumber::parse("NO-SUCH").unwrap()).await.unwrap().is_none());
        db.cleanup(store).await;
    }
}

fn bare_record(line: &str, station: &str, seq: u64, serial: &str) -> UnitRecord {
    let key = RecordKey {
        line: LineId::parse(line).unwrap(),
        station: StationId::parse(station).unwrap(),
        epoch: PlcEpoch(7),
        seq: RecordSeq(seq),
    };
    UnitRecord::new(key, SerialNumber::parse(serial).unwrap(), Verdict::Pass, start() + Duration::milliseconds(1234))
}

/// Traces read their ids in lists of at most 1,000 per statement (`LIST_CHUNK`): a lot in
/// 4,100 boards, each with two visits and a defect, and a phone made of 2,050 of them, cross
/// several lists wherever a trace lists ids or serials.
#[tokio::test]
async fn traces_larger_than_one_list_of_ids_find_every_unit_and_visit() {
    const BOARDS: u64 = 4_100;
    for db in TestDb::all().await {
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let lot = ConsumedItem::Lot(LotId::parse("BIG-LOT-1").unwrap());
        let mut records = Vec::new();
        for k in 1..=BOARDS {
            let serial = format!("BIG-{k:05}");
            let mut placed = bare_record(SMT_LINE, "SPI", k, &serial);
            placed.consumed.push(Consumption {
                kind: "reel".into(),
                item: lot.clone(),
                ref_designator: None,
                certainty: Certainty::Certain,
            });
            records.push(placed);
            let mut tested = bare_record(SMT_LINE, "ICT", k, &serial);
            tested.ended_at += Duration::seconds(k as i64);
            tested.defects.push(mes::domain::record::Defect {
                code: mes::domain::ids::DefectCode::parse("OPEN").unwrap(),
                ref_designator: None,
            });
            records.push(tested);
        }
        let mut phone = bare_record(PHONE_LINE, "LOAD", 1, "BIG-PHONE");
        for k in 1..=BOARDS / 2 {
            phone.consumed.push(Consumption {
                kind: "pcba".into(),
                item: ConsumedItem::Serial(SerialNumber::parse(format!("BIG-{k:05}")).unwrap()),
                ref_designator: None,
                certainty: Certainty::Certain,
            });
        }
        records.push(phone);
        for batch in records.chunks(500) {
            store.commit(&RecordBatch { records: batch.to_vec(), ..Default::default() }).await.unwrap();
        }

        let forward = store.forward_trace(&lot).await.unwrap().unwrap();
        assert_eq!(forward.units.len() as u64, BOARDS + 1, "{}: every board and the phone", db.label());
        let last_at: BTreeMap<&str, _> = forward
            .units
            .iter()
            .map(|u| (u.hit.serial.as_str(), u.last_seen.as_ref().map(|l| (l.station.as_str().to_owned(), l.at))))
            .collect();
        for k in [1, 2_000, 2_001, 4_000, 4_001, BOARDS] {
            let (station, at) = last_at[format!("BIG-{k:05}").as_str()].clone().unwrap();
            assert_eq!(
                (station.as_str(), at),
                ("ICT", start() + Duration::milliseconds(1234) + Duration::seconds(k as i64))
            );
        }

        let backward = store.backward_trace(&SerialNumber::parse("BIG-PHONE").unwrap()).await.unwrap().unwrap();
        assert_eq!(backward.units.len() as u64, BOARDS / 2 + 1, "{}", db.label());
        let visits: usize = backward.units.values().map(|u| u.visits.len()).sum();
        assert_eq!(visits as u64, BOARDS + 1, "{}: two visits per board and the phone's one", db.label());
        let defects: usize = backward.units.values().flat_map(|u| &u.visits).map(|v| v.record.defects.len()).sum();
        let consumed: usize = backward.units.values().flat_map(|u| &u.visits).map(|v| v.record.consumed.len()).sum();
        assert_eq!((defects as u64, consumed as u64), (BOARDS / 2, BOARDS / 2 + BOARDS / 2), "{}", db.label());
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn unicode_and_very_long_serials_round_trip() {
    for db in TestDb::all().await {
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let long = "S".repeat(300) + &"Đ".repeat(212); // 512 characters (724 bytes), the maximum
        assert_eq!(long.chars().count(), 512);
        let unicode = "Điện-thoại-序列号-✓ 01";
        let mut parent = bare_record(PHONE_LINE, "LOAD", 1, unicode);
        parent.consumed.push(Consumption {
            kind: "pcba".into(),
            item: ConsumedItem::Serial(SerialNumber::parse(long.clone()).unwrap()),
            ref_designator: None,
            certainty: Certainty::Certain,
        });
        parent.consumed.push(Consumption {
            kind: "display_lot".into(),
            item: ConsumedItem::Lot(LotId::parse("Lô-màn-hình-№5").unwrap()),
            ref_designator: None,
            certainty: Certainty::Certain,
        });
        // What a list of serials bound as one parameter must quote (an array literal's syntax).
        let quoted = r#"a "quoted", {braced} \ NULL serial"#;
        parent.consumed.push(Consumption {
            kind: "pcba".into(),
            item: ConsumedItem::Serial(SerialNumber::parse(quoted).unwrap()),
            ref_designator: None,
            certainty: Certainty::Certain,
        });
        let child = bare_record(SMT_LINE, "ICT", 1, &long);
        let other = bare_record(SMT_LINE, "ICT", 2, quoted);
        store.commit(&RecordBatch { records: vec![child, other, parent.clone()], ..Default::default() }).await.unwrap();

        let view = store.unit_by_serial(&SerialNumber::parse(unicode).unwrap()).await.unwrap().unwrap();
        assert_eq!(view.visits.len(), 1);
        assert_eq!(view.visits[0].record, parent, "{}", db.label());
        let trace = store.backward_trace(&SerialNumber::parse(unicode).unwrap()).await.unwrap().unwrap();
        let ids: BTreeSet<&str> = trace.tree.items().into_iter().map(|i| i.id()).collect();
        assert!(ids.contains(long.as_str()) && ids.contains("Lô-màn-hình-№5"), "{}: {ids:?}", db.label());
        for serial in [unicode, long.as_str(), quoted] {
            let unit = &trace.units[serial];
            assert_eq!(unit.visits.len(), 1, "{}: {serial} is read back with its visit", db.label());
        }
        let forward =
            store.forward_trace(&ConsumedItem::Lot(LotId::parse("Lô-màn-hình-№5").unwrap())).await.unwrap().unwrap();
        assert_eq!(forward.units[0].hit.serial.as_str(), unicode);
        assert!(SerialNumber::parse(long + "x").is_err(), "513 characters are refused at the boundary");
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn a_rejected_batch_leaves_nothing_half_written() {
    for db in TestDb::all().await {
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let empty = store.row_counts().await.unwrap();

        // Rejected before the transaction: an unknown station.
        let mut records = SamplePlant::new(1, start()).next_chunk(3, 0).records;
        records.push(bare_record(PHONE_LINE, "NOPE", 1, "PH-X"));
        let err = store.commit(&RecordBatch { records: records.clone(), ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, StoreError::UnknownStation { ref station, .. } if station == "NOPE"), "{err}");
        assert_eq!(store.row_counts().await.unwrap(), empty, "{}", db.label());

        // Rejected by the database half-way through the transaction: a trigger refuses one
        // defect row, after units, lots and station results were already inserted.
        let trigger = match db.label() {
            "sqlite" => "CREATE TRIGGER boom BEFORE INSERT ON station_result_defects WHEN NEW.code = 'BOOM' \
                         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
                .to_owned(),
            _ => "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN \
                    IF NEW.code = 'BOOM' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ \
                  LANGUAGE plpgsql; \
                  CREATE TRIGGER boom BEFORE INSERT ON station_result_defects FOR EACH ROW EXECUTE FUNCTION boom();"
                .to_owned(),
        };
        store.execute_maintenance_sql(&trigger).await.unwrap();
        records.pop();
        let mut bad = bare_record(PHONE_LINE, "FT", 1, "PH-BOOM");
        bad.verdict = Verdict::Fail;
        bad.defects.push(mes::domain::record::Defect {
            code: mes::domain::ids::DefectCode::parse("BOOM").unwrap(),
            ref_designator: None,
        });
        records.push(bad);
        let err = store.commit(&RecordBatch { records: records.clone(), ..Default::default() }).await.unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{}: {err}", db.label());
        assert_eq!(store.row_counts().await.unwrap(), empty, "{}: rolled back whole", db.label());
        // The writer connection survives a failed transaction: the good records commit next.
        records.pop();
        let receipt = store.commit(&RecordBatch { records: records.clone(), ..Default::default() }).await.unwrap();
        assert_eq!(receipt.inserted, records.len(), "{}", db.label());
        assert_eq!(store.row_counts().await.unwrap()["station_results"], records.len() as u64, "{}", db.label());

        // Invalid data is named precisely.
        let mut nan = bare_record(PHONE_LINE, "SCREW", 9, "PH-NAN");
        nan.measurements.push(mes::domain::record::Measurement {
            name: "torque_1".into(),
            value: f64::NAN,
            unit: None,
            lower_limit: None,
            upper_limit: None,
        });
        let err = store.commit(&RecordBatch { records: vec![nan], ..Default::default() }).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "record phone-1/SCREW epoch 7 seq 9 rejected: measurement \"torque_1\" is not a finite number"
        );
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn station_results_filter_by_line_station_and_time() {
    for db in TestDb::all().await {
        let (store, _, records) = sample_store(&db, 9, 20, 10).await;
        let from = start() + Duration::hours(2) + Duration::minutes(5);
        let to = from + Duration::minutes(10);
        let filter = StationResultFilter {
            line: Some(LineId::parse(PHONE_LINE).unwrap()),
            station: Some(StationId::parse("FT").unwrap()),
            from: Some(from),
            to: Some(to),
            max_id: None,
        };
        let got: BTreeSet<_> = all_results(&store, &filter).await.into_iter().map(|s| s.record.key()).collect();
        let want: BTreeSet<_> = records
            .iter()
            .filter(|r| {
                r.line.as_str() == PHONE_LINE && r.station.as_str() == "FT" && r.ended_at >= from && r.ended_at < to
            })
            .map(|r| r.key())
            .collect();
        assert!(!want.is_empty(), "the window must hold some results");
        assert_eq!(got, want, "{}", db.label());
        let tablets = StationResultFilter { line: Some(LineId::parse(TABLET_LINE).unwrap()), ..Default::default() };
        let n = all_results(&store, &tablets).await.len();
        assert_eq!(n, records.iter().filter(|r| r.line.as_str() == TABLET_LINE).count(), "{}", db.label());
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn concurrent_writers_all_commit() {
    for db in TestDb::all().await {
        let store = std::sync::Arc::new(db.store().await);
        store.register_plant(&plant_model()).await.unwrap();
        let records = SamplePlant::new(4, start()).next_chunk(40, 20).records;
        let per_task = records.len().div_ceil(8);
        let mut tasks = Vec::new();
        for part in records.chunks(per_task) {
            let store = store.clone();
            let part = part.to_vec();
            tasks.push(tokio::spawn(async move {
                for batch in part.chunks(10) {
                    store.commit(&RecordBatch { records: batch.to_vec(), ..Default::default() }).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.row_counts().await.unwrap()["station_results"], records.len() as u64, "{}", db.label());
        let store = std::sync::Arc::try_unwrap(store).ok().unwrap();
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn an_open_state_interval_is_closed_once_and_never_rewritten() {
    for db in TestDb::all().await {
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let open = StateInterval {
            line: LineId::parse(PHONE_LINE).unwrap(),
            station: StationId::parse("FT").unwrap(),
            started_at: start(),
            ended_at: None,
            plc_code: 5,
            state: MachineState::Fault,
            fault_code: Some(101),
            reason: None,
        };
        let batch = |i: &StateInterval| RecordBatch { state_intervals: vec![i.clone()], ..Default::default() };
        store.commit(&batch(&open)).await.unwrap();
        let closed = StateInterval { ended_at: Some(start() + Duration::minutes(4)), ..open.clone() };
        store.commit(&batch(&closed)).await.unwrap();
        let later = StateInterval { ended_at: Some(start() + Duration::minutes(9)), ..open.clone() };
        store.commit(&batch(&later)).await.unwrap();
        store.commit(&batch(&open)).await.unwrap();
        assert_eq!(store.row_counts().await.unwrap()["state_intervals"], 1, "{}", db.label());
        let ends: Vec<_> = store
            .state_intervals(&open.line, &open.station)
            .await
            .unwrap()
            .into_iter()
            .map(|i| (i.started_at, i.ended_at))
            .collect();
        assert_eq!(ends, vec![(start(), Some(start() + Duration::minutes(4)))], "{}", db.label());
        db.cleanup(store).await;
    }
}

/// States a failed commit carried over come in one batch: an interval opened and closed in it
/// is written once, closed; `commit_all` of several batches (an outbox forwarded) is the same
/// as committing them one by one, and again changes nothing.
#[tokio::test]
async fn intervals_opened_and_closed_in_one_batch_and_batches_committed_together_are_written_once() {
    for db in TestDb::all().await {
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let at = |m: i64| start() + Duration::minutes(m);
        let interval = |from: i64, to: Option<i64>, code: u16| StateInterval {
            line: LineId::parse(PHONE_LINE).unwrap(),
            station: StationId::parse("FT").unwrap(),
            started_at: at(from),
            ended_at: to.map(at),
            plc_code: code,
            state: MachineState::Running,
            fault_code: None,
            reason: None,
        };
        let carried = RecordBatch {
            state_intervals: vec![interval(0, None, 2), interval(0, Some(3), 2), interval(3, None, 5)],
            ..Default::default()
        };
        store.commit(&carried).await.unwrap();
        let later = [
            RecordBatch { state_intervals: vec![interval(3, Some(7), 5), interval(7, None, 2)], ..Default::default() },
            RecordBatch { state_intervals: vec![interval(7, Some(8), 2), interval(8, None, 3)], ..Default::default() },
        ];
        let later: Vec<&RecordBatch> = later.iter().collect();
        store.commit_all(&later).await.unwrap();
        store.commit_all(&later).await.unwrap();
        let got: Vec<_> = store
            .state_intervals(&LineId::parse(PHONE_LINE).unwrap(), &StationId::parse("FT").unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|i| (i.started_at, i.ended_at))
            .collect();
        let want = vec![(at(0), Some(at(3))), (at(3), Some(at(7))), (at(7), Some(at(8))), (at(8), None)];
        assert_eq!(got, want, "{}", db.label());
        db.cleanup(store).await;
    }
}

#[tokio::test]
async fn master_data_registers_idempotently_and_all_or_nothing() {
    for db in TestDb::all().await {
        let store = db.store().await;
        let empty = store.row_counts().await.unwrap();
        // A route naming a station its line lacks: the whole registration is refused.
        let mut broken = plant_model();
        broken.routes[0].steps[0].station = StationId::parse("NO-SUCH-STATION").unwrap();
        assert!(store.register_plant(&broken).await.is_err(), "{}", db.label());
        assert_eq!(store.row_counts().await.unwrap(), empty, "{}: nothing half-registered", db.label());

        store.register_plant(&plant_model()).await.unwrap();
        let once = store.row_counts().await.unwrap();
        assert_eq!(once["stations"], 22, "{}", db.label());
        store.register_plant(&plant_model()).await.unwrap();
        assert_eq!(store.row_counts().await.unwrap(), once, "{}: a second registration changes nothing", db.label());
        // Vietnamese names are kept, and a corrected one replaces the registered one.
        let phone = |lines: Vec<mes::domain::equipment::Line>| lines.into_iter().find(|l| l.id.as_str() == PHONE_LINE);
        let registered = phone(store.lines().await.unwrap()).unwrap();
        assert_eq!(registered.name_vi.as_deref(), Some("Lắp ráp điện thoại 1"), "{}", db.label());
        assert_eq!(registered.stations[1].name_vi.as_deref(), Some("Lắp màn hình"), "{}", db.label());
        let mut corrected = plant_model();
        corrected.lines.iter_mut().find(|l| l.id.as_str() == PHONE_LINE).unwrap().name_vi = Some("Điện thoại 1".into());
        corrected.lines.iter_mut().find(|l| l.id.as_str() == PHONE_LINE).unwrap().stations[1].name_vi =
            Some("Gắn màn hình".into());
        store.register_plant(&corrected).await.unwrap();
        let registered = phone(store.lines().await.unwrap()).unwrap();
        assert_eq!(registered.name_vi.as_deref(), Some("Điện thoại 1"), "{}", db.label());
        assert_eq!(registered.stations[1].name_vi.as_deref(), Some("Gắn màn hình"), "{}", db.label());
        // The defect catalogue: every code with its names, and a corrected name replaces the
        // registered one (an English-only entry loses its old Vietnamese name).
        let names = store.defect_names().await.unwrap();
        assert_eq!(names.len(), 10, "{}: {names:?}", db.label());
        let missing = &names["MISSING_COMPONENT"];
        assert_eq!((missing.name.as_str(), missing.name_vi.as_deref()), ("Missing component", Some("Thiếu linh kiện")));
        let mut renamed = corrected.clone();
        let audio = renamed.defects.iter_mut().find(|d| d.code == "FT_AUDIO").unwrap();
        (audio.name, audio.name_vi) = ("Speaker test failed".into(), None);
        store.register_plant(&renamed).await.unwrap();
        let names = store.defect_names().await.unwrap();
        assert_eq!(
            (names["FT_AUDIO"].name.as_str(), names["FT_AUDIO"].name_vi.as_deref()),
            ("Speaker test failed", None)
        );
        assert_eq!(names.len(), 10, "{}", db.label());
        // Downtime reasons' Vietnamese text, keyed by the recorded reason.
        let reasons = store.reason_names().await.unwrap();
        assert_eq!(reasons.len(), 20, "{}: {reasons:?}", db.label());
        assert_eq!(reasons.get("conveyor jam").map(String::as_str), Some("kẹt băng tải"), "{}", db.label());
        db.cleanup(store).await;
    }
}

/// A period's counter samples are those sampled in it plus the last one before it (so the
/// first delta is whole), of the counter asked for only; on both backends.
#[tokio::test]
async fn counter_samples_in_a_period_start_with_the_last_one_before_it() {
    use mes::domain::counter::{CounterKind, CounterSample};
    for db in TestDb::all().await {
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let at = |minute: i64| start() + Duration::minutes(minute);
        let sample = |counter, minute, raw| CounterSample {
            line: LineId::parse(PHONE_LINE).unwrap(),
            station: StationId::parse("PACK").unwrap(),
            counter,
            epoch: PlcEpoch(1),
            sampled_at: at(minute),
            raw,
            width_bits: 16,
        };
        let samples: Vec<CounterSample> = (0..6)
            .flat_map(|m| {
                [sample(CounterKind::In, m * 10, m as u32 * 3), sample(CounterKind::Good, m * 10 + 1, m as u32)]
            })
            .collect();
        store.commit(&RecordBatch { counter_samples: samples, ..Default::default() }).await.unwrap();
        let line = LineId::parse(PHONE_LINE).unwrap();
        let station = StationId::parse("PACK").unwrap();
        let got = store.counter_samples_in(&line, &station, CounterKind::In, at(15), at(40)).await.unwrap();
        let minutes: Vec<i64> = got.iter().map(|s| (s.sampled_at - start()).num_minutes()).collect();
        assert_eq!(minutes, [10, 20, 30], "{}: the one before 15, then 20 and 30 (40 is past the end)", db.label());
        assert!(got.iter().all(|s| s.counter == CounterKind::In));
        let none_before = store.counter_samples_in(&line, &station, CounterKind::Good, at(-5), at(12)).await.unwrap();
        assert_eq!(none_before.iter().map(|s| s.raw).collect::<Vec<_>>(), [0, 1], "{}", db.label());
        db.cleanup(store).await;
    }
}

/// Collector processes starting together (after a power cut, or `mes bench scale`) register
/// their lines at once: the same site, areas and products from each, in different orders.
/// They take turns instead of deadlocking, and every line ends registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_registering_their_lines_at_once_do_not_deadlock() {
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // one process per SQLite store
        }
        let store = db.store().await;
        // Each round registers products new to the store (the inserts that collide), lines of
        // four of each kind.
        let profiles = |round: usize| -> Vec<plc_contract::profile::Profile> {
            (1..=4)
                .flat_map(|n| {
                    ["smt-line.toml", "phone-line.toml", "tablet-line.toml"].map(|file| {
                        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles").join(file);
                        let kind = file.trim_end_matches("-line.toml");
                        let text = std::fs::read_to_string(&path)
                            .unwrap()
                            .replace(&format!("{kind}-1"), &format!("{kind}-{n}"))
                            .replace("[product]\ncode = \"", &format!("[product]\ncode = \"R{round}-"));
                        plc_contract::profile::Profile::parse(&path, &text).unwrap()
                    })
                })
                .collect()
        };
        for round in 0..10 {
            // Four "processes", each with its own connections and a share of the lines, in
            // opposite orders.
            let all = profiles(round);
            let mut stores = Vec::new();
            for _ in 0..4 {
                stores.push(db.store().await); // connected before any starts
            }
            let mut tasks = Vec::new();
            for (k, other) in stores.into_iter().enumerate() {
                let mut mine: Vec<_> = all.iter().skip(k).step_by(4).cloned().collect();
                if k % 2 == 1 {
                    mine.reverse();
                }
                tasks.push(tokio::spawn(async move {
                    let result = other.register_plant(&mes::acquisition::plant_of(&mine)).await;
                    let _ = other.close().await;
                    result
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
        }
        let lines = store.line_codes().await.unwrap();
        assert_eq!(lines.len(), 12, "{lines:?}");
        db.cleanup(store).await;
    }
}

/// Fencing (issue 18): a commit naming a line's lease epoch is refused whole once another
/// process claimed the line, and the same commit under the new epoch goes through; a process
/// claiming a line again that no one else held meanwhile keeps its epoch, so what it numbered
/// while its database was away still counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_under_a_lease_another_process_took_over_is_refused_whole() {
    use mes::acquisition::sink::{Claim, Lease, LineLeases};
    use mes::domain::record::Fence;
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // one process per SQLite store: nothing to fence
        }
        let (store, mut plant, _) = sample_store(&db, 41, 4, 0).await;
        let line = LineId::parse(PHONE_LINE).unwrap();
        let claim = async |holder: &str| -> Box<dyn Lease> {
            // A lease given up ends when its session does, a moment after the drop.
            for _ in 0..100 {
                match store.claim(&line, holder, false).await.unwrap() {
                    Claim::Held(lease) => return lease,
                    _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            }
            panic!("{}: {holder} could not claim the line", db.label());
        };
        let chunk = plant.next_chunk(9, 0);
        let (first, rest) = chunk.records.split_at(chunk.records.len() / 3);
        let (second, third) = rest.split_at(rest.len() / 2);
        assert!(!chunk.state_intervals.is_empty() && !chunk.counter_samples.is_empty());
        let fenced = |records: &[UnitRecord], epoch: i64| RecordBatch {
            records: records.to_vec(),
            fence: Some(Fence { line: line.clone(), epoch, numbered: true }),
            ..Default::default()
        };

        let a = claim("test holder a").await;
        let a_epoch = a.epoch();
        let receipt = store.commit(&fenced(first, a_epoch)).await.unwrap();
        assert_eq!(receipt.inserted, first.len(), "{}: committed under the current lease", db.label());
        drop(a);
        let b = claim("test holder b").await;
        assert_eq!(b.epoch(), a_epoch + 1, "{}: a new holder raises the epoch", db.label());
        let before = store.row_counts().await.unwrap();
        match store.commit(&fenced(second, a_epoch)).await {
            Err(StoreError::Fenced { epoch, current, .. }) => {
                assert_eq!((epoch, current), (a_epoch, Some(a_epoch + 1)), "{}", db.label())
            }
            other => panic!("{}: a commit under the old lease went {other:?}", db.label()),
        }
        assert_eq!(store.row_counts().await.unwrap(), before, "{}: nothing of the refused batch written", db.label());
        let receipt = store.commit(&fenced(second, b.epoch())).await.unwrap();
        assert_eq!(receipt.inserted, second.len(), "{}: the new holder's commit goes through", db.label());
        // What the old holder kept of sequence stations (keyed by the PLC) is stored; the
        // states and counter samples it took meanwhile, which the new holder takes too, are not.
        let before = store.row_counts().await.unwrap();
        let kept = RecordBatch {
            records: third.to_vec(),
            state_intervals: chunk.state_intervals.clone(),
            counter_samples: chunk.counter_samples.clone(),
            fence: Some(Fence { line: line.clone(), epoch: a_epoch, numbered: false }),
        };
        let receipt = store.commit(&kept).await.unwrap();
        assert_eq!(receipt.inserted, third.len(), "{}: records under the old lease kept", db.label());
        let after = store.row_counts().await.unwrap();
        for table in ["state_intervals", "counter_samples"] {
            assert_eq!(after[table], before[table], "{}: {table} under the old lease left out", db.label());
        }
        let current = RecordBatch { fence: Some(Fence { epoch: b.epoch(), ..kept.fence.clone().unwrap() }), ..kept };
        store.commit(&current).await.unwrap();
        let after = store.row_counts().await.unwrap();
        for table in ["state_intervals", "counter_samples"] {
            assert!(after[table] > before[table], "{}: {table} under the current lease stored", db.label());
        }

        let b_epoch = b.epoch();
        drop(b);
        let again = claim("test holder b").await;
        assert_eq!(again.epoch(), b_epoch, "{}: the same holder claiming again keeps its epoch", db.label());

        // Another plant's database on the same server, its line of the same code held too:
        // each database names its own holder.
        let other_db = TestDb::all().await.pop().unwrap();
        let other = other_db.store().await;
        other.register_plant(&plant_model()).await.unwrap();
        let Claim::Held(elsewhere) = other.claim(&line, "other plant holder", false).await.unwrap() else {
            panic!("the other plant's line is free");
        };
        assert_eq!(store.line_owners().await.unwrap()[PHONE_LINE], "test holder b");
        assert_eq!(other.line_owners().await.unwrap()[PHONE_LINE], "other plant holder");
        drop((again, elsewhere));
        other_db.cleanup(other).await;
        db.cleanup(store).await;
    }
}

/// `serial` at `line`'s `station` consuming `lot` as `kind`.
pub fn consuming(line: &str, station: &str, seq: u64, serial: &str, kind: &str, lot: LotId) -> UnitRecord {
    let mut r = bare_record(line, station, seq, serial);
    r.consumed.push(Consumption {
        kind: kind.into(),
        item: ConsumedItem::Lot(lot),
        ref_designator: None,
        certainty: Certainty::Certain,
    });
    r
}

/// A lot is its code with its material: the phone's and the tablet's battery lots printing one
/// code are two lots, traced, held and released apart. A name that fits both is refused with
/// both materials, never guessed; a hold placed before any line recorded its lot is taken over
/// when the lot arrives with its material; and the migration that made lots per material is
/// not undone while codes are shared (it would merge two lots' genealogy).
#[tokio::test]
async fn lots_of_one_code_and_two_materials_stay_apart() {
    use mes::domain::Material;
    use mes::domain::hold::HoldTarget;
    for db in TestDb::all().await {
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let code = "BATTERY-LOT-L00001";
        let lot = |part: &str, supplier: &str| LotId::parse(code).unwrap().of(Material::new(part, supplier).unwrap());
        let now = Utc::now();
        // Held from a supplier's notice before any line used it, by code alone.
        let ahead = LotId::parse("DISPLAY-LOT-L00009").unwrap();
        let placed = store.place_hold(&HoldTarget::Lot(ahead.clone()), "supplier notice", "qe", now).await.unwrap();
        assert!(placed.placed && !placed.seen, "{}", db.label());
        let display = ahead.clone().of(Material::new("DSP-OLED-61", "BOE Vietnam").unwrap());
        let records = vec![
            consuming(PHONE_LINE, "BATTERY", 1, "PH-1", "battery_lot", lot("BAT-LI-4500", "Sunwoda")),
            consuming(TABLET_LINE, "BATTERY", 1, "TB-1", "battery_lot", lot("BAT-LI-8000", "Sunwoda")),
            consuming(PHONE_LINE, "DISPLAY", 2, "PH-2", "display_lot", display.clone()),
        ];
        store.commit(&RecordBatch { records, ..Default::default() }).await.unwrap();
        let label = db.label();

        assert_eq!(
            store.lots_with_code(code).await.unwrap(),
            vec![lot("BAT-LI-4500", "Sunwoda"), lot("BAT-LI-8000", "Sunwoda")],
            "{label}: one code, two lots"
        );
        for query in [lot("", ""), lot("", "Sunwoda")] {
            match store.forward_trace(&ConsumedItem::Lot(query.clone())).await {
                Err(StoreError::AmbiguousLot { candidates, .. }) => assert_eq!(candidates.len(), 2, "{label}"),
                other => panic!("{label}: {query} must be refused as ambiguous, got {other:?}"),
            }
            let refused = store.place_hold(&HoldTarget::Lot(query), "x", "qe", now).await;
            assert!(matches!(refused, Err(StoreError::AmbiguousLot { .. })), "{label}: {refused:?}");
        }
        let phone = store.forward_trace(&ConsumedItem::Lot(lot("BAT-LI-4500", ""))).await.unwrap().unwrap();
        let serials: Vec<&str> = phone.units.iter().map(|u| u.hit.serial.as_str()).collect();
        assert_eq!(serials, ["PH-1"], "{label}: the phone's lot reaches the phone only");
        assert_eq!(phone.item, ConsumedItem::Lot(lot("BAT-LI-4500", "Sunwoda")), "{label}: answered with its material");

        // Holding the tablet's lot holds the tablet, not the phone whose lot prints the same code.
        let held =
            store.place_hold(&HoldTarget::Lot(lot("BAT-LI-8000", "")), "cell swelling", "qe", now).await.unwrap();
        assert!(held.placed && held.seen, "{label}");
        let on_hold = |serial: &'static str| {
            let store = &store;
            async move {
                let trace = store.backward_trace(&SerialNumber::parse(serial).unwrap()).await.unwrap().unwrap();
                trace.units[serial].unit.on_hold
            }
        };
        assert!(on_hold("TB-1").await, "{label}: the tablet is held through its battery lot");
        assert!(!on_hold("PH-1").await, "{label}: the phone, whose battery lot prints the same code, is not");
        // The hold placed ahead was taken over by the lot when it arrived, with its material.
        assert!(on_hold("PH-2").await, "{label}: the display lot held ahead holds the phone that got it");
        assert_eq!(store.lots_with_code(ahead.as_str()).await.unwrap(), vec![display.clone()], "{label}");
        let holds = store.active_holds().await.unwrap();
        assert!(holds.iter().any(|h| h.target == HoldTarget::Lot(display.clone())), "{label}: {holds:?}");
        let again = store.place_hold(&HoldTarget::Lot(ahead.clone()), "again", "qe", now).await.unwrap();
        assert!(!again.placed && again.seen, "{label}: the lot is now recorded, and already held");

        // The code alone releases: only one of its lots is held.
        assert_eq!(store.release_hold(&HoldTarget::Lot(lot("", "")), "qe", "cells fine", now).await.unwrap(), 1);
        assert!(!on_hold("TB-1").await, "{label}");

        // Back past the repair actions (the last migration) to lots per material.
        let undo = store.migrate_down(Some(2)).await;
        assert!(
            matches!(&undo, Err(e) if e.to_string().contains("more than one material")),
            "{label}: undoing lots per material must be refused while codes are shared: {undo:?}"
        );
        assert_eq!(store.lots_with_code(code).await.unwrap().len(), 2, "{label}: nothing changed by the refusal");
        db.cleanup(store).await;
    }
}

/// The lots-per-material migration keeps every lot by id, so genealogy and holds are the same
/// after it: the sample history is traced and held, taken back to the schema before it and
/// forward again, and traced the same.
#[tokio::test]
async fn lots_per_material_migrates_a_recorded_history_without_losing_a_link() {
    use mes::domain::hold::HoldTarget;
    for db in TestDb::all().await {
        let (store, _, records) = sample_store(&db, 17, 12, 6).await;
        let label = db.label();
        let lot = records
            .iter()
            .flat_map(|r| &r.consumed)
            .find_map(|c| match &c.item {
                ConsumedItem::Lot(l) if c.kind == "battery_lot" => Some(l.clone()),
                _ => None,
            })
            .expect("the sample consumes battery lots");
        store.place_hold(&HoldTarget::Lot(lot.clone()), "audit", "qe", Utc::now()).await.unwrap();
        let before = store.forward_trace(&ConsumedItem::Lot(lot.clone())).await.unwrap().unwrap();
        let phone = before.units[0].hit.serial.clone();
        let tree_before = store.backward_trace(&phone).await.unwrap().unwrap();
        // Back past the repair actions (the last migration) to before lots per material.
        store.migrate_down(Some(2)).await.unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(store.migrate_up().await.unwrap(), 2, "{label}");
        let after = store.forward_trace(&ConsumedItem::Lot(lot.clone())).await.unwrap().unwrap();
        assert_eq!(after.units, before.units, "{label}: the same units, still held");
        assert!(after.units.iter().all(|u| u.on_hold), "{label}");
        let tree_after = store.backward_trace(&phone).await.unwrap().unwrap();
        assert_eq!(tree_after.tree.items(), tree_before.tree.items(), "{label}");
        assert_eq!(store.active_holds().await.unwrap().len(), 1, "{label}");
        db.cleanup(store).await;
    }
}

/// A central database refuses one batch kept in a collector host's outbox (a record it will
/// never take): the batches around it are forwarded; it is refused three times in a row, then
/// set aside in the outbox's quarantine (kept, listed, counted, never dropped) and the one
/// behind it goes on; `requeue` puts it back at its place. An entry the outbox cannot read back
/// (a damaged file) is set aside at once.
#[tokio::test]
async fn an_outbox_entry_the_database_keeps_refusing_is_set_aside_and_the_rest_goes_on() {
    use mes::store::{OUTBOX_FILE, Outbox, StoreAndForward};
    use std::sync::Arc;
    for db in TestDb::all().await {
        let label = db.label();
        let store = Arc::new(db.store().await);
        store.register_plant(&plant_model()).await.unwrap();
        let records = SamplePlant::new(7, start()).next_chunk(3, 0).records;
        let (good, rest) = records.split_at(records.len() / 2);
        // A sequence number past the store's signed 64-bit column: the database never takes it.
        let mut refused = rest[0].clone();
        refused.seq = RecordSeq(u64::MAX);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OUTBOX_FILE);
        let outbox = Outbox::open(&path, 1 << 24).unwrap();
        for batch in [good.to_vec(), vec![refused], rest[1..].to_vec()] {
            outbox.keep_batch(&RecordBatch { records: batch, ..Default::default() }).await.unwrap();
        }
        let status = outbox.status();
        let sf = StoreAndForward::new(store.clone(), outbox);
        let results = async || store.row_counts().await.unwrap()["station_results"];

        // Refused twice: what came before it is forwarded, it and what follows wait.
        for round in 1..=2 {
            let e = sf.forward_all().await.expect_err("refused");
            assert!(e.to_string().contains("out of range"), "{label} round {round}: {e}");
        }
        assert_eq!(results().await, good.len() as u64, "{label}: the batch before it went on");
        assert_eq!(status.lock().unwrap().backlog_entries, 2, "{label}");
        // The third refusal sets it aside; the batch behind it goes on.
        sf.forward_all().await.unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(results().await, (records.len() - 1) as u64, "{label}: everything but the refused record");
        let s = status.lock().unwrap().clone();
        assert_eq!((s.backlog_entries, s.quarantined_entries, s.quarantined_records), (0, 1, 1), "{label}");

        // Listed with the database's answer and sent again on request from another process (as
        // `mes outbox --retry` does), while the host runs: its next round counts it and tries it.
        let other = Outbox::open(&path, 1 << 24).unwrap();
        let set_aside = other.quarantined().await.unwrap();
        assert_eq!((set_aside.len(), set_aside[0].id, set_aside[0].records), (1, 2, 1), "{label}: its place kept");
        assert!(set_aside[0].error.contains("refused 3 times in a row"), "{label}: {:?}", set_aside[0]);
        assert!(set_aside[0].error.contains("out of range"), "{label}: {:?}", set_aside[0]);
        assert_eq!(other.requeue(Some(vec![2, 99])).await.unwrap(), 1, "{label}: an unknown id is skipped");
        drop(other);
        let e = sf.forward_all().await.expect_err("the record is still refused");
        assert!(e.to_string().contains("out of range"), "{label}: tried again: {e}");
        let s = status.lock().unwrap().clone();
        assert_eq!((s.backlog_entries, s.backlog_records, s.quarantined_entries), (1, 1, 0), "{label}: counted again");
        drop(sf);

        // A damaged entry ahead of it is set aside at once; the refused one is refused again.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO outbox (id, line, queued_at, records, entry) VALUES (1, 'phone-1', ?1, 4, '{damaged')",
            [Utc::now().to_rfc3339()],
        )
        .unwrap();
        drop(conn);
        let outbox = Outbox::open(&path, 1 << 24).unwrap();
        let sf = StoreAndForward::new(store.clone(), outbox);
        assert!(sf.forward_all().await.is_err(), "{label}: the requeued record is still refused");
        drop(sf);
        let set_aside = Outbox::open(&path, 1 << 24).unwrap().quarantined().await.unwrap();
        assert_eq!(set_aside.len(), 1, "{label}: {set_aside:?}");
        assert_eq!(set_aside[0].id, 1, "{label}");
        assert!(set_aside[0].error.starts_with("the entry does not read back"), "{label}: {:?}", set_aside[0]);
        assert_eq!(results().await, (records.len() - 1) as u64, "{label}: nothing else changed");
        let store = Arc::try_unwrap(store).ok().expect("the only owner");
        db.cleanup(store).await;
    }
}

/// The live summaries kept from what changed ([`mes::figures::kept`]) equal the summaries
/// recomputed from the whole store, after every batch of a generated history committed as
/// collectors commit it: records in time order with some held back and committed a batch
/// later (a unit's earlier visit arriving after its later ones), state intervals opened in one
/// batch and closed in a later one, across shift changes. And a refresh after a change on one
/// line reads no more of the other lines than a refresh after no change.
#[tokio::test]
async fn kept_line_summaries_equal_a_fresh_computation_after_every_batch() {
    use mes::domain::shift::{DEFAULT_TIME_ZONE, ShiftCalendar};
    use mes::figures::kept::KeptSummaries;
    let calendar = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
    let held = BTreeMap::new();
    for db in TestDb::all().await {
        let label = db.label();
        let store = db.store().await;
        store.register_plant(&plant_model()).await.unwrap();
        let chunk = SamplePlant::new(11, start() + Duration::hours(5)).next_chunk(150, 60);
        // What a collector commits, in time order: a record when it ends, an interval opened
        // when it starts and closed when it ends.
        enum Event {
            Record(Box<UnitRecord>),
            Interval(StateInterval),
        }
        let mut events: Vec<(DateTime<Utc>, Event)> = Vec::new();
        for r in &chunk.records {
            events.push((r.ended_at, Event::Record(Box::new(r.clone()))));
        }
        for i in &chunk.state_intervals {
            events.push((i.started_at, Event::Interval(StateInterval { ended_at: None, ..i.clone() })));
            if let Some(end) = i.ended_at {
                events.push((end, Event::Interval(i.clone())));
            }
        }
        events.sort_by_key(|(at, _)| *at);
        let span = (events[0].0, events[events.len() - 1].0);
        let shifts: BTreeSet<String> =
            events.iter().filter_map(|(at, _)| calendar.locate(*at)).map(|s| s.name).collect();
        assert!(shifts.len() >= 2, "{label}: the history {span:?} crosses a shift change: {shifts:?}");
        // The test commits one batch at a time: ids commit in order on both backends.
        let mut kept = KeptSummaries::with_commit_lag(std::time::Duration::ZERO);
        let mut held_back: Vec<UnitRecord> = Vec::new();
        let batches: Vec<_> = events.chunks(60).collect();
        for (b, batch) in batches.iter().enumerate() {
            let mut records = std::mem::take(&mut held_back);
            let mut state_intervals = Vec::new();
            for (_, e) in batch.iter() {
                match e {
                    // Every 17th record reaches the store a batch late.
                    Event::Record(r) if r.key().seq.0 % 17 == 3 && b + 1 < batches.len() => {
                        held_back.push((**r).clone())
                    }
                    Event::Record(r) => records.push((**r).clone()),
                    Event::Interval(i) => state_intervals.push(i.clone()),
                }
            }
            store.commit(&RecordBatch { records, state_intervals, ..Default::default() }).await.unwrap();
            // Now is the batch's last instant, or a little before it (a record ahead of now).
            let now = batch[batch.len() - 1].0 - Duration::milliseconds(if b % 3 == 0 { 500 } else { 0 });
            let fresh = mes::figures::line_summaries(&store, &calendar, now, &held).await.unwrap();
            let ours = kept.summaries(&store, &calendar, now, &held).await.unwrap();
            assert_eq!(
                serde_json::to_value(&ours).unwrap(),
                serde_json::to_value(&fresh).unwrap(),
                "{label}: batch {b} of {}, now {now}",
                batches.len()
            );
        }
        assert!(held_back.is_empty());
        // What a refresh reads when nothing changed (each line's open intervals), then after a
        // record of the phone line alone.
        let now = span.1;
        kept.summaries(&store, &calendar, now, &held).await.unwrap();
        let idle = kept.rows_read().clone();
        let mut record = bare_record(PHONE_LINE, "PACK", 1, "KEPT-ONE-LINE");
        record.ended_at = now - Duration::seconds(1);
        store.commit(&RecordBatch { records: vec![record], ..Default::default() }).await.unwrap();
        let ours = kept.summaries(&store, &calendar, now, &held).await.unwrap();
        let fresh = mes::figures::line_summaries(&store, &calendar, now, &held).await.unwrap();
        assert_eq!(serde_json::to_value(&ours).unwrap(), serde_json::to_value(&fresh).unwrap(), "{label}");
        let after = kept.rows_read();
        assert_eq!(after[PHONE_LINE], idle[PHONE_LINE] + 1, "{label}: the phone line read its one new visit");
        for line in [SMT_LINE, TABLET_LINE] {
            assert_eq!(after[line], idle[line], "{label}: {line} read nothing new");
        }
        db.cleanup(store).await;
    }
}
