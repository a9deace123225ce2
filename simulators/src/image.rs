//! The register image of a Modbus line: every station PLC rendered into the registers its
//! profile names, through the shared codecs, and acknowledgements written by the MES fed back
//! to the PLC. No sockets here; `modbus.rs` serves this image.

use std::collections::BTreeMap;

use plc_contract::codec::{DataType, TagValue, decode, encode};
use plc_contract::profile::{Address, Profile, RegisterSpace, Role, StationProfile, Tag};

use crate::plc::{Counter, StationPlc};

/// Registers and bits of one Modbus unit id, sized to the highest address its profile uses.
#[derive(Debug, Clone, Default)]
pub struct UnitMemory {
    /// Holding registers (`hr:`).
    pub holding: Vec<u16>,
    /// Input registers (`ir:`).
    pub input: Vec<u16>,
    /// Coils (`co:`).
    pub coils: Vec<bool>,
    /// Discrete inputs (`di:`).
    pub discrete: Vec<bool>,
}

/// One station: its profile, its PLC, its unit id.
#[derive(Debug, Clone)]
pub struct SimStation {
    /// What the profile says about it.
    pub profile: StationProfile,
    /// Its PLC.
    pub plc: StationPlc,
    /// The last value the MES wrote to each of its tags (by address): what a register or
    /// variable the MES owns reads back as.
    pub written: std::collections::HashMap<Address, i64>,
    /// The zone its clock keeps (the profile's `clock_zone`).
    pub clock_zone: chrono_tz::Tz,
}

impl SimStation {
    /// The MES wrote `value` to `tag`: acknowledgements and validation answers reach the PLC;
    /// writes to anything else are ignored (the PLC owns it). Returns whether a handshake or
    /// answer tag was written.
    pub fn mes_wrote(&mut self, tag: &Tag, value: i64) -> bool {
        self.written.insert(tag.address.clone(), value);
        let plc = &mut self.plc;
        let role = self.profile.tags.iter().find(|(_, t)| *t == tag).map(|(r, _)| *r);
        match role {
            Some(Role::RecordAck) => _ = plc.acknowledge(u32::try_from(value).unwrap_or(0)),
            Some(Role::RecordReady) => _ = plc.ready_written(value != 0),
            Some(Role::RecordAckFlag) => _ = plc.ack_flag_written(value != 0),
            _ => {
                let Some(v) = &self.profile.validation else { return false };
                if tag == &v.answer_seq {
                    plc.validation.answer_seq = u32::try_from(value).unwrap_or(0);
                } else if tag == &v.verdict {
                    plc.validation.verdict = u16::try_from(value).unwrap_or(0);
                } else if tag == &v.reason {
                    plc.validation.reason = u16::try_from(value).unwrap_or(0);
                } else {
                    return false;
                }
            }
        }
        true
    }

