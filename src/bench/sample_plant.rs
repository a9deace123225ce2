//! A seeded generator of a small but complete plant history: an SMT line making PCBAs from
//! component reels (with ambiguous reel changes), and phone and tablet lines consuming those
//! PCBAs plus display and battery lots, with test failures, repair loops, machine states and
//! counters. Three-level genealogy: reel → PCBA → phone/tablet.
//!
//! It feeds the demo until the simulators land, the store tests (with the generator's own
//! genealogy truth, kept independently of the trace algorithms) and the ingest benchmark.
//! Pure: the caller passes the start instant; the same seed gives the same history.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::counter::{CounterKind, CounterSample};
use crate::domain::equipment::{Area, Line, LineKind, Site, Station, StationKind};
use crate::domain::ids::{
    DefectCode, LineId, LotId, PlcEpoch, ProductCode, RecordSeq, RepairActionCode, SerialNumber, StationId, WorkOrderId,
};
use crate::domain::plant::{CodeName, PlantModel, ReasonName};
use crate::domain::product::{Product, Route, RouteStep, TraceabilityLevel, WorkOrder};
use crate::domain::record::{Certainty, ConsumedItem, Consumption, Defect, Measurement, UnitRecord, Verdict};
use crate::domain::shift::DEFAULT_TIME_ZONE;
use crate::domain::state::{MachineState, StateInterval};

/// One generated slice of history.
#[derive(Debug, Clone, Default)]
pub struct GeneratedChunk {
    /// Unit records in production order.
    pub records: Vec<UnitRecord>,
    /// Machine state intervals (closed).
    pub state_intervals: Vec<StateInterval>,
    /// Counter samples at the end of the chunk.
    pub counter_samples: Vec<CounterSample>,
}

/// What the generator knows went into what, recorded as it generates, independently of the
/// MES's trace algorithms, so traces can be checked against it.
#[derive(Debug, Clone, Default)]
pub struct GenealogyTruth {
    /// Reel → boards it (certainly or possibly) fed.
    pub reel_boards: BTreeMap<String, BTreeMap<String, Certainty>>,
    /// Board → the phone or tablet it went into.
    pub board_product: BTreeMap<String, String>,
    /// Phone or tablet → its board.
    pub product_board: BTreeMap<String, String>,
    /// Phone or tablet → lots (display, battery) it consumed.
    pub product_lots: BTreeMap<String, BTreeSet<String>>,
    /// Board → reels that (certainly or possibly) fed it.
    pub board_reels: BTreeMap<String, BTreeMap<String, Certainty>>,
}

/// Per-station PLC state the generator keeps: sequence number and counters.
#[derive(Debug, Clone, Default)]
struct PlcState {
    seq: u64,
    count_in: u64,
    count_good: u64,
    count_reject: u64,
}

/// A feeder on the pick-and-place with its current reel.
#[derive(Debug, Clone)]
struct Feeder {
    part: &'static str,
    ref_designator: &'static str,
    reel_no: u32,
    left: u32,
}

/// The generator.
pub struct SamplePlant {
    rng: ChaCha8Rng,
    start: DateTime<Utc>,
    boards_made: u64,
    phones_made: u64,
    tablets_made: u64,
    /// Good boards waiting for the phone (`true`) or tablet (`false`) line.
    good_boards: BTreeMap<bool, VecDeque<String>>,
    feeders: Vec<Feeder>,
    display_lot: (u32, u32),
    battery_lot: (u32, u32),
    plcs: BTreeMap<(String, String), PlcState>,
    /// Last instant each line produced something, for state intervals and counters.
    clock: BTreeMap<&'static str, DateTime<Utc>>,
    /// Genealogy truth so far.
    pub truth: GenealogyTruth,
}

/// Code of the sample plant's SMT line.
pub const SMT_LINE: &str = "smt-1";
/// Code of the sample plant's phone line.
pub const PHONE_LINE: &str = "phone-1";
/// Code of the sample plant's tablet line.
pub const TABLET_LINE: &str = "tablet-1";

