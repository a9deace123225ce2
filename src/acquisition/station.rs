//! A station's tags grouped by when they are read (handshake and state every poll, counters and
//! feeder loads by scan class, record fields when a record waits) and the decoding of what was
//! read into domain values: the handshake view, the state, and the unit record itself.

use chrono::{DateTime, Utc};
use plc_contract::codec::TagValue;
use plc_contract::profile::{Role, StationProfile, Tag};

use super::driver::TagResult;
use super::handshake::HandshakeView;
use crate::domain::record::{
    Certainty, ConsumedItem, Consumption, Defect, Measurement, RecordKey, UnitRecord, Verdict,
};
use crate::domain::{
    DefectCode, LineId, LotId, Material, PlcEpoch, RecordSeq, RepairActionCode, SerialNumber, StationId,
};

/// Roles read on every poll: the handshake and the state.
const STATUS_ROLES: [Role; 7] = [
    Role::State,
    Role::FaultCode,
    Role::Epoch,
    Role::RecordSeq,
    Role::RecordAck,
    Role::RecordReady,
    Role::RecordAckFlag,
];
/// Roles of the record itself.
const RECORD_ROLES: [Role; 7] =
    [Role::Serial, Role::Result, Role::Defect, Role::CycleTime, Role::Program, Role::RepairAction, Role::ProducedAt];

/// How far before its read a PLC clock may date a record (a ring of records is read within
/// minutes, after hours of outage at worst) and how far after (clocks drift): outside this the
/// PLC clock is taken for unset or wrong and the read time stands, with a note.
const CLOCK_BEFORE: chrono::Duration = chrono::Duration::days(7);
const CLOCK_AFTER: chrono::Duration = chrono::Duration::minutes(5);
/// Counter roles with their kind.
pub const COUNTER_ROLES: [Role; 3] = [Role::CountIn, Role::CountGood, Role::CountReject];

/// Why a presented record cannot be stored. The record stays unacknowledged in the PLC (the
/// station blocks when its ring fills) until it reads well: nothing is lost or guessed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{station}: record {field}: {problem}")]
pub struct RecordError {
    /// Station code.
    pub station: String,
    /// The field (tag role or `measurements[2]`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

/// What one poll of the status tags showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Handshake tags.
    pub handshake: HandshakeView,
    /// State word, if it read well.
    pub state: Option<u16>,
    /// Fault code (0 none).
    pub fault: u16,
    /// Validation interlock: the request number the PLC raised and the one last answered.
    pub validation: Option<(u32, u32)>,
}

/// Values read from a station by tag, in the order of a tag list.
pub struct Values<'a> {
    tags: Vec<&'a Tag>,
    values: Vec<TagResult>,
}

impl<'a> Values<'a> {
    /// Pairs the tags read with the driver's results.
    pub fn new(tags: Vec<&'a Tag>, values: Vec<TagResult>) -> Self {
        Self { tags, values }
    }

    /// The value of `tag`, if it was read and decoded.
    pub fn get(&self, tag: &Tag) -> Option<&TagResult> {
        self.tags.iter().position(|t| std::ptr::eq(*t, tag)).and_then(|k| self.values.get(k))
    }

    fn int(&self, tag: Option<&Tag>) -> Option<i64> {
        match self.get(tag?)? {
            Ok(TagValue::Int(v)) => Some(*v),
            Ok(TagValue::Bool(b)) => Some(i64::from(*b)),
            _ => None,
        }
    }
}

/// A station's profile with its tags grouped for polling. The tags read on every poll are
/// copied out of the profile once, in a fixed order, so a poll lists and decodes them without a
/// lookup per role (it happens for every station on every tick).
#[derive(Debug, Clone)]
pub struct StationMap {
    /// The profile.
    pub profile: StationProfile,
    /// The zone the station PLC's clock keeps (its `produced_at` tag).
    pub clock_zone: chrono_tz::Tz,
    /// Status tags: those of [`STATUS_ROLES`] the profile has, then the validation request and
    /// answer.
    status: Vec<Tag>,
    /// Where each of [`STATUS_ROLES`] sits in `status`.
    status_at: [Option<usize>; STATUS_ROLES.len()],
    /// Where the validation request and answer sit in `status`.
    validation_at: Option<(usize, usize)>,
    /// Counter tags with their role and register width in bits.
    counters: Vec<(Role, Tag, u8)>,
}

