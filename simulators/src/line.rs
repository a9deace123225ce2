//! The flow of units through a line, in simulated time, without I/O: stations in route order
//! with cycle times, buffers between them (so an upstream stop starves the stations below and a
//! downstream stop blocks the ones above), test failures with a repair loop back into test,
//! scrap at inspection, breakdowns with repair times, and a PLC per station that may refuse a
//! record when its ring of unacknowledged records is full (the station then blocks).
//!
//! Determinism: everything a record says about a unit (result, defect, measurements, cycle
//! time) is drawn from a generator seeded by (seed, line, unit, station, attempt), and
//! breakdowns from one seeded by (seed, line, station). Time is simulated: the caller says how
//! far to advance. So the same seed gives each station the same sequence of records, however
//! fast the wall clock runs, as long as the MES keeps the rings from filling.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use plc_contract::profile::{Profile, Role, StationProfile};
use plc_contract::{ConsumedRef, StationResultLine};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::plc::{Blocked, SimRecord, StationPlc};

/// Simulated-time resolution.
pub const TICK_MS: u64 = 100;

/// State codes the bundled profiles map (`[states]`).
pub mod state {
    /// Ready, nothing to do.
    pub const IDLE: u16 = 1;
    /// Producing.
    pub const RUNNING: u16 = 2;
    /// Cannot unload.
    pub const BLOCKED: u16 = 3;
    /// Nothing to load.
    pub const STARVED: u16 = 4;
    /// Broken down.
    pub const FAULT: u16 = 5;
}

/// Where a line's PLCs live: the engine offers records and sets state words through this, so
/// the same flow drives a Modbus register image, OPC UA variables or a test double.
pub trait PlcBank {
    /// Offers a finished unit's record to station `i`'s PLC.
    fn offer(&mut self, i: usize, record: SimRecord) -> Result<u32, Blocked>;
    /// Sets station `i`'s state and fault words.
    fn set_state(&mut self, i: usize, state_code: u16, fault_code: u16);
    /// Station `i`'s PLC boot epoch.
    fn epoch(&self, i: usize) -> u32;
    /// Station `i` now has reel `reel` loaded on feeder `slot` (index in profile order).
    fn set_feeder(&mut self, i: usize, slot: usize, reel: &str);
    /// Station `i` raises a validation request for `serial`.
    fn request_validation(&mut self, i: usize, serial: &str);
    /// The MES's answer to station `i`'s current request: `(verdict, reason)`.
    fn validation_answer(&self, i: usize) -> Option<(u16, u16)>;
    /// Whether station `i`'s PLC still holds record `seq` of `epoch` unacknowledged.
    fn holds_record(&self, i: usize, epoch: u32, seq: u32) -> bool;
}

impl PlcBank for Vec<StationPlc> {
    fn offer(&mut self, i: usize, record: SimRecord) -> Result<u32, Blocked> {
        self[i].offer(record)
    }
    fn set_state(&mut self, i: usize, state_code: u16, fault_code: u16) {
        (self[i].state_code, self[i].fault_code) = (state_code, fault_code);
    }
    fn epoch(&self, i: usize) -> u32 {
        self[i].epoch
    }
    fn set_feeder(&mut self, i: usize, slot: usize, reel: &str) {
        let reels = &mut self[i].feeder_reels;
        if reels.len() <= slot {
            reels.resize(slot + 1, String::new());
        }
        reels[slot] = reel.to_owned();
    }
    fn request_validation(&mut self, i: usize, serial: &str) {
        self[i].request_validation(serial);
    }
    fn validation_answer(&self, i: usize) -> Option<(u16, u16)> {
        self[i].validation_answer()
    }
    fn holds_record(&self, i: usize, epoch: u32, seq: u32) -> bool {
        self[i].holds(epoch, seq)
    }
}

pub use plc_contract::ValidationLine as ValidationEvent;

/// How a station behaves, derived from its profile and the line kind.
#[derive(Debug, Clone)]
pub struct StationSpec {
    /// Mean cycle time.
    pub cycle_ms: u64,
    /// Probability that a unit fails here.
    pub fail_prob: f64,
    /// Defect codes a failure reports.
    pub defects: Vec<&'static str>,
    /// What a repair bench may do to a unit (at repair stations).
    pub repair_actions: Vec<&'static str>,
    /// Mean time between breakdowns.
    pub mtbf_ms: u64,
    /// Mean time to repair a breakdown.
    pub mttr_ms: u64,
}