/// Code, display name, Vietnamese name, kind.
type StationSpec = (&'static str, &'static str, &'static str, StationKind);

const SMT_STATIONS: [StationSpec; 6] = [
    ("PRINT", "Solder paste printer", "Máy in kem hàn", StationKind::Assembly),
    ("SPI", "Solder paste inspection", "Kiểm tra kem hàn", StationKind::Inspection),
    ("PNP", "Pick and place", "Máy gắp đặt linh kiện", StationKind::Assembly),
    ("REFLOW", "Reflow oven", "Lò hàn reflow", StationKind::Process),
    ("AOI", "Automated optical inspection", "Kiểm tra quang học tự động", StationKind::Inspection),
    ("ICT", "In-circuit / functional test", "Kiểm tra mạch / chức năng", StationKind::Test),
];
const PHONE_STATIONS: [StationSpec; 8] = [
    ("LOAD", "PCBA load", "Nạp bo mạch PCBA", StationKind::Assembly),
    ("DISPLAY", "Display assembly", "Lắp màn hình", StationKind::Assembly),
    ("BATTERY", "Battery assembly", "Lắp pin", StationKind::Assembly),
    ("SCREW", "Housing and screws", "Lắp vỏ và bắt vít", StationKind::Assembly),
    ("FT", "Functional test", "Kiểm tra chức năng", StationKind::Test),
    ("RF", "RF calibration", "Hiệu chuẩn RF", StationKind::Test),
    ("REPAIR", "Repair", "Sửa chữa", StationKind::Repair),
    ("PACK", "Final QC and pack", "Kiểm tra cuối và đóng gói", StationKind::Pack),
];
const TABLET_STATIONS: [StationSpec; 8] = [
    ("LOAD", "PCBA load", "Nạp bo mạch PCBA", StationKind::Assembly),
    ("DISPLAY", "Display lamination", "Dán màn hình", StationKind::Assembly),
    ("BATTERY", "Battery assembly", "Lắp pin", StationKind::Assembly),
    ("ASSY", "Housing assembly", "Lắp vỏ", StationKind::Assembly),
    ("FT", "Functional test", "Kiểm tra chức năng", StationKind::Test),
    ("CAL", "Sensor calibration", "Hiệu chuẩn cảm biến", StationKind::Test),
    ("REPAIR", "Repair", "Sửa chữa", StationKind::Repair),
    ("PACK", "Final QC and pack", "Kiểm tra cuối và đóng gói", StationKind::Pack),
];

/// Parses an id the generator built itself; every such id is valid by construction.
fn id<T>(parse: impl FnOnce(String) -> Result<T, crate::domain::IdError>, value: &str) -> T {
    #[allow(clippy::expect_used)]
    parse(value.to_owned()).expect("generator ids are valid by construction")
}

fn count(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The sample plant's master data.
pub fn plant_model() -> PlantModel {
    let line = |code: &str, (name, name_vi): (&str, &str), kind: LineKind, stations: &[StationSpec]| Line {
        id: id(LineId::parse, code),
        area: "A1".into(),
        name: name.into(),
        name_vi: Some(name_vi.into()),
        kind,
        stations: stations
            .iter()
            .enumerate()
            .map(|(i, (code, name, name_vi, kind))| Station {
                id: id(StationId::parse, code),
                name: (*name).into(),
                name_vi: Some((*name_vi).into()),
                position: count(i + 1),
                kind: *kind,
                ideal_cycle_ms: None,
            })
            .collect(),
    };
    let product = |code: &str, (name, name_vi): (&str, &str), material: u8, process: u8, opportunities| Product {
        code: id(ProductCode::parse, code),
        name: name.into(),
        name_vi: Some(name_vi.into()),
        traceability: TraceabilityLevel { material, process },
        opportunities_per_unit: opportunities,
    };
    let route = |product: &str, line: &str, stations: &[StationSpec]| Route {
        product: id(ProductCode::parse, product),
        line: id(LineId::parse, line),
        version: 1,
        steps: stations
            .iter()
            .filter(|(_, _, _, kind)| *kind != StationKind::Repair)
            .enumerate()
            .map(|(i, (code, name, _, _))| RouteStep {
                position: count(i + 1),
                station: id(StationId::parse, code),
                operation: (*name).into(),
            })
            .collect(),
    };
    let order = |code: &str, product: &str, line: &str, qty| WorkOrder {
        id: id(WorkOrderId::parse, code),
        product: id(ProductCode::parse, product),
        line: id(LineId::parse, line),
        planned_quantity: qty,
    };
    PlantModel {
        site: Site {
            code: "THA".into(),
            name: "Thanh Hóa assembly plant".into(),
            time_zone: DEFAULT_TIME_ZONE.name().into(),
        },
        areas: vec![Area { site: "THA".into(), code: "A1".into(), name: "Assembly hall 1".into() }],
        lines: vec![
            line(SMT_LINE, ("SMT line 1", "Dây chuyền SMT 1"), LineKind::Smt, &SMT_STATIONS),
            line(PHONE_LINE, ("Phone final assembly 1", "Lắp ráp điện thoại 1"), LineKind::Phone, &PHONE_STATIONS),
            line(
                TABLET_LINE,
                ("Tablet final assembly 1", "Lắp ráp máy tính bảng 1"),
                LineKind::Tablet,
                &TABLET_STATIONS,
            ),
        ],
        products: vec![
            product("PCBA-PH", ("Phone main board", "Bo mạch chính điện thoại"), 3, 3, 480),
            product("PCBA-TB", ("Tablet main board", "Bo mạch chính máy tính bảng"), 3, 3, 620),
            product("PHONE-X1", ("Phone X1", "Điện thoại X1"), 2, 2, 40),
            product("TABLET-T1", ("Tablet T1", "Máy tính bảng T1"), 2, 2, 46),
        ],
        routes: vec![
            route("PCBA-PH", SMT_LINE, &SMT_STATIONS),
            route("PCBA-TB", SMT_LINE, &SMT_STATIONS),
            route("PHONE-X1", PHONE_LINE, &PHONE_STATIONS),
            route("TABLET-T1", TABLET_LINE, &TABLET_STATIONS),
        ],
        work_orders: vec![
            order("WO-SMT-PH-0001", "PCBA-PH", SMT_LINE, 1_000_000),
            order("WO-SMT-TB-0001", "PCBA-TB", SMT_LINE, 1_000_000),
            order("WO-PH-0001", "PHONE-X1", PHONE_LINE, 1_000_000),
            order("WO-TB-0001", "TABLET-T1", TABLET_LINE, 1_000_000),
        ],
        defects: catalogue(&DEFECT_NAMES),
        repair_actions: catalogue(&REPAIR_ACTION_NAMES),
        fault_reasons: FAULT_REASONS
            .iter()
            .map(|(_, reason, name_vi)| ReasonName { reason: (*reason).into(), name_vi: (*name_vi).into() })
            .collect(),
    }
}

/// The fault codes the generator's stations stop with (100–119), with their reasons in English
/// and Vietnamese (the bundled profiles' reasons).
const FAULT_REASONS: [(u16, &str, &str); 20] = [
    (100, "conveyor jam", "kẹt băng tải"),
    (101, "vacuum pressure low", "áp suất chân không thấp"),
    (102, "vision system error", "lỗi hệ thống thị giác"),
    (103, "nozzle blocked", "tắc đầu hút"),
    (104, "feeder error", "lỗi bộ cấp linh kiện"),
    (105, "safety door opened", "cửa an toàn mở"),
    (106, "servo overload", "quá tải servo"),
    (107, "air pressure low", "áp suất khí nén thấp"),
    (108, "fixture misaligned", "đồ gá lệch"),
    (109, "barcode unreadable", "không đọc được mã vạch"),
    (110, "torque tool fault", "lỗi dụng cụ siết lực"),
    (111, "test fixture contact", "lỗi tiếp xúc đồ gá kiểm tra"),
    (112, "temperature out of range", "nhiệt độ ngoài giới hạn"),
    (113, "emergency stop", "dừng khẩn cấp"),
    (114, "PLC communication loss", "mất kết nối PLC"),
    (115, "tool change overdue", "quá hạn thay dụng cụ"),
    (116, "material shortage alarm", "báo thiếu vật tư"),
    (117, "calibration drift", "trôi hiệu chuẩn"),
    (118, "sensor fault", "lỗi cảm biến"),
    (119, "power dip", "sụt điện áp"),
];

/// The defect codes the generator reports, with their names in English and Vietnamese (the
/// same names the bundled profiles give the simulators' codes).
const DEFECT_NAMES: [(&str, &str, &str); 10] = [
    ("SOLDER_BRIDGE", "Solder bridge", "Cầu hàn"),
    ("TOMBSTONE", "Tombstone", "Linh kiện dựng đứng"),
    ("MISSING_COMPONENT", "Missing component", "Thiếu linh kiện"),
    ("INSUFFICIENT_SOLDER", "Insufficient solder", "Thiếu thiếc hàn"),
    ("ICT_OPEN", "Open circuit", "Hở mạch"),
    ("ICT_SHORT", "Short circuit", "Ngắn mạch"),
    ("FT_AUDIO", "Audio test failed", "Lỗi âm thanh"),
    ("FT_CAMERA", "Camera test failed", "Lỗi camera"),
    ("FT_TOUCH", "Touch test failed", "Lỗi cảm ứng"),
    ("RF_POWER_LOW", "RF output power low", "Công suất RF thấp"),
];

/// What the generator's repair bench does for each defect, with the action's names (the same
/// names the bundled profiles give the simulators' actions).
const REPAIR_ACTION_NAMES: [(&str, &str, &str); 3] = [
    ("RESOLDER", "Resoldered", "Hàn lại"),
    ("REPLACE_PART", "Part replaced", "Thay linh kiện"),
    ("RESEAT_CONNECTOR", "Connector reseated", "Cắm lại đầu nối"),
];

/// A catalogue of codes with their English and Vietnamese names.
fn catalogue(names: &[(&str, &str, &str)]) -> Vec<CodeName> {
    names
        .iter()
        .map(|(code, name, name_vi)| CodeName {
            code: (*code).into(),
            name: (*name).into(),
            name_vi: Some((*name_vi).into()),
        })
        .collect()
}

impl SamplePlant {
    /// A generator whose history starts at `start`.
    pub fn new(seed: u64, start: DateTime<Utc>) -> Self {
        let feeders = [("0402C-100N", "C1-C24"), ("0201R-10K", "R1-R40"), ("QFN-PMIC", "U2"), ("BGA-SOC", "U1")]
            .into_iter()
            .enumerate()
            .map(|(i, (part, ref_designator))| Feeder { part, ref_designator, reel_no: 1, left: 20 + 7 * count(i) })
            .collect();
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            start,
            boards_made: 0,
            phones_made: 0,
            tablets_made: 0,
            good_boards: BTreeMap::new(),
            feeders,
            display_lot: (1, 0),
            battery_lot: (1, 0),
            plcs: BTreeMap::new(),
            clock: BTreeMap::new(),
            truth: GenealogyTruth::default(),
        }
    }

    /// Generates the next slice: enough boards for `phones` phones and `tablets` tablets (plus
    /// the scrap along the way), then the phones and tablets themselves.
    pub fn next_chunk(&mut self, phones: usize, tablets: usize) -> GeneratedChunk {
        let mut chunk = GeneratedChunk::default();
        for (for_phone, wanted) in [(true, phones), (false, tablets)] {
            while self.good_boards.get(&for_phone).map_or(0, VecDeque::len) < wanted {
                self.make_board(for_phone, &mut chunk);
            }
        }
        for _ in 0..phones {
            self.make_final(true, &mut chunk);
        }
        for _ in 0..tablets {
            self.make_final(false, &mut chunk);
        }
        self.close_chunk(&mut chunk);
        chunk
    }

    /// A passing record of the next sequence number at a station; counters follow.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        line: &'static str,
        station: &str,
        serial: &str,
        product: &str,
        work_order: &str,
        ended_at: DateTime<Utc>,
        cycle_s: i64,
    ) -> UnitRecord {
        let plc = self.plcs.entry((line.to_owned(), station.to_owned())).or_default();
        plc.seq += 1;
        plc.count_in += 1;
        plc.count_good += 1;
        let seq = RecordSeq(plc.seq);
        let clock = self.clock.entry(line).or_insert(ended_at);
        *clock = (*clock).max(ended_at);
        UnitRecord {
            line: id(LineId::parse, line),
            station: id(StationId::parse, station),
            epoch: PlcEpoch(1),
            seq,
            serial: id(SerialNumber::parse, serial),
            product: Some(id(ProductCode::parse, product)),
            work_order: Some(id(WorkOrderId::parse, work_order)),
            verdict: Verdict::Pass,
            defects: Vec::new(),
            measurements: Vec::new(),
            consumed: Vec::new(),
            started_at: Some(ended_at - Duration::seconds(cycle_s)),
            ended_at,
            cycle_time_ms: Some(u32::try_from(cycle_s * 1000).unwrap_or(u32::MAX)),
            program: Some(format!("{product}-v1")),
            repair_action: None,
        }
    }

    /// Turns a passing record into a failure with one defect; counters follow.
    fn fail(&mut self, record: &mut UnitRecord, code: &str, ref_designator: Option<&str>) {
        record.verdict = Verdict::Fail;
        record
            .defects
            .push(Defect { code: id(DefectCode::parse, code), ref_designator: ref_designator.map(Into::into) });
        let plc = self.plcs.entry((record.line.to_string(), record.station.to_string())).or_default();
        plc.count_good -= 1;
        plc.count_reject += 1;
    }

    fn make_board(&mut self, for_phone: bool, chunk: &mut GeneratedChunk) {
        self.boards_made += 1;
        let n = self.boards_made;
        let serial = format!("PCB-{}-{n:07}", if for_phone { "PH" } else { "TB" });
        let (product, wo) = if for_phone { ("PCBA-PH", "WO-SMT-PH-0001") } else { ("PCBA-TB", "WO-SMT-TB-0001") };
        let cycle = 20;
        let t0 = self.start + Duration::seconds(secs(n) * cycle);
        for (i, (station, _, _, _)) in SMT_STATIONS.iter().enumerate() {
            let at = t0 + Duration::seconds(cycle * (i64::from(count(i)) + 1));
            let mut rec = self.record(SMT_LINE, station, &serial, product, wo, at, cycle);
            match *station {
                "PNP" => rec.consumed = self.place(&serial),
                "AOI" if self.rng.random_bool(0.03) => {
                    let code = ["SOLDER_BRIDGE", "TOMBSTONE", "MISSING_COMPONENT", "INSUFFICIENT_SOLDER"]
                        [self.rng.random_range(0..4)];
                    let designator = ["C12", "R7", "U2", "C3"][self.rng.random_range(0..4)];
                    self.fail(&mut rec, code, Some(designator));
                }
                "ICT" => {
                    rec.measurements.push(Measurement {
                        name: "idle_current".into(),
                        value: ((180.0 + self.rng.random_range(-15.0f64..15.0)) * 10.0).round() / 10.0,
                        unit: Some("mA".into()),
                        lower_limit: Some(150.0),
                        upper_limit: Some(200.0),
                    });
                    if self.rng.random_bool(0.015) {
                        self.fail(&mut rec, "ICT_OPEN", None);
                    }
                }
                _ => {}
            }
            let scrapped = rec.verdict == Verdict::Fail;
            chunk.records.push(rec);
            if scrapped {
                return; // a failed board is scrapped: it never reaches a final line
            }
        }
        self.good_boards.entry(for_phone).or_default().push_back(serial);
    }

    /// Consumes one placement from every feeder; a reel running out is changed, and half of
    /// the changes are ambiguous (the board may carry parts of either reel).
    fn place(&mut self, board: &str) -> Vec<Consumption> {
        let mut consumed = Vec::new();
        for f in 0..self.feeders.len() {
            let ambiguous_change = self.feeders[f].left == 0 && self.rng.random_bool(0.5);
            let old_reel = reel_id(&self.feeders[f]);
            if self.feeders[f].left == 0 {
                self.feeders[f].reel_no += 1;
                self.feeders[f].left = self.rng.random_range(25..60);
            }
            self.feeders[f].left -= 1;
            let feeder = &self.feeders[f];
            let new_reel = reel_id(feeder);
            let reels: Vec<(String, Certainty)> = if ambiguous_change {
                vec![(old_reel, Certainty::Possible), (new_reel, Certainty::Possible)]
            } else {
                vec![(new_reel, Certainty::Certain)]
            };
            for (reel, certainty) in reels {
                self.truth.reel_boards.entry(reel.clone()).or_default().insert(board.to_owned(), certainty);
                self.truth.board_reels.entry(board.to_owned()).or_default().insert(reel.clone(), certainty);
                consumed.push(Consumption {
                    kind: "reel".into(),
                    item: ConsumedItem::Lot(id(LotId::parse, &reel)),
                    ref_designator: Some(feeder.ref_designator.into()),
                    certainty,
                });
            }
        }
        consumed
    }

    fn make_final(&mut self, phone: bool, chunk: &mut GeneratedChunk) {
        let Some(board) = self.good_boards.get_mut(&phone).and_then(VecDeque::pop_front) else { return };
        let (line, stations, product, wo, cycle): (&'static str, &[StationSpec], _, _, i64) = if phone {
            self.phones_made += 1;
            (PHONE_LINE, &PHONE_STATIONS, "PHONE-X1", "WO-PH-0001", 30)
        } else {
            self.tablets_made += 1;
            (TABLET_LINE, &TABLET_STATIONS, "TABLET-T1", "WO-TB-0001", 45)
        };
        let n = if phone { self.phones_made } else { self.tablets_made };
        let serial = if phone { format!("PH1-{n:07}") } else { format!("TB1-{n:07}") };
        // Final lines start two hours after the SMT line, so their boards exist first.
        let mut at = self.start + Duration::hours(2) + Duration::seconds(secs(n) * cycle);
        self.truth.board_product.insert(board.clone(), serial.clone());
        self.truth.product_board.insert(serial.clone(), board.clone());
        let (display, battery) = (self.next_lot(true), self.next_lot(false));
        self.truth.product_lots.insert(serial.clone(), [display.clone(), battery.clone()].into());

        for (station, _, _, kind) in stations.iter().filter(|(_, _, _, k)| *k != StationKind::Repair) {
            at += Duration::seconds(cycle);
            let mut rec = self.record(line, station, &serial, product, wo, at, cycle);
            match *station {
                "LOAD" => rec.consumed.push(consumption("pcba", ConsumedItem::Serial(id(SerialNumber::parse, &board)))),
                "DISPLAY" => {
                    rec.consumed.push(consumption("display_lot", ConsumedItem::Lot(id(LotId::parse, &display))))
                }
                "BATTERY" => {
                    rec.consumed.push(consumption("battery_lot", ConsumedItem::Lot(id(LotId::parse, &battery))))
                }
                "SCREW" | "ASSY" => {
                    for k in 1..=4 {
                        rec.measurements.push(Measurement {
                            name: format!("torque_{k}"),
                            value: ((0.30 + self.rng.random_range(-0.03f64..0.03)) * 1000.0).round() / 1000.0,
                            unit: Some("N·m".into()),
                            lower_limit: Some(0.25),
                            upper_limit: Some(0.35),
                        });
                    }
                }
                _ => {}
            }
            let fails = *kind == StationKind::Test && self.rng.random_bool(if *station == "FT" { 0.05 } else { 0.03 });
            if !fails {
                chunk.records.push(rec);
                continue;
            }
            // Fail, repair, re-test and pass: first-pass yield sees the fail, final yield the pass.
            let code = if *station == "FT" {
                ["FT_AUDIO", "FT_CAMERA", "FT_TOUCH"][self.rng.random_range(0..3)]
            } else {
                "RF_POWER_LOW"
            };
            self.fail(&mut rec, code, None);
            chunk.records.push(rec);
            at += Duration::minutes(10);
            let mut repair = self.record(line, "REPAIR", &serial, product, wo, at, 600);
            repair.defects.push(Defect { code: id(DefectCode::parse, code), ref_designator: None });
            let action = match code {
                "FT_AUDIO" => "RESEAT_CONNECTOR",
                "RF_POWER_LOW" => "RESOLDER",
                _ => "REPLACE_PART",
            };
            repair.repair_action = Some(id(RepairActionCode::parse, action));
            chunk.records.push(repair);
            at += Duration::seconds(cycle);
            let retest = self.record(line, station, &serial, product, wo, at, cycle);
            chunk.records.push(retest);
        }
    }

    fn next_lot(&mut self, display: bool) -> String {
        let (lot, used) = if display { &mut self.display_lot } else { &mut self.battery_lot };
        if *used >= 50 {
            *lot += 1;
            *used = 0;
        }
        *used += 1;
        format!("{}-L{:05}", if display { "DSP" } else { "BAT" }, lot)
    }

    /// States and counters for the period each line covered: running intervals interrupted by
    /// a fault now and then, and the counters at the end.
    fn close_chunk(&mut self, chunk: &mut GeneratedChunk) {
        let model = plant_model();
        for line in &model.lines {
            let Some(end) = self.clock.get(line.id.as_str()).copied() else { continue };
            for station in &line.stations {
                let key = (line.id.to_string(), station.id.to_string());
                let Some(plc) = self.plcs.get(&key).cloned() else { continue };
                let begin = chunk
                    .records
                    .iter()
                    .filter(|r| r.line == line.id && r.station == station.id)
                    .filter_map(|r| r.started_at)
                    .min()
                    .unwrap_or(end);
                let mut t = begin;
                while t < end {
                    let run_end = (t + Duration::minutes(self.rng.random_range(30..240))).min(end);
                    chunk.state_intervals.push(interval(line, station, (t, run_end), 2, MachineState::Running, None));
                    t = run_end;
                    if t < end {
                        let down = Duration::minutes(self.rng.random_range(2..15));
                        let fault = self.rng.random_range(100u16..120);
                        chunk.state_intervals.push(interval(
                            line,
                            station,
                            (t, t + down),
                            5,
                            MachineState::Fault,
                            Some(fault),
                        ));
                        t += down;
                    }
                }
                let width: u8 = if line.kind == LineKind::Phone { 16 } else { 32 };
                let modulus = 1u64 << width;
                for (counter, value) in [
                    (CounterKind::In, plc.count_in),
                    (CounterKind::Good, plc.count_good),
                    (CounterKind::Reject, plc.count_reject),
                ] {
                    chunk.counter_samples.push(CounterSample {
                        line: line.id.clone(),
                        station: station.id.clone(),
                        counter,
                        epoch: PlcEpoch(1),
                        sampled_at: end,
                        raw: u32::try_from(value % modulus).unwrap_or(u32::MAX),
                        width_bits: width,
                    });
                }
            }
        }
    }
}