    /// Every PLC-owned tag of the station with the value the PLC shows now: what the Modbus
    /// front renders into registers and the OPC UA front answers reads with.
    pub fn values(&self) -> Vec<(&Tag, TagValue)> {
        let station = self;
        let plc = &station.plc;
        let record = plc.presented();
        let mut writes: Vec<(&Tag, TagValue)> = Vec::new();
        for (role, tag) in &station.profile.tags {
            let width = 16 * u32::from(tag.data_type.registers(0));
            let value = match role {
                Role::State => TagValue::Int(i64::from(plc.state_code)),
                Role::FaultCode => TagValue::Int(i64::from(plc.fault_code)),
                Role::CountIn => TagValue::Int(counter(plc, Counter::In, width)),
                Role::CountGood => TagValue::Int(counter(plc, Counter::Good, width)),
                Role::CountReject => TagValue::Int(counter(plc, Counter::Reject, width)),
                Role::Epoch => TagValue::Int(i64::from(plc.shown_epoch())),
                Role::RecordSeq => TagValue::Int(i64::from(plc.shown_seq())),
                // Written by the MES; the PLC never overwrites it.
                Role::RecordAck => continue,
                // Raised by the PLC, cleared by the MES (ready flag) or by the PLC (ready/ack).
                Role::RecordReady => TagValue::Int(i64::from(plc.ready_flag())),
                // Set by the MES, cleared by the PLC once it has taken the acknowledgement.
                Role::RecordAckFlag => TagValue::Int(0),
                Role::Serial => TagValue::Text(record.map(|r| r.serial.clone()).unwrap_or_default()),
                Role::Result => TagValue::Int(record.map_or(0, |r| if r.pass { 1 } else { 2 })),
                Role::Defect => TagValue::Text(record.and_then(|r| r.defect.clone()).unwrap_or_default()),
                Role::CycleTime => TagValue::Int(i64::from(record.map_or(0, |r| r.cycle_time_ms))),
                Role::Program => TagValue::Text(record.map(|r| r.program.clone()).unwrap_or_default()),
                Role::RepairAction => TagValue::Text(record.and_then(|r| r.repair_action.clone()).unwrap_or_default()),
                Role::ProducedAt => match record.and_then(|r| r.clock) {
                    Some(at) => plc_contract::clock::to_tag(at, station.clock_zone, tag.data_type),
                    None => plc_contract::clock::to_tag(chrono::DateTime::UNIX_EPOCH, chrono_tz::UTC, tag.data_type),
                },
            };
            writes.push((tag, value));
        }
        for (k, m) in station.profile.measurements.iter().enumerate() {
            let v = record.and_then(|r| r.measurements.get(k).copied()).unwrap_or(0.0);
            let raw = (v - m.tag.offset) / m.tag.scale;
            let value = match m.tag.data_type {
                DataType::F32 | DataType::F64 => TagValue::Float(raw),
                _ => TagValue::Int(raw.round() as i64),
            };
            writes.push((&m.tag, value));
        }
        for (k, c) in station.profile.consumes.iter().enumerate() {
            writes.push((&c.tag, TagValue::Text(record.and_then(|r| r.consumed.get(k).cloned()).unwrap_or_default())));
            if let Some(tag) = &c.supplier_tag {
                writes
                    .push((tag, TagValue::Text(record.and_then(|r| r.suppliers.get(k).cloned()).unwrap_or_default())));
            }
        }
        for (k, f) in station.profile.feeders.iter().enumerate() {
            writes.push((&f.reel, TagValue::Text(plc.feeder_reels.get(k).cloned().unwrap_or_default())));
            let placed = record.and_then(|r| r.reels.get(k));
            if let Some(tag) = &f.placed {
                writes.push((tag, TagValue::Text(placed.map(|p| p.0.clone()).unwrap_or_default())));
            }
            if let Some(tag) = &f.spliced {
                writes.push((tag, TagValue::Text(placed.and_then(|p| p.1.clone()).unwrap_or_default())));
            }
        }
        if let Some(v) = &station.profile.validation {
            writes.push((&v.request_seq, TagValue::Int(i64::from(plc.validation.request_seq))));
            writes.push((&v.serial, TagValue::Text(plc.validation.serial.clone())));
        }
        writes
    }
}

/// A Modbus line's stations and their registers.
#[derive(Debug, Clone)]
pub struct LineImage {
    /// Stations in profile order.
    pub stations: Vec<SimStation>,
    /// Memory by unit id.
    pub units: BTreeMap<u8, UnitMemory>,
    /// Load mode: how many extra analog tags the line exposes (`--extra-tags`).
    pub load_tags: usize,
    /// Simulated time the load tags show.
    pub load_time_ms: u64,
}

/// Locks a shared line image; a panic elsewhere never makes the simulated PLCs unreachable.
pub fn lock(image: &std::sync::Mutex<LineImage>) -> std::sync::MutexGuard<'_, LineImage> {
    image.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Modbus unit id of the load-mode tags: input registers 0.., one f32 (two registers) per tag.
pub const LOAD_UNIT: u8 = 250;

impl LineImage {
    /// Adds `n` changing analog tags (load mode, for acquisition benchmarks).
    pub fn add_load_tags(&mut self, n: usize) {
        self.load_tags = n;
        if n > 0 {
            let memory = self.units.entry(LOAD_UNIT).or_default();
            memory.input.resize((2 * n).min(65_536), 0);
        }
        self.update_load(0);
    }