impl StationSpec {
    /// Defaults by line and station kind: what the bundled lines do.
    pub fn for_station(line_kind: &str, p: &StationProfile) -> Self {
        let cycle_ms = match line_kind {
            "smt" => 20_000,
            "tablet" => 45_000,
            _ => 30_000,
        };
        let (fail_prob, defects): (f64, Vec<&'static str>) = match (line_kind, p.kind.as_str(), p.code.as_str()) {
            (_, "repair", _) => (0.0, vec![]),
            ("smt", "inspection", "AOI") => {
                (0.03, vec!["SOLDER_BRIDGE", "TOMBSTONE", "MISSING_COMPONENT", "INSUFFICIENT_SOLDER"])
            }
            ("smt", "test", _) => (0.015, vec!["ICT_OPEN", "ICT_SHORT"]),
            (_, "test", "RF") => (0.03, vec!["RF_POWER_LOW"]),
            (_, "test", _) => (0.05, vec!["FT_AUDIO", "FT_CAMERA", "FT_TOUCH"]),
            _ => (0.0, vec![]),
        };
        // A repair bench takes minutes; longer and it becomes the line's bottleneck at these fail rates.
        let cycle_ms = if p.kind == "repair" { 120_000 } else { cycle_ms };
        let repair_actions = match p.kind.as_str() {
            "repair" => vec!["RESOLDER", "REPLACE_PART", "RESEAT_CONNECTOR", "REFLASH", "NO_FAULT_FOUND"],
            _ => vec![],
        };
        Self { cycle_ms, fail_prob, defects, repair_actions, mtbf_ms: 2 * 3_600_000, mttr_ms: 5 * 60_000 }
    }
}

/// The second supplier of a dual-sourced part (a station whose profile has a `supplier_tag`),
/// beside the profile's own `supplier`.
fn second_source(kind: &str) -> Option<&'static str> {
    match kind {
        "battery_lot" => Some("ATL Vietnam"),
        "display_lot" => Some("Samsung Display Vietnam"),
        _ => None,
    }
}

/// A unit in flight.
#[derive(Debug, Clone)]
struct Unit {
    index: u64,
    serial: String,
    /// Visits so far, per station (for the attempt number in the seed).
    attempts: Vec<u32>,
    /// After repair, the station it returns to.
    return_to: Option<usize>,
    /// What it consumed at the station that took it in.
    consumed: Vec<Vec<ConsumedRef>>,
    /// Its last record a PLC accepted: station, sequence number, epoch. A later station's
    /// interlock asks about the unit only once the MES has acknowledged it.
    last_record: Option<(usize, u32, u32)>,
}

/// Where a finished unit goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Station(usize),
    /// Left the line (packed or scrapped).
    Out,
}

/// The record fields of a unit's feeder placements, from its consumed reels (one certain reel,
/// or an ambiguous `old, new` pair, per slot): `(placed, spliced out)` per slot.
fn placed_reels(reels: &[ConsumedRef]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < reels.len() {
        if reels[k].certainty.is_some() && k + 1 < reels.len() {
            out.push((reels[k + 1].id.clone(), Some(reels[k].id.clone())));
            k += 2;
        } else {
            out.push((reels[k].id.clone(), None));
            k += 1;
        }
    }
    out
}

/// A feeder slot's loaded reel: which one, how many placements it has left, and whether the
/// PLC's feeder register shows it yet.
#[derive(Debug, Clone, Default)]
struct Feeder {
    reel_no: u64,
    left: u64,
    shown: bool,
}

#[derive(Debug, Clone, Default)]
struct Runtime {
    busy: Option<(Unit, u64)>,
    /// Finished and recorded, waiting for room downstream.
    held: Option<(Unit, Next)>,
    /// Finished but refused by the PLC (ring full).
    plc_blocked: bool,
    down_until: Option<u64>,
    next_break_at: u64,
    breaks: u64,
    shown: (u16, u16),
    feeders: Vec<Feeder>,
    /// A validation request in flight: the part asked about and when (simulated ms).
    validating: Option<(String, u64)>,
}

/// A line's flow engine.
pub struct LineEngine {
    seed: u64,
    line: String,
    prefix: String,
    start: DateTime<Utc>,
    profiles: Vec<StationProfile>,
    specs: Vec<StationSpec>,
    route: Vec<usize>,
    repair: Option<usize>,
    queues: Vec<VecDeque<Unit>>,
    buffer: usize,
    rt: Vec<Runtime>,
    now_ms: u64,
    next_unit: u64,
    /// Reels already used by an earlier run of the plant (see [`LineEngine::continue_after`]).
    reel_base: u64,
    /// Where this line's block of IMEIs starts (see [`LineEngine::number_block`]).
    imei_base: u64,
    /// Serialised sub-assemblies waiting to be consumed, by kind (`pcba`).
    pub supply: std::collections::BTreeMap<String, VecDeque<String>>,
    /// Serials of units that left the last station with a pass, oldest first (feed these to the
    /// lines that consume them).
    pub completed: VecDeque<String>,
    /// Units that left the line failed (scrap), oldest first: route faults feed some onwards.
    pub scrapped: VecDeque<String>,
    /// Units that skipped the last route step (route faults), oldest first.
    pub skipped: VecDeque<String>,
    /// Fraction of units that skip the last route step (fault injection).
    pub skip_fraction: f64,
    /// Whether stations with an interlock (route entry, pack) ask the MES before taking a unit in.
    pub validate: bool,
    /// How long a station waits for a validation answer, in simulated ms.
    pub validation_timeout_ms: u64,
    /// The truth about parts, for validation events: serial → `failed`/`skipped`/`unknown`.
    pub part_truth: std::collections::BTreeMap<String, &'static str>,
    /// Validation requests that ended, oldest first.
    pub validations: Vec<ValidationEvent>,
    /// The line's own units a later station's interlock refused (taken off the line), oldest
    /// first.
    pub diverted: Vec<String>,
    /// Units that left the line, held until the MES acknowledged their last record (when
    /// validating): the next line's interlock judges by what the MES has recorded.
    leaving: Vec<(usize, u32, u32, String, Leaving)>,
    /// Sequence number and epoch of the last record a PLC accepted.
    last_offer: (u32, u32),
}