fn reel_id(feeder: &Feeder) -> String {
    format!("R-{}-{:05}", feeder.part, feeder.reel_no)
}

fn consumption(kind: &str, item: ConsumedItem) -> Consumption {
    Consumption { kind: kind.into(), item, ref_designator: None, certainty: Certainty::Certain }
}

fn interval(
    line: &Line,
    station: &Station,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    plc_code: u16,
    state: MachineState,
    fault_code: Option<u16>,
) -> StateInterval {
    StateInterval {
        line: line.id.clone(),
        station: station.id.clone(),
        started_at: start,
        ended_at: Some(end),
        plc_code,
        state,
        fault_code,
        // A code without a reason stays a bare code (`DownReason::Code`), as a collector records it.
        reason: fault_code
            .and_then(|c| FAULT_REASONS.iter().find(|r| r.0 == c))
            .map(|(_, reason, _)| (*reason).to_owned()),
    }
}

impl GenealogyTruth {
    /// Everything that went into a phone/tablet or board, by printed id: its board, the board's
    /// reels, its lots.
    pub fn backward(&self, serial: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let board = self.product_board.get(serial).cloned();
        if let Some(b) = &board {
            out.insert(b.clone());
        }
        for b in board.iter().chain(std::iter::once(&serial.to_owned())) {
            if let Some(reels) = self.board_reels.get(b) {
                out.extend(reels.keys().cloned());
            }
        }
        if let Some(lots) = self.product_lots.get(serial) {
            out.extend(lots.iter().cloned());
        }
        out
    }