impl StationMap {
    /// Groups `profile`'s tags; the PLC's clock keeps `clock_zone`.
    pub fn new(profile: StationProfile, clock_zone: chrono_tz::Tz) -> Self {
        let mut status = Vec::new();
        let mut status_at = [None; STATUS_ROLES.len()];
        for (at, role) in status_at.iter_mut().zip(STATUS_ROLES) {
            if let Some(t) = profile.tags.get(&role) {
                *at = Some(status.len());
                status.push(t.clone());
            }
        }
        let validation_at = profile.validation.as_ref().map(|v| {
            status.extend([v.request_seq.clone(), v.answer_seq.clone()]);
            (status.len() - 2, status.len() - 1)
        });
        let counters = COUNTER_ROLES
            .iter()
            .filter_map(|r| {
                let t = profile.tags.get(r)?;
                Some((*r, t.clone(), if t.data_type.registers(0) >= 2 { 32 } else { 16 }))
            })
            .collect();
        Self { profile, clock_zone, status, status_at, validation_at, counters }
    }

    fn role(&self, role: Role) -> Option<&Tag> {
        self.profile.tags.get(&role)
    }

    /// The status tag of `role` (one of [`STATUS_ROLES`]), as listed by [`Self::status_tags`].
    fn status_tag(&self, role: Role) -> Option<&Tag> {
        let k = STATUS_ROLES.iter().position(|r| *r == role)?;
        self.status.get(self.status_at[k]?)
    }

    /// Tags read on every poll: handshake, state, and the validation request and answer.
    pub fn status_tags(&self) -> impl ExactSizeIterator<Item = &Tag> {
        self.status.iter()
    }

    /// Counter tags with their role and register width in bits.
    pub fn counter_tags(&self) -> &[(Role, Tag, u8)] {
        &self.counters
    }

    /// Tags a poll may read whatever its due classes: status and counters.
    pub fn periodic_tags(&self) -> impl Iterator<Item = &Tag> {
        self.status_tags().chain(self.counters.iter().map(|(_, t, _)| t))
    }

    /// Tags of the record presented by the handshake (with the status tags, so the record and
    /// the key it is stored under come from the same read).
    pub fn record_tags(&self) -> Vec<&Tag> {
        let p = &self.profile;
        let mut tags: Vec<&Tag> = self.status_tags().collect();
        tags.extend(RECORD_ROLES.iter().filter_map(|r| self.role(*r)));
        tags.extend(p.measurements.iter().map(|m| &m.tag));
        tags.extend(p.consumes.iter().flat_map(|c| std::iter::once(&c.tag).chain(&c.supplier_tag)));
        for f in &p.feeders {
            tags.extend(f.placed.iter().chain(&f.spliced));
        }
        tags
    }

    /// Decodes the status tags.
    pub fn status(&self, values: &Values<'_>) -> Status {
        let int = |role| values.int(self.status_tag(role));
        let u32_of = |role| int(role).and_then(|v| u32::try_from(v).ok());
        let at = |k: usize| self.status.get(k);
        Status {
            handshake: HandshakeView {
                epoch: u32_of(Role::Epoch).unwrap_or(0),
                seq: u32_of(Role::RecordSeq),
                ack: u32_of(Role::RecordAck),
                ready: int(Role::RecordReady).map(|v| v != 0),
                ack_flag: int(Role::RecordAckFlag).map(|v| v != 0),
            },
            state: int(Role::State).and_then(|v| u16::try_from(v).ok()),
            fault: int(Role::FaultCode).and_then(|v| u16::try_from(v).ok()).unwrap_or(0),
            validation: self.validation_at.and_then(|(request, answer)| {
                let request = u32::try_from(values.int(at(request))?).ok()?;
                let answered = u32::try_from(values.int(at(answer))?).ok()?;
                Some((request, answered))
            }),
        }
    }