    /// Value of load tag `k` at the current load time: a slow sine, distinct per tag.
    pub fn load_value(&self, k: usize) -> f32 {
        let t = self.load_time_ms as f64 / 1000.0;
        (100.0 + 10.0 * (t / 7.0 + k as f64).sin()) as f32
    }

    /// Moves the load tags to simulated time `ms` (and re-renders their registers).
    pub fn update_load(&mut self, ms: u64) {
        self.load_time_ms = ms;
        if self.load_tags == 0 {
            return;
        }
        let values: Vec<f32> = (0..self.load_tags).map(|k| self.load_value(k)).collect();
        if let Some(memory) = self.units.get_mut(&LOAD_UNIT) {
            for (k, v) in values.into_iter().enumerate() {
                let bits = v.to_bits();
                if let Some(pair) = memory.input.get_mut(2 * k..2 * k + 2) {
                    pair.copy_from_slice(&[(bits >> 16) as u16, bits as u16]);
                }
            }
        }
    }
}

/// Why an image could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The profile is not a Modbus profile.
    #[error("line {line} is not served over Modbus TCP")]
    NotModbus {
        /// Line code.
        line: String,
    },
}

fn modbus(tag: &Tag) -> Option<(RegisterSpace, u16)> {
    match tag.address {
        Address::Modbus { space, index } => Some((space, index)),
        Address::OpcUa(_) => None,
    }
}

impl LineImage {
    /// An image of the profile's stations, each PLC booted in `epoch`; Modbus lines get the
    /// register memory their profile addresses.
    pub fn new(profile: &Profile, epoch: u32) -> Result<Self, ImageError> {
        let mut units: BTreeMap<u8, UnitMemory> = BTreeMap::new();
        let mut stations = Vec::new();
        let is_modbus = matches!(profile.endpoint, plc_contract::profile::Endpoint::ModbusTcp { .. });
        for p in &profile.stations {
            let mut plc = StationPlc::with_handshake(p.handshake, usize::from(p.ring_size), epoch);
            plc.feeder_reels = vec![String::new(); p.feeders.len()];
            stations.push(SimStation {
                profile: p.clone(),
                plc,
                written: Default::default(),
                clock_zone: profile.clock_zone,
            });
            if !is_modbus {
                // OPC UA stations have no registers: the front reads `SimStation::values`.
                continue;
            }
            let unit = p.unit_id.ok_or_else(|| ImageError::NotModbus { line: profile.line.clone() })?;
            let memory = units.entry(unit).or_default();
            for tag in p.all_tags() {
                let (space, index) = modbus(tag).ok_or_else(|| ImageError::NotModbus { line: profile.line.clone() })?;
                let end = usize::from(index) + usize::from(tag.data_type.registers(tag.length));
                match space {
                    RegisterSpace::HoldingRegister => memory.holding.resize(memory.holding.len().max(end), 0),
                    RegisterSpace::InputRegister => memory.input.resize(memory.input.len().max(end), 0),
                    RegisterSpace::Coil => memory.coils.resize(memory.coils.len().max(end), false),
                    RegisterSpace::DiscreteInput => memory.discrete.resize(memory.discrete.len().max(end), false),
                }
            }
        }
        let mut image = Self { stations, units, load_tags: 0, load_time_ms: 0 };
        for i in 0..image.stations.len() {
            image.render(i);
        }
        Ok(image)
    }

    /// Index of a station by code.
    pub fn station(&self, code: &str) -> Option<usize> {
        self.stations.iter().position(|s| s.profile.code == code)
    }