/// How a unit left its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    Completed,
    Scrapped,
    Skipped,
}

/// A valid 15-digit IMEI (8-digit type allocation code, 6-digit serial, Luhn check digit) for
/// unit `index` of a run with `seed`.
pub fn imei(seed: u64, index: u64) -> String {
    let body = format!("35693803{:06}", (seed.wrapping_mul(7919).wrapping_add(index)) % 1_000_000);
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, b)| {
            let d = u32::from(b - b'0');
            if k % 2 == 0 {
                let d2 = d * 2;
                d2 / 10 + d2 % 10
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// splitmix64: decorrelates the parts of a seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3))
}

impl LineEngine {
    /// An engine for `profile`'s stations whose simulated time starts at `start`. Units get
    /// serials `<PREFIX>-0000001…`; `buffer` units fit between two stations.
    pub fn new(profile: &Profile, seed: u64, start: DateTime<Utc>, prefix: &str, buffer: usize) -> Self {
        let specs: Vec<StationSpec> =
            profile.stations.iter().map(|p| StationSpec::for_station(&profile.kind, p)).collect();
        let repair = profile.stations.iter().position(|p| p.kind == "repair");
        let route = (0..profile.stations.len()).filter(|i| Some(*i) != repair).collect();
        let mut engine = Self {
            seed,
            line: profile.line.clone(),
            prefix: prefix.to_owned(),
            start,
            profiles: profile.stations.clone(),
            specs,
            route,
            repair,
            queues: vec![VecDeque::new(); profile.stations.len()],
            buffer: buffer.max(1),
            rt: vec![Runtime::default(); profile.stations.len()],
            now_ms: 0,
            next_unit: 0,
            reel_base: 0,
            imei_base: 0,
            supply: Default::default(),
            completed: VecDeque::new(),
            scrapped: VecDeque::new(),
            skipped: VecDeque::new(),
            skip_fraction: 0.0,
            validate: false,
            validation_timeout_ms: 2_000,
            part_truth: std::collections::BTreeMap::new(),
            validations: Vec::new(),
            diverted: Vec::new(),
            leaving: Vec::new(),
            last_offer: (0, 0),
        };
        for i in 0..engine.rt.len() {
            let first = engine.break_gap(i);
            engine.rt[i].next_break_at = first;
            engine.rt[i].feeders = (0..engine.profiles[i].feeders.len())
                .map(|slot| Feeder { reel_no: 1, left: engine.reel_size(i, slot, 1), shown: false })
                .collect();
        }
        engine
    }

    /// Simulated milliseconds since start.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn rng(&self, parts: &[u64]) -> ChaCha8Rng {
        let seed = parts.iter().fold(mix(self.seed ^ hash_str(&self.line)), |acc, p| mix(acc ^ *p));
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// Boards a reel of feeder `slot` lasts (seeded per reel).
    fn reel_size(&self, i: usize, slot: usize, reel_no: u64) -> u64 {
        self.rng(&[0x2EE1, i as u64, slot as u64, reel_no]).random_range(25..60)
    }

    /// Printed id of a reel.
    fn reel_id(&self, i: usize, slot: usize, reel_no: u64) -> String {
        let n = reel_no + self.reel_base;
        format!("REEL-{}-{}-S{}-{n:05}", self.line.to_ascii_uppercase(), self.profiles[i].code, slot + 1)
    }

    /// Gives the `nth` line of its kind (from 0) a block of IMEIs of its own, 100,000 apart, so
    /// many phone lines of one seed never pack the same number twice.
    pub fn number_block(&mut self, nth: u64) {
        self.imei_base = nth * 100_000;
    }

    /// Continues a plant that already ran: unit numbers (so serials, lots and IMEIs) start after
    /// `units`, reel numbers after `reels`, so nothing of this run poses as something the
    /// earlier runs made.
    pub fn continue_after(&mut self, units: u64, reels: u64) {
        self.next_unit = units;
        self.reel_base = reels;
    }

    /// Takes one placement from every feeder of station `i` for the unit entering it. A reel
    /// that runs out is changed; half the changes (seeded) are ambiguous — the unit may carry
    /// parts of either reel — and list both reels as possible.
    fn place(&mut self, i: usize, plcs: &mut impl PlcBank) -> Vec<ConsumedRef> {
        let mut consumed = Vec::new();
        for slot in 0..self.rt[i].feeders.len() {
            let Feeder { reel_no, left, shown } = self.rt[i].feeders[slot].clone();
            let old = self.reel_id(i, slot, reel_no);
            if left == 0 {
                let ambiguous = self.rng(&[0x5911, i as u64, slot as u64, reel_no]).random_bool(0.5);
                let next = reel_no + 1;
                self.rt[i].feeders[slot] =
                    Feeder { reel_no: next, left: self.reel_size(i, slot, next) - 1, shown: true };
                let new = self.reel_id(i, slot, next);
                plcs.set_feeder(i, slot, &new);
                if ambiguous {
                    let possible = Some("possible".to_owned());
                    consumed.push(ConsumedRef {
                        kind: "reel".into(),
                        id: old,
                        certainty: possible.clone(),
                        ..Default::default()
                    });
                    consumed.push(ConsumedRef {
                        kind: "reel".into(),
                        id: new,
                        certainty: possible,
                        ..Default::default()
                    });
                } else {
                    consumed.push(ConsumedRef { kind: "reel".into(), id: new, ..Default::default() });
                }
            } else {
                self.rt[i].feeders[slot].left = left - 1;
                if !shown {
                    plcs.set_feeder(i, slot, &old); // the first reel is loaded with the first board
                    self.rt[i].feeders[slot].shown = true;
                }
                consumed.push(ConsumedRef { kind: "reel".into(), id: old, ..Default::default() });
            }
        }
        consumed
    }

    /// Time to the next breakdown of station `i` (exponential around its MTBF).
    fn break_gap(&self, i: usize) -> u64 {
        let mut rng = self.rng(&[0xB4EA, i as u64, self.rt[i].breaks]);
        let u: f64 = rng.random_range(1e-9..1.0);
        (-(u.ln()) * self.specs[i].mtbf_ms as f64) as u64
    }

    /// The validation interlock before station `i` takes its next unit in: the route-entry
    /// station asks the MES about the serialised part at the head of its supply (made on another
    /// line), a later station (pack) about the line's own unit at the head of its queue, once the
    /// MES has acknowledged that unit's last record. Returns whether the station may load now.
    /// A denied part or unit is diverted (taken off the supply or queue, never taken in);
    /// without an answer in time the station follows its fallback (block: keep waiting; allow
    /// and flag: go on).
    fn part_validated(&mut self, i: usize, t: u64, plcs: &mut impl PlcBank) -> bool {
        let Some(v) = self.profiles[i].validation.as_ref() else { return true };
        let fallback = v.fallback;
        if !self.validate {
            return true;
        }
        let entry = self.route.first() == Some(&i);
        let supply_kind = self.profiles[i].consumes.iter().find(|c| c.serialised).map(|c| c.kind.clone());
        let subject = if entry {
            let Some(kind) = &supply_kind else { return true };
            self.supply.get(kind).and_then(|q| q.front()).cloned()
        } else {
            match self.queues[i].front() {
                Some(unit) if unit.last_record.is_some_and(|(s, seq, epoch)| plcs.holds_record(s, epoch, seq)) => {
                    return false; // its last record is not acknowledged yet: the PLC waits to ask
                }
                unit => unit.map(|u| u.serial.clone()),
            }
        };
        let Some(part) = subject else { return true };
        let asked = match &self.rt[i].validating {
            Some((serial, since)) if *serial == part => *since,
            _ => {
                plcs.request_validation(i, &part);
                self.rt[i].validating = Some((part, t));
                return false;
            }
        };
        let event = |outcome: &str, reason: u16, part: &str, truth: &str| ValidationEvent {
            line: self.line.clone(),
            station: self.profiles[i].code.clone(),
            serial: part.to_owned(),
            outcome: outcome.to_owned(),
            reason,
            truth: truth.to_owned(),
        };
        let truth = self.part_truth.get(&part).copied().unwrap_or("good");
        match plcs.validation_answer(i) {
            Some((1, _)) => {
                self.validations.push(event("allow", 0, &part, truth));
                self.rt[i].validating = None;
                true
            }
            Some((_, reason)) => {
                self.validations.push(event("deny", reason, &part, truth));
                if entry {
                    if let Some(q) = supply_kind.and_then(|k| self.supply.get_mut(&k)) {
                        q.pop_front(); // diverted
                    }
                } else if let Some(unit) = self.queues[i].pop_front() {
                    self.diverted.push(unit.serial); // to the quarantine rack
                }
                self.rt[i].validating = None;
                false
            }
            None if t.saturating_sub(asked) >= self.validation_timeout_ms => match fallback {
                plc_contract::profile::Fallback::Block => false,
                plc_contract::profile::Fallback::AllowAndFlag => {
                    self.validations.push(event("timeout", 0, &part, truth));
                    self.rt[i].validating = None;
                    true
                }
            },
            None => false,
        }
    }

    /// A unit leaves the line after its record at station `i`. Without validation it is handed
    /// on at once; with it, once the MES has acknowledged that record.
    fn leave(&mut self, i: usize, serial: String, how: Leaving) {
        let (seq, epoch) = self.last_offer;
        self.leaving.push((i, seq, epoch, serial, how));
    }

    /// Hands on the units whose last record the MES has acknowledged (all of them when not
    /// validating), in the order they left.
    fn hand_on(&mut self, plcs: &impl PlcBank) {
        let validate = self.validate;
        let mut k = 0;
        while k < self.leaving.len() {
            let (i, seq, epoch, _, _) = &self.leaving[k];
            if validate && plcs.holds_record(*i, *epoch, *seq) {
                k += 1;
                continue;
            }
            let (_, _, _, serial, how) = self.leaving.remove(k);
            match how {
                Leaving::Completed => self.completed.push_back(serial),
                Leaving::Scrapped => self.scrapped.push_back(serial),
                Leaving::Skipped => self.skipped.push_back(serial),
            }
        }
    }

    /// Station `i` breaks down now (fault injection); it is repaired as any breakdown is.
    pub fn break_now(&mut self, i: usize) {
        if self.rt[i].down_until.is_none() {
            self.rt[i].next_break_at = self.now_ms;
        }
    }

    /// Line code.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// Number of stations.
    pub fn stations(&self) -> usize {
        self.rt.len()
    }

    /// Advances simulated time to `until_ms`, returning the ground truth of every record a PLC
    /// accepted, in the order they were produced.
    pub fn advance(&mut self, until_ms: u64, plcs: &mut impl PlcBank) -> Vec<StationResultLine> {
        let mut truth = Vec::new();
        while self.now_ms + TICK_MS <= until_ms {
            self.now_ms += TICK_MS;
            self.step(plcs, &mut truth);
            self.hand_on(plcs);
        }
        truth
    }

    fn step(&mut self, plcs: &mut impl PlcBank, truth: &mut Vec<StationResultLine>) {
        let t = self.now_ms;
        let mut order: Vec<usize> = self.route.iter().rev().copied().collect();
        order.extend(self.repair);
        for i in order {
            // Breakdowns come on their own clock; a unit in the station waits them out.
            if let Some(until) = self.rt[i].down_until {
                if t >= until {
                    self.rt[i].down_until = None;
                    self.rt[i].breaks += 1;
                    self.rt[i].next_break_at = t + self.break_gap(i).max(TICK_MS);
                } else {
                    self.show(i, state::FAULT, 100 + (self.rt[i].breaks % 20) as u16, plcs);
                    continue;
                }
            } else if t >= self.rt[i].next_break_at {
                let mut rng = self.rng(&[0x7EA1, i as u64, self.rt[i].breaks]);
                let repair = (rng.random_range(0.5..1.5) * self.specs[i].mttr_ms as f64) as u64;
                self.rt[i].down_until = Some(t + repair.max(TICK_MS));
                if let Some((_, done)) = &mut self.rt[i].busy {
                    *done += repair;
                }
                self.show(i, state::FAULT, 100 + (self.rt[i].breaks % 20) as u16, plcs);
                continue;
            }
            self.deliver(i);
            if let Some((_, done)) = &self.rt[i].busy
                && t >= *done
                && self.rt[i].held.is_none()
            {
                self.finish(i, plcs, truth);
            }
            if self.rt[i].busy.is_none() && self.rt[i].held.is_none() {
                self.load(i, t, plcs);
            }
            let (code, fault) = if self.rt[i].held.is_some() || self.rt[i].plc_blocked {
                (state::BLOCKED, 0)
            } else if self.rt[i].busy.is_some() {
                (state::RUNNING, 0)
            } else {
                (state::STARVED, 0)
            };
            self.show(i, code, fault, plcs);
        }
    }

    fn show(&mut self, i: usize, code: u16, fault: u16, plcs: &mut impl PlcBank) {
        if self.rt[i].shown != (code, fault) {
            self.rt[i].shown = (code, fault);
            plcs.set_state(i, code, fault);
        }
    }

    /// Moves a held unit on if there is room.
    fn deliver(&mut self, i: usize) {
        let Some((_, next)) = &self.rt[i].held else { return };
        match *next {
            Next::Out => {
                self.rt[i].held = None;
            }
            Next::Station(j) => {
                if self.queues[j].len() < self.buffer
                    && let Some((unit, _)) = self.rt[i].held.take()
                {
                    self.queues[j].push_back(unit);
                }
            }
        }
    }

    /// Takes the next unit in (the first station creates units while its supply lasts).
    fn load(&mut self, i: usize, t: u64, plcs: &mut impl PlcBank) {
        if !self.part_validated(i, t, plcs) {
            return;
        }
        let unit = if Some(&i) == self.route.first() && self.queues[i].is_empty() {
            self.new_unit()
        } else {
            self.queues[i].pop_front()
        };
        let Some(mut unit) = unit else { return };
        // Consumption happens as the unit enters; a missing serialised part starves the station.
        let mut consumed = Vec::new();
        for c in &self.profiles[i].consumes {
            let id = if c.serialised {
                match self.supply.get_mut(&c.kind).and_then(VecDeque::pop_front) {
                    Some(s) => s,
                    None => {
                        self.queues[i].push_front(unit);
                        return;
                    }
                }
            } else if c.kind == "imei" {
                // Assigned at pack: one IMEI per phone, from the line's block of numbers.
                imei(self.seed, self.imei_base + unit.index)
            } else {
                // Lots change every 50 units, in unit order. A dual-sourced part (its station
                // reports the supplier) is fed from both suppliers' bins in turn, unit by unit,
                // each supplier numbering its own lots: both print `…-L00001`.
                let second = second_source(&c.kind).filter(|_| c.supplier_tag.is_some());
                let (number, supplier) = match second {
                    Some(s) if unit.index % 2 == 0 => (unit.index / 2 / 50 + 1, s.to_owned()),
                    Some(_) => (unit.index / 2 / 50 + 1, c.supplier.clone()),
                    None => (unit.index / 50 + 1, c.supplier.clone()),
                };
                let code = format!("{}-L{number:05}", c.kind.to_ascii_uppercase().replace('_', "-"));
                let named = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                consumed.push(ConsumedRef {
                    kind: c.kind.clone(),
                    id: code,
                    part_number: named(&c.part_number),
                    supplier: named(&supplier),
                    ..Default::default()
                });
                continue;
            };
            consumed.push(ConsumedRef { kind: c.kind.clone(), id, ..Default::default() });
        }
        consumed.extend(self.place(i, plcs));
        unit.consumed[i] = consumed;
        let mut rng = self.rng(&[unit.index, i as u64, u64::from(unit.attempts[i]), 0xC1C1]);
        let cycle = (rng.random_range(0.9..1.1) * self.specs[i].cycle_ms as f64) as u64;
        self.rt[i].busy = Some((unit, t + cycle.max(TICK_MS)));
    }

    fn new_unit(&mut self) -> Option<Unit> {
        // A serialised part consumed at the first station must be there, or nothing starts.
        for c in &self.profiles[self.route[0]].consumes {
            if c.serialised && self.supply.get(&c.kind).is_none_or(VecDeque::is_empty) {
                return None;
            }
        }
        self.next_unit += 1;
        Some(Unit {
            index: self.next_unit,
            serial: format!("{}-{:07}", self.prefix, self.next_unit),
            attempts: vec![0; self.profiles.len()],
            return_to: None,
            consumed: vec![Vec::new(); self.profiles.len()],
            last_record: None,
        })
    }

    /// Decides the finished unit's result, offers its record and routes it on.
    fn finish(&mut self, i: usize, plcs: &mut impl PlcBank, truth: &mut Vec<StationResultLine>) {
        let Some((unit, done)) = &self.rt[i].busy else { return };
        let (serial, index, attempt, consumed, done) =
            (unit.serial.clone(), unit.index, unit.attempts[i], unit.consumed[i].clone(), *done);
        let spec = &self.specs[i];
        let mut rng = self.rng(&[index, i as u64, u64::from(attempt), 0xF1F1]);
        let is_repair = Some(i) == self.repair;
        let pass = is_repair || !rng.random_bool(spec.fail_prob.clamp(0.0, 1.0));
        let defect = (!pass && !spec.defects.is_empty())
            .then(|| spec.defects[rng.random_range(0..spec.defects.len())].to_owned());
        let measurements = self.profiles[i]
            .measurements
            .iter()
            .map(|m| match (m.lower, m.upper) {
                (Some(lo), Some(hi)) => ((lo + rng.random_range(0.1..0.9) * (hi - lo)) * 1000.0).round() / 1000.0,
                _ => 0.0,
            })
            .collect();
        // Shown only where the profile has a tag for it; drawn last so other draws stay as they were.
        let repair_action = (is_repair && self.profiles[i].tags.contains_key(&Role::RepairAction))
            .then(|| spec.repair_actions.get(rng.random_range(0..spec.repair_actions.len().max(1))))
            .flatten()
            .map(|a| (*a).to_owned());
        let cycle_time_ms = u32::try_from(spec.cycle_ms).unwrap_or(u32::MAX);
        let record = SimRecord {
            seq: 0,
            epoch: 0,
            serial: serial.clone(),
            pass,
            defect: defect.clone(),
            cycle_time_ms,
            program: format!("{}-v1", self.line),
            repair_action: repair_action.clone(),
            measurements,
            consumed: consumed.iter().take(self.profiles[i].consumes.len()).map(|c| c.id.clone()).collect(),
            suppliers: consumed
                .iter()
                .take(self.profiles[i].consumes.len())
                .map(|c| c.supplier.clone().unwrap_or_default())
                .collect(),
            reels: placed_reels(&consumed[self.profiles[i].consumes.len().min(consumed.len())..]),
            // The PLC's own clock, running on the wall clock the engines are locked to.
            clock: Some(chrono::Utc::now()),
        };
        let clock = record.clock;
        match plcs.offer(i, record) {
            Err(Blocked { .. }) => {
                self.rt[i].plc_blocked = true;
                return;
            }
            Ok(seq) => {
                self.rt[i].plc_blocked = false;
                self.last_offer = (seq, plcs.epoch(i));
                truth.push(StationResultLine {
                    line: self.line.clone(),
                    station: self.profiles[i].code.clone(),
                    seq: u64::from(seq),
                    serial,
                    result: if pass { "pass" } else { "fail" }.to_owned(),
                    defects: defect.into_iter().collect(),
                    consumed,
                    repair_action,
                    produced_at: self.start + Duration::milliseconds(i64::try_from(done.min(self.now_ms)).unwrap_or(0)),
                    plc_epoch: Some(plcs.epoch(i)),
                    started_at: None,
                    recorded_at: None,
                    on_hold: None,
                    plc_clock: clock,
                });
            }
        }
        let Some((mut unit, _)) = self.rt[i].busy.take() else { return };
        unit.attempts[i] += 1;
        unit.last_record = Some((i, self.last_offer.0, self.last_offer.1));
        let position = self.route.iter().position(|r| *r == i);
        let next = if is_repair {
            unit.return_to.take().map_or(Next::Out, Next::Station)
        } else if !pass {
            use plc_contract::profile::{FailDisposition, fail_disposition};
            match (fail_disposition(&self.profiles[i].kind, self.repair.is_some()), self.repair) {
                (FailDisposition::Repair, Some(r)) => {
                    unit.return_to = Some(i);
                    Next::Station(r)
                }
                _ => {
                    self.leave(i, unit.serial.clone(), Leaving::Scrapped);
                    Next::Out // scrapped
                }
            }
        } else {
            let next = position.and_then(|p| self.route.get(p + 1)).copied();
            let last = next.is_some() && position.and_then(|p| self.route.get(p + 2)).is_none();
            let skips = last
                && self.skip_fraction > 0.0
                && self.rng(&[unit.index, 0x5C1F]).random_bool(self.skip_fraction.clamp(0.0, 1.0));
            if skips {
                self.leave(i, unit.serial.clone(), Leaving::Skipped);
            }
            match next.filter(|_| !skips) {
                None if skips => Next::Out,
                Some(j) => Next::Station(j),
                None => {
                    self.leave(i, unit.serial.clone(), Leaving::Completed);
                    Next::Out
                }
            }
        };
        self.rt[i].held = Some((unit, next));
        self.deliver(i);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use chrono::TimeZone;

    use super::*;

    fn phone() -> Profile {
        Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles/phone-line.toml")).unwrap()
    }

    fn plcs(p: &Profile) -> Vec<StationPlc> {
        p.stations.iter().map(|s| StationPlc::new(usize::from(s.ring_size), 1)).collect()
    }

    /// Runs `hours` of production with an MES that acknowledges everything at once.
    fn run(seed: u64, hours: u64, boards: usize) -> Vec<StationResultLine> {
        let p = phone();
        let mut engine = LineEngine::new(&p, seed, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(), "PH1", 4);
        engine.supply.insert("pcba".into(), (1..=boards).map(|n| format!("PCB-{n:05}")).collect());
        let mut bank = plcs(&p);
        let mut truth = Vec::new();
        for minute in 1..=hours * 60 {
            truth.extend(engine.advance(minute * 60_000, &mut bank));
            for plc in &mut bank {
                while let Some(seq) = plc.presented().map(|r| r.seq) {
                    plc.acknowledge(seq);
                }
            }
        }
        truth
    }

    fn per_station(truth: &[StationResultLine]) -> BTreeMap<String, Vec<(u64, String, String)>> {
        let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for l in truth {
            out.entry(l.station.clone()).or_default().push((l.seq, l.serial.clone(), l.result.clone()));
        }
        out
    }

    #[test]
    fn the_same_seed_gives_every_station_the_same_records() {
        let a = run(7, 6, 2_000);
        let b = run(7, 6, 2_000);
        assert!(a.len() > 3_000, "six hours of a 30 s line: {} records", a.len());
        assert_eq!(per_station(&a), per_station(&b));
        assert_ne!(per_station(&a), per_station(&run(8, 6, 2_000)));
    }

    #[test]
    fn failed_units_are_repaired_and_retested_and_nothing_is_invented() {
        let truth = run(3, 8, 5_000);
        let fails: Vec<&StationResultLine> = truth.iter().filter(|l| l.result == "fail").collect();
        assert!(!fails.is_empty());
        for f in &fails {
            let later: Vec<&StationResultLine> =
                truth.iter().filter(|l| l.serial == f.serial && l.produced_at > f.produced_at).collect();
            if later.is_empty() {
                continue; // the run ended while it was in repair
            }
            assert_eq!(later[0].station, "REPAIR", "{f:?} goes to repair first");
            if let Some(retest) = later.get(1) {
                assert_eq!(retest.station, f.station, "then back to the station that failed it");
            }
        }
        // Each unit consumed exactly one board, each board once.
        let boards: Vec<&str> = truth
            .iter()
            .filter(|l| l.station == "LOAD")
            .flat_map(|l| l.consumed.iter().map(|c| c.id.as_str()))
            .collect();
        let unique: std::collections::BTreeSet<&&str> = boards.iter().collect();
        assert_eq!(boards.len(), unique.len());
        // Sequence numbers per station are 1, 2, 3… with no gap: every record reached the truth.
        for (station, records) in per_station(&truth) {
            let seqs: Vec<u64> = records.iter().map(|r| r.0).collect();
            assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{station}");
        }
    }

    #[test]
    fn an_mes_that_never_acknowledges_blocks_the_line_without_losing_a_record() {
        let p = phone();
        let mut engine = LineEngine::new(&p, 1, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(), "PH1", 2);
        engine.supply.insert("pcba".into(), (1..=500).map(|n| format!("PCB-{n:05}")).collect());
        let mut bank = plcs(&p);
        let truth = engine.advance(4 * 3_600_000, &mut bank);
        let load = p.stations.iter().position(|s| s.code == "LOAD").unwrap();
        assert!(bank[load].is_blocked(), "the first station's ring filled");
        assert_eq!(bank[load].state_code, state::BLOCKED);
        let held: usize = bank.iter().map(StationPlc::pending).sum();
        assert_eq!(held, truth.len(), "every record produced is still held by a PLC");
        assert!(truth.len() < 200, "production stopped: {}", truth.len());
    }

    #[test]
    fn imeis_have_15_digits_and_a_valid_luhn_check_digit() {
        // 490154203237518 is a published example IMEI; check our Luhn digit on its body.
        let luhn_ok = |s: &str| {
            let sum: u32 = s
                .bytes()
                .rev()
                .enumerate()
                .map(|(k, b)| {
                    let d = u32::from(b - b'0');
                    if k % 2 == 1 { (d * 2) / 10 + (d * 2) % 10 } else { d }
                })
                .sum();
            sum.is_multiple_of(10)
        };
        assert!(luhn_ok("490154203237518"));
        for i in 0..200 {
            let n = imei(7, i);
            assert_eq!(n.len(), 15);
            assert!(luhn_ok(&n), "{n}");
        }
        assert_ne!(imei(7, 1), imei(7, 2));
    }

    #[test]
    fn every_text_the_simulated_plcs_write_fits_its_register_tag() {
        // A PLC truncates a string that does not fit its registers; then the MES would record
        // something other than what happened. The bundled profiles must leave room.
        for name in ["smt-line.toml", "phone-line.toml"] {
            let p = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles").join(name)).unwrap();
            let engine = LineEngine::new(&p, 5, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(), "PCB", 4);
            for (k, station) in p.stations.iter().enumerate() {
                let room = |role: Role| station.tags.get(&role).map_or(usize::MAX, |t| usize::from(t.length) * 2);
                let spec = StationSpec::for_station(&p.kind, station);
                for code in &spec.defects {
                    assert!(code.len() <= room(Role::Defect), "{name} {}: defect {code}", station.code);
                }
                for code in &spec.repair_actions {
                    assert!(code.len() <= room(Role::RepairAction), "{name} {}: repair action {code}", station.code);
                }
                for c in &station.consumes {
                    if let Some(tag) = &c.supplier_tag {
                        for supplier in [Some(c.supplier.as_str()), second_source(&c.kind)].into_iter().flatten() {
                            assert!(
                                supplier.len() <= usize::from(tag.length) * 2,
                                "{name} {}: {supplier}",
                                station.code
                            );
                        }
                    }
                }
                assert!("PCB-0000000".len() <= room(Role::Serial));
                for (slot, f) in station.feeders.iter().enumerate() {
                    let reel = engine.reel_id(k, slot, 99_999);
                    for tag in [Some(&f.reel), f.placed.as_ref(), f.spliced.as_ref()].into_iter().flatten() {
                        assert!(reel.len() <= usize::from(tag.length) * 2, "{name} {}: reel {reel}", station.code);
                    }
                }
            }
        }
    }

    #[test]
    fn reels_run_out_and_ambiguous_changes_list_both_reels_as_possible() {
        let smt = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles/smt-line.toml")).unwrap();
        let mut engine = LineEngine::new(&smt, 5, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(), "PCB", 4);
        let mut bank = plcs(&smt);
        let mut truth = Vec::new();
        for minute in 1..=8 * 60 {
            truth.extend(engine.advance(minute * 60_000, &mut bank));
            for plc in &mut bank {
                while let Some(seq) = plc.presented().map(|r| r.seq) {
                    plc.acknowledge(seq);
                }
            }
        }
        let pnp: Vec<&StationResultLine> = truth.iter().filter(|l| l.station == "PNP").collect();
        assert!(pnp.len() > 500, "{} boards placed", pnp.len());
        let mut per_reel: BTreeMap<&str, usize> = BTreeMap::new();
        let mut ambiguous = 0;
        for board in &pnp {
            let reels: Vec<&ConsumedRef> = board.consumed.iter().filter(|c| c.kind == "reel").collect();
            let possible = reels.iter().filter(|c| c.certainty.as_deref() == Some("possible")).count();
            assert!(possible == 0 || possible % 2 == 0, "possible reels come in pairs: {reels:?}");
            assert_eq!(reels.len() - possible / 2, 4, "one reel (or one ambiguous pair) per feeder: {reels:?}");
            ambiguous += possible / 2;
            for r in reels {
                *per_reel.entry(r.id.as_str()).or_default() += 1;
            }
        }
        assert!(ambiguous > 0, "some changes are ambiguous");
        assert!(per_reel.len() > 40, "reels ran out and were changed: {}", per_reel.len());
        assert!(per_reel.values().all(|n| *n <= 60), "no reel feeds more boards than it holds");
        let pnp_index = smt.stations.iter().position(|s| s.code == "PNP").unwrap();
        let loaded = &bank[pnp_index].feeder_reels;
        assert_eq!(loaded.len(), 4);
        assert!(
            loaded.iter().all(|r| per_reel.contains_key(r.as_str())),
            "feeder registers show reels in use: {loaded:?}"
        );
    }

    #[test]
    fn a_station_without_boards_is_starved() {
        let p = phone();
        let mut engine = LineEngine::new(&p, 1, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(), "PH1", 2);
        let mut bank = plcs(&p);
        assert!(engine.advance(600_000, &mut bank).is_empty());
        assert!(bank.iter().all(|plc| plc.state_code == state::STARVED || plc.state_code == state::FAULT));
    }
}