    /// Decodes the presented record, stored under `key`, read at `read_at`. Its production time
    /// is the PLC's own clock where the profile names a `produced_at` tag (the read time can be
    /// minutes later, after an outage), else the read time; a PLC clock that cannot be right
    /// (unset, or days off) leaves the read time in place and is returned as a note.
    pub fn record(
        &self,
        values: &Values<'_>,
        key: RecordKey,
        read_at: DateTime<Utc>,
    ) -> Result<(UnitRecord, Option<String>), RecordError> {
        let code = &self.profile.code;
        let fail = |field: &str, problem: String| RecordError { station: code.clone(), field: field.into(), problem };
        let text = |tag: Option<&Tag>, field: &str| -> Result<Option<String>, RecordError> {
            match tag.map(|t| values.get(t)) {
                None => Ok(None),
                Some(Some(Ok(TagValue::Text(t)))) => Ok(Some(t.clone())),
                Some(Some(Ok(other))) => Err(fail(field, format!("expected text, read {other:?}"))),
                Some(Some(Err(e))) => Err(fail(field, e.to_string())),
                Some(None) => Err(fail(field, "not read".into())),
            }
        };
        let serial_text = text(self.role(Role::Serial), "serial")?.unwrap_or_default();
        let serial =
            SerialNumber::parse(serial_text.clone()).map_err(|e| fail("serial", format!("{serial_text:?}: {e}")))?;
        let verdict = match values.int(self.role(Role::Result)) {
            Some(1) => Verdict::Pass,
            Some(2) => Verdict::Fail,
            other => return Err(fail("result", format!("{other:?} is neither 1 (pass) nor 2 (fail)"))),
        };
        let mut record = UnitRecord::new(key, serial, verdict, read_at);
        let mut note = None;
        if let Some(tag) = self.role(Role::ProducedAt) {
            let clock = match values.get(tag) {
                Some(Ok(v)) => plc_contract::clock::from_tag(v, self.clock_zone),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("not read".into()),
            };
            match clock {
                Ok(at) if at >= read_at - CLOCK_BEFORE && at <= read_at + CLOCK_AFTER => record.ended_at = at,
                Ok(at) => {
                    note = Some(format!(
                        "produced_at: the PLC clock says {at}, {} min from the read time {read_at}: the read time is stored",
                        (at - read_at).num_minutes()
                    ))
                }
                Err(e) => note = Some(format!("produced_at: {e}: the read time is stored")),
            }
        }
        if let Some(d) = text(self.role(Role::Defect), "defect")?.filter(|d| !d.is_empty()) {
            let code = DefectCode::parse(d.clone()).map_err(|e| fail("defect", format!("{d:?}: {e}")))?;
            record.defects.push(Defect { code, ref_designator: None });
        }
        record.cycle_time_ms = values.int(self.role(Role::CycleTime)).and_then(|v| u32::try_from(v).ok());
        record.program = text(self.role(Role::Program), "program")?.filter(|p| !p.is_empty());
        if let Some(a) = text(self.role(Role::RepairAction), "repair_action")?.filter(|a| !a.is_empty()) {
            let code = RepairActionCode::parse(a.clone()).map_err(|e| fail("repair_action", format!("{a:?}: {e}")))?;
            record.repair_action = Some(code);
        }
        for (k, m) in self.profile.measurements.iter().enumerate() {
            let field = format!("measurements[{k}] ({})", m.name);
            let raw = match values.get(&m.tag) {
                Some(Ok(TagValue::Float(f))) => *f,
                Some(Ok(TagValue::Int(i))) => *i as f64,
                Some(Ok(other)) => return Err(fail(&field, format!("expected a number, read {other:?}"))),
                Some(Err(e)) => return Err(fail(&field, e.to_string())),
                None => return Err(fail(&field, "not read".into())),
            };
            let value = raw * m.tag.scale + m.tag.offset;
            if !value.is_finite() {
                return Err(fail(&field, format!("{value} is not a finite number")));
            }
            record.measurements.push(Measurement {
                name: m.name.clone(),
                value,
                unit: m.unit.clone(),
                lower_limit: m.lower,
                upper_limit: m.upper,
            });
        }
        for (k, c) in self.profile.consumes.iter().enumerate() {
            let field = format!("consumes[{k}] ({})", c.kind);
            let Some(id) = text(Some(&c.tag), &field)?.filter(|t| !t.is_empty()) else { continue };
            let item = if c.serialised {
                ConsumedItem::Serial(SerialNumber::parse(id.clone()).map_err(|e| fail(&field, format!("{id:?}: {e}")))?)
            } else {
                // A dual-sourced station says whose lot the unit got; else the profile's supplier.
                let reported = text(c.supplier_tag.as_ref(), &format!("{field}.supplier_tag"))?;
                let supplier = reported.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| c.supplier.clone());
                let material =
                    Material::new(&c.part_number, supplier.trim()).map_err(|e| fail(&field, e.to_string()))?;
                ConsumedItem::Lot(
                    LotId::parse(id.clone()).map_err(|e| fail(&field, format!("{id:?}: {e}")))?.of(material),
                )
            };
            record.consumed.push(Consumption {
                kind: c.kind.clone(),
                item,
                ref_designator: None,
                certainty: Certainty::Certain,
            });
        }
        for (k, f) in self.profile.feeders.iter().enumerate() {
            let field = format!("feeders[{k}]");
            let lot = |id: String| LotId::parse(id.clone()).map_err(|e| fail(&field, format!("{id:?}: {e}")));
            let Some(placed) = text(f.placed.as_ref(), &field)?.filter(|t| !t.is_empty()) else { continue };
            let spliced = text(f.spliced.as_ref(), &field)?.filter(|t| !t.is_empty());
            let reel = |id: LotId, certainty| Consumption {
                kind: "reel".into(),
                item: ConsumedItem::Lot(id),
                ref_designator: Some(f.ref_designators.clone()),
                certainty,
            };
            match spliced {
                // Across a splice the unit may carry parts of either reel: both are possible.
                Some(old) => {
                    record.consumed.push(reel(lot(old)?, Certainty::Possible));
                    record.consumed.push(reel(lot(placed)?, Certainty::Possible));
                }
                None => record.consumed.push(reel(lot(placed)?, Certainty::Certain)),
            }
        }
        let problems = record.problems();
        if let Some(p) = problems.first() {
            return Err(fail("record", p.to_string()));
        }
        Ok((record, note))
    }

    /// Station identity for records.
    pub fn key(&self, line: &LineId, station: &StationId, epoch: u32, seq: u32) -> RecordKey {
        RecordKey {
            line: line.clone(),
            station: station.clone(),
            epoch: PlcEpoch(epoch),
            seq: RecordSeq(u64::from(seq)),
        }
    }
}