    /// Writes station `i`'s PLC state into its registers (Modbus lines; OPC UA lines read
    /// [`SimStation::values`] on demand).
    pub fn render(&mut self, i: usize) {
        let station = &self.stations[i];
        let writes = station.values();
        let unit = station.profile.unit_id.unwrap_or(0);
        let mut encoded = Vec::new();
        for (tag, value) in writes {
            // A value that does not fit its tag (an over-long serial) is written truncated to
            // the tag, as a real PLC's fixed-size string would be; numbers always fit.
            let regs =
                encode(&value, tag.data_type, tag.length, tag.byte_order, tag.word_order).or_else(|_| match &value {
                    TagValue::Text(t) => {
                        let cut: String = t.chars().filter(char::is_ascii).take(usize::from(tag.length) * 2).collect();
                        encode(&TagValue::Text(cut), tag.data_type, tag.length, tag.byte_order, tag.word_order)
                    }
                    _ => Ok(vec![0; usize::from(tag.data_type.registers(tag.length))]),
                });
            if let (Ok(regs), Some((space, index))) = (regs, modbus(tag)) {
                encoded.push((space, index, regs));
            }
        }
        if let Some(memory) = self.units.get_mut(&unit) {
            for (space, index, regs) in encoded {
                let start = usize::from(index);
                match space {
                    RegisterSpace::HoldingRegister => memory.holding[start..start + regs.len()].copy_from_slice(&regs),
                    RegisterSpace::InputRegister => memory.input[start..start + regs.len()].copy_from_slice(&regs),
                    RegisterSpace::Coil => memory.coils[start] = regs[0] != 0,
                    RegisterSpace::DiscreteInput => memory.discrete[start] = regs[0] != 0,
                }
            }
        }
    }

    /// Restarts station `i`'s PLC into `epoch`. Its handshake words start from zero, as a
    /// PLC initialises them at boot (the MES-written acknowledgement included).
    pub fn restart(&mut self, i: usize, epoch: u32) {
        self.stations[i].plc.restart(epoch);
        self.stations[i].written.clear();
        if let Some(tag) = self.stations[i].profile.tags.get(&Role::RecordAck).cloned()
            && let (Some((space, index)), Some(unit)) = (modbus(&tag), self.stations[i].profile.unit_id)
            && let Some(memory) = self.units.get_mut(&unit)
            && space == RegisterSpace::HoldingRegister
        {
            let start = usize::from(index);
            let end = start + usize::from(tag.data_type.registers(tag.length));
            memory.holding[start..end].fill(0);
        }
        self.render(i);
    }

    /// After the MES wrote `len` registers or coils of `space` from `start` on `unit`: feeds
    /// what it touched to the station PLCs (sequence ack, ready flag, ack flag, validation
    /// answer), then re-renders them so PLC-owned registers show the PLC's reaction.
    pub fn after_write(&mut self, unit: u8, space: RegisterSpace, start: u16, len: u16) {
        let written = u32::from(start)..u32::from(start) + u32::from(len);
        for i in 0..self.stations.len() {
            if self.stations[i].profile.unit_id != Some(unit) {
                continue;
            }
            let profile = self.stations[i].profile.clone();
            let touched = |tag: &Tag| match tag.address {
                Address::Modbus { space: s, index } if s == space => {
                    let end = u32::from(index) + u32::from(tag.data_type.registers(tag.length));
                    u32::from(index) < written.end && written.start < end
                }
                _ => false,
            };
            let int = |image: &Self, tag: &Tag| match image.read_tag(unit, tag) {
                Some(TagValue::Int(v)) => v,
                Some(TagValue::Bool(b)) => i64::from(b),
                _ => 0,
            };
            let mut any = false;
            for tag in profile.all_tags() {
                if touched(tag) {
                    let value = int(self, tag);
                    any |= self.stations[i].mes_wrote(tag, value);
                }
            }
            if any {
                self.render(i);
            }
        }
    }

    /// Decodes a tag from the memory of `unit`.
    pub fn read_tag(&self, unit: u8, tag: &Tag) -> Option<TagValue> {
        let (space, index) = modbus(tag)?;
        let memory = self.units.get(&unit)?;
        let start = usize::from(index);
        let n = usize::from(tag.data_type.registers(tag.length));
        let regs: Vec<u16> = match space {
            RegisterSpace::HoldingRegister => memory.holding.get(start..start + n)?.to_vec(),
            RegisterSpace::InputRegister => memory.input.get(start..start + n)?.to_vec(),
            RegisterSpace::Coil => vec![u16::from(*memory.coils.get(start)?)],
            RegisterSpace::DiscreteInput => vec![u16::from(*memory.discrete.get(start)?)],
        };
        decode(&regs, tag.data_type, tag.length, tag.byte_order, tag.word_order).ok()
    }
}

fn counter(plc: &StationPlc, which: Counter, width: u32) -> i64 {
    i64::try_from(plc.counter(which, width)).unwrap_or(0)
}