    /// Every unit containing `reel`: boards and the products they went into, each `Certain`
    /// (contains) or `Possible` (possibly contains).
    pub fn forward_of_reel(&self, reel: &str) -> BTreeMap<String, Certainty> {
        let mut out = BTreeMap::new();
        for (board, certainty) in self.reel_boards.get(reel).into_iter().flatten() {
            out.insert(board.clone(), *certainty);
            if let Some(product) = self.board_product.get(board) {
                out.insert(product.clone(), *certainty);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    #[test]
    fn same_seed_same_history() {
        let a = SamplePlant::new(7, start()).next_chunk(20, 10);
        let b = SamplePlant::new(7, start()).next_chunk(20, 10);
        assert_eq!(a.records, b.records);
        let c = SamplePlant::new(8, start()).next_chunk(20, 10);
        assert_ne!(a.records, c.records);
    }

    #[test]
    fn every_record_is_valid_and_keys_are_unique() {
        let mut plant = SamplePlant::new(1, start());
        let mut keys = BTreeSet::new();
        for _ in 0..3 {
            for r in plant.next_chunk(30, 15).records {
                assert!(r.problems().is_empty(), "{r:?}");
                assert!(keys.insert(r.key()), "duplicate key {:?}", r.key());
            }
        }
    }

    #[test]
    fn history_has_repairs_scrap_and_ambiguous_reel_changes() {
        let mut plant = SamplePlant::new(3, start());
        let chunk = plant.next_chunk(200, 100);
        let repairs: Vec<_> = chunk.records.iter().filter(|r| r.station.as_str() == "REPAIR").collect();
        assert!(!repairs.is_empty());
        let catalogue = plant_model().repair_actions;
        assert!(
            repairs
                .iter()
                .all(|r| r.repair_action.as_ref().is_some_and(|a| catalogue.iter().any(|c| c.code == a.as_str()))),
            "every repair says what it did, in words the catalogue names"
        );
        assert!(chunk.records.iter().filter(|r| r.station.as_str() != "REPAIR").all(|r| r.repair_action.is_none()));
        assert!(chunk.records.iter().any(|r| r.line.as_str() == SMT_LINE && r.verdict == Verdict::Fail));
        let possible =
            plant.truth.reel_boards.values().flat_map(|b| b.values()).filter(|c| **c == Certainty::Possible).count();
        assert!(possible > 0, "some reel changes are ambiguous");
        assert_eq!(plant.truth.product_board.len(), 300);
    }

    #[test]
    fn counters_match_the_records() {
        let mut plant = SamplePlant::new(2, start());
        let chunk = plant.next_chunk(50, 0);
        let ft = |verdict| {
            chunk
                .records
                .iter()
                .filter(|r| r.line.as_str() == PHONE_LINE && r.station.as_str() == "FT" && r.verdict == verdict)
                .count()
        };
        let sample = |kind| {
            chunk
                .counter_samples
                .iter()
                .find(|s| s.line.as_str() == PHONE_LINE && s.station.as_str() == "FT" && s.counter == kind)
                .map(|s| s.raw)
        };
        assert_eq!(sample(CounterKind::Good), Some(count(ft(Verdict::Pass))));
        assert_eq!(sample(CounterKind::Reject), Some(count(ft(Verdict::Fail))));
    }
}