/// The scan classes a line's polls follow: those of the tags read on every poll (status and
/// handshake) and of the counters, with their periods. Record tags are read when a record
/// waits, whatever their class. The collector schedules its polls by these, and the
/// acquisition benchmark's raw loop reads at the fastest of them.
pub fn polled_classes<'a>(
    scan_classes: &std::collections::BTreeMap<String, std::time::Duration>,
    maps: impl IntoIterator<Item = &'a StationMap>,
) -> std::collections::BTreeMap<String, std::time::Duration> {
    let mut classes = std::collections::BTreeMap::new();
    for tag in maps.into_iter().flat_map(StationMap::periodic_tags) {
        if let Some(period) = scan_classes.get(&tag.scan) {
            classes.insert(tag.scan.clone(), *period);
        }
    }
    if classes.is_empty() {
        // A profile without status tags still polls at its fastest class.
        if let Some((name, period)) = scan_classes.iter().min_by_key(|(_, p)| **p) {
            classes.insert(name.clone(), *period);
        }
    }
    classes
}

/// A fingerprint of a record's content (not its key or read time): flag handshakes recognise a
/// record presented again by it.
pub fn fingerprint(record: &UnitRecord) -> String {
    format!(
        "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        record.serial,
        record.verdict.as_str(),
        record.defects.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(),
        record.cycle_time_ms,
        record.program,
        record.repair_action,
        record.measurements.iter().map(|m| m.value.to_bits()).collect::<Vec<_>>(),
        record.consumed.iter().map(|c| c.item.id()).collect::<Vec<_>>(),
    )
}
