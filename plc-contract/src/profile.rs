//! PLC profiles (`plc-profiles/*.toml`): a line's PLCs described without code — endpoint and
//! protocol, per-station tag addresses, data types, byte and word order, scaling, scan classes,
//! and which handshake, counter, state and material semantics each tag carries (SPEC §3).
//!
//! The MES drivers and the bundled simulators read the same files. Parsing is two-step: raw
//! serde structs with spans and `deny_unknown_fields`, deserialised so that every wrong type,
//! out-of-range number, unknown key and missing key is reported, not only the first
//! ([`crate::source::deserialize_every_problem`]); then validation into typed values that
//! collects every broken rule. Each problem is named with file, line, column and field, in file
//! order, before anything connects.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::codec::{ByteOrder, DataType, WordOrder};
use crate::source::{ProblemSink, SourceProblem};

/// PLC state names a profile may map codes onto (the MES maps them onto SEMI E10).
pub const STATE_NAMES: [&str; 8] =
    ["off", "idle", "running", "blocked", "starved", "fault", "changeover", "maintenance"];
/// Station kinds a profile may declare.
pub const STATION_KINDS: [&str; 6] = ["assembly", "process", "inspection", "test", "repair", "pack"];
/// Where a unit goes after failing at a station, a rule of the line the MES and the simulated
/// lines share: a failure at a `test` station sends the unit to the line's repair station (if it
/// has one), from where it re-enters test; any other failure (inspection, assembly, a failed
/// repair) scraps it. Scrap and rework quantities (ISO 22400 SQ, RQ) are counted by this rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailDisposition {
    /// To repair, then back into test (rework).
    Repair,
    /// Out of the line for good.
    Scrap,
}

/// The [`FailDisposition`] of a failure at a station of `station_kind` on a line that has (or
/// has not) a repair station.
pub fn fail_disposition(station_kind: &str, line_has_repair: bool) -> FailDisposition {
    if station_kind == "test" && line_has_repair { FailDisposition::Repair } else { FailDisposition::Scrap }
}

/// Line kinds a profile may declare.
pub const LINE_KINDS: [&str; 3] = ["smt", "phone", "tablet"];

/// A validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Line code.
    pub line: String,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages, if the profile gives one.
    pub name_vi: Option<String>,
    /// Line kind (`smt`, `phone`, `tablet`).
    pub kind: String,
    /// Where and how to reach the PLCs.
    pub endpoint: Endpoint,
    /// Scan classes by name.
    pub scan_classes: BTreeMap<String, Duration>,
    /// PLC state code → state name (one of [`STATE_NAMES`]).
    pub states: BTreeMap<u16, String>,
    /// Fault code → downtime reason, as the line's maintenance staff name them.
    pub fault_reasons: BTreeMap<u16, String>,
    /// Fault code → the reason on Vietnamese pages, where the profile gives one.
    pub fault_reasons_vi: BTreeMap<u16, String>,
    /// Stations in route order.
    pub stations: Vec<StationProfile>,
    /// What the line makes, for routes and DPMO; `None` if the profile does not say.
    pub product: Option<ProductProfile>,
    /// Defect code → its readable names, so pages show "Missing component" beside
    /// `MISSING_COMPONENT`; codes the profile does not name are shown as codes.
    pub defects: BTreeMap<String, CodeName>,
    /// Repair action code → its readable names, as [`Profile::defects`] names defects.
    pub repair_actions: BTreeMap<String, CodeName>,
    /// The zone the PLCs' clocks keep (their `produced_at` tags); UTC unless the profile says.
    pub clock_zone: chrono_tz::Tz,
}

/// The product a line makes, as its profile declares it: the MES registers it with a route over
/// the line's stations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductProfile {
    /// Product code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages, if the profile gives one.
    pub name_vi: Option<String>,
    /// IPC-1782 traceability level, "M1P1" to "M4P4".
    pub traceability: String,
    /// Defect opportunities per unit (IPC-7912A), for DPMO.
    pub opportunities_per_unit: u32,
}

/// The readable names of a code a station reports (a defect, a repair action), as the line's
/// staff name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeName {
    /// Readable name.
    pub name: String,
    /// Readable name on Vietnamese pages, if the profile gives one.
    pub name_vi: Option<String>,
}

/// How the PLCs of a line are reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// Modbus TCP server.
    ModbusTcp {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
        /// Per-request timeout.
        timeout: Duration,
    },
    /// OPC UA server.
    OpcUa {
        /// Endpoint URL with its path (`opc.tcp://host:4840/mes`).
        url: String,
        /// Message security.
        security: OpcUaSecurity,
        /// User name for login, if any.
        username: Option<String>,
        /// Environment variable holding the password (never the password itself).
        password_env: Option<String>,
        /// Per-request timeout.
        timeout: Duration,
    },
}

impl Endpoint {
    /// The path of an OPC UA endpoint URL (`/mes/tablet` of `opc.tcp://host:4840/mes/tablet`,
    /// empty without one); `None` for a Modbus endpoint.
    pub fn opcua_path(&self) -> Option<&str> {
        match self {
            Endpoint::OpcUa { url, .. } => {
                let rest = url.strip_prefix("opc.tcp://").unwrap_or(url);
                Some(rest.find('/').map_or("", |k| &rest[k..]))
            }
            Endpoint::ModbusTcp { .. } => None,
        }
    }

    /// Points the endpoint at another host and port (simulators on free ports, `--connect`),
    /// keeping everything else; an OPC UA URL keeps its path.
    pub fn move_to(&mut self, host: &str, port: u16) {
        let bare = host.trim_matches(['[', ']']);
        let path = self.opcua_path().unwrap_or_default().to_owned();
        match self {
            Endpoint::ModbusTcp { host: h, port: p, .. } => (*h, *p) = (bare.to_owned(), port),
            Endpoint::OpcUa { url, .. } if bare.contains(':') => *url = format!("opc.tcp://[{bare}]:{port}{path}"),
            Endpoint::OpcUa { url, .. } => *url = format!("opc.tcp://{bare}:{port}{path}"),
        }
    }
}

/// OPC UA message security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpcUaSecurity {
    /// No signing or encryption.
    None,
    /// Basic256Sha256, signed and encrypted.
    SignAndEncryptBasic256Sha256,
}

/// How a station hands unit records over (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The PLC raises a sequence number; the MES writes it back as the acknowledgement; the
    /// PLC keeps a ring buffer of unacknowledged records.
    Sequence,
    /// The PLC sets a ready flag; the MES clears it after committing.
    ReadyFlag,
    /// The PLC sets a ready flag; the MES sets a separate acknowledge flag; the PLC clears both.
    ReadyAck,
}

/// What a tag means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// State word.
    State,
    /// Fault code.
    FaultCode,
    /// Cumulative units-in counter.
    CountIn,
    /// Cumulative good-out counter.
    CountGood,
    /// Cumulative reject-out counter.
    CountReject,
    /// PLC boot epoch.
    Epoch,
    /// Record sequence number (sequence handshake).
    RecordSeq,
    /// Acknowledged sequence number, written by the MES (sequence handshake).
    RecordAck,
    /// Record-ready flag (flag handshakes).
    RecordReady,
    /// Acknowledge flag, written by the MES (ready/ack handshake).
    RecordAckFlag,
    /// Unit serial of the record.
    Serial,
    /// Result code of the record (1 pass, 2 fail).
    Result,
    /// Defect code of the record.
    Defect,
    /// Cycle time of the record.
    CycleTime,
    /// Program or recipe of the record.
    Program,
    /// What a repair bench did to the record's unit (a code the profile's `[repair_actions]`
    /// names), so a repair visit says more than "passed".
    RepairAction,
    /// When the station finished the record's unit, by the PLC's own clock (see
    /// [`crate::clock`]; the zone is the profile's `clock_zone`).
    ProducedAt,
}

impl Role {
    /// Whether the MES writes this tag (so it must sit in a writable space).
    pub fn written_by_mes(self) -> bool {
        matches!(self, Role::RecordAck | Role::RecordAckFlag | Role::RecordReady)
    }
}

/// Modbus data spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegisterSpace {
    /// Read/write bits (`co:`).
    Coil,
    /// Read-only bits (`di:`).
    DiscreteInput,
    /// Read-only registers (`ir:`).
    InputRegister,
    /// Read/write registers (`hr:`).
    HoldingRegister,
}

impl RegisterSpace {
    /// Whether the MES can write it.
    pub fn writable(self) -> bool {
        matches!(self, RegisterSpace::Coil | RegisterSpace::HoldingRegister)
    }

    /// Whether it holds bits rather than registers.
    pub fn is_bits(self) -> bool {
        matches!(self, RegisterSpace::Coil | RegisterSpace::DiscreteInput)
    }
}

/// Where a tag lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// Modbus: space and 0-based address (the protocol's, not a datasheet's 1-based number).
    Modbus {
        /// Data space.
        space: RegisterSpace,
        /// 0-based address.
        index: u16,
    },
    /// OPC UA node id as written (`ns=2;s=Line.Station.State` or `nsu=urn:…;i=1001`); a
    /// namespace URI is resolved to its index at connect.
    OpcUa(String),
}

/// A typed tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// Where it lives.
    pub address: Address,
    /// Its data type.
    pub data_type: DataType,
    /// Registers of a Modbus string (0 otherwise).
    pub length: u16,
    /// Engineering value = raw × scale + offset.
    pub scale: f64,
    /// See `scale`.
    pub offset: f64,
    /// Scan class name.
    pub scan: String,
    /// Byte order inside a register.
    pub byte_order: ByteOrder,
    /// Word order of multi-register values.
    pub word_order: WordOrder,
}

/// A measurement a station reports with each record.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementTag {
    /// Measurement name.
    pub name: String,
    /// Engineering unit.
    pub unit: Option<String>,
    /// Lower limit.
    pub lower: Option<f64>,
    /// Upper limit.
    pub upper: Option<f64>,
    /// Where the value is.
    pub tag: Tag,
}

/// An item a station's record says it consumed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeTag {
    /// What the line calls it (`pcba`, `display_lot`).
    pub kind: String,
    /// `true`: a serialised unit; `false`: a lot or reel.
    pub serialised: bool,
    /// The lots' manufacturer part number (lots only; empty when not named). A lot code is
    /// unique only within one part number and supplier: suppliers print their own codes.
    pub part_number: String,
    /// The lots' supplier (lots only; empty when not named).
    pub supplier: String,
    /// Where its id is.
    pub tag: Tag,
    /// Record field (lots only): the supplier of the lot the unit got, for a part bought from
    /// more than one supplier at once; its text replaces `supplier` for that record (empty:
    /// `supplier` stands).
    pub supplier_tag: Option<Tag>,
}

/// A feeder slot whose loaded reel the PLC reports.
#[derive(Debug, Clone, PartialEq)]
pub struct FeederTag {
    /// Slot number.
    pub slot: u16,
    /// Reference designators it feeds.
    pub ref_designators: String,
    /// Where the loaded reel id is (the live view of the machine's material).
    pub reel: Tag,
    /// Record field: the reel the record's unit was placed from. Feeders with it make each
    /// unit's reels part of its record, so genealogy never depends on when the MES polled.
    pub placed: Option<Tag>,
    /// Record field: the reel spliced out while the unit was placed (empty when none); when
    /// set, the unit may carry parts of either reel and both are recorded as possible.
    pub spliced: Option<Tag>,
}

/// What a station answers a validation request with when the MES is silent too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Block the station.
    Block,
    /// Let the unit pass and flag it.
    AllowAndFlag,
}

/// The unit-validation interlock of a station (route entry, pack).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationTags {
    /// Request number raised by the PLC.
    pub request_seq: Tag,
    /// Serial to validate.
    pub serial: Tag,
    /// Request number the MES answers (written).
    pub answer_seq: Tag,
    /// 1 allow, 2 deny (written).
    pub verdict: Tag,
    /// Reason code of a denial (written).
    pub reason: Tag,
    /// How long the PLC waits.
    pub timeout: Duration,
    /// What it does then.
    pub fallback: Fallback,
}

/// One station of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct StationProfile {
    /// Station code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages, if the profile gives one.
    pub name_vi: Option<String>,
    /// Station kind (one of [`STATION_KINDS`]).
    pub kind: String,
    /// Modbus unit id (Modbus only).
    pub unit_id: Option<u8>,
    /// Record handshake style.
    pub handshake: Handshake,
    /// Unacknowledged records the PLC holds before it blocks.
    pub ring_size: u16,
    /// The shortest cycle the station is designed for (ISO 22400 planned run time per unit),
    /// for OEE effectiveness; `None` if the profile does not say.
    pub ideal_cycle_ms: Option<u32>,
    /// Tags by role.
    pub tags: BTreeMap<Role, Tag>,
    /// Measurements reported with each record.
    pub measurements: Vec<MeasurementTag>,
    /// Consumed items reported with each record.
    pub consumes: Vec<ConsumeTag>,
    /// Feeder slots.
    pub feeders: Vec<FeederTag>,
    /// Validation interlock: the station asks before it takes a unit in.
    pub validation: Option<ValidationTags>,
    /// The station's own PLC, when it is not reached through the line's endpoint (stations
    /// that are separate PLCs on their own addresses, the usual wiring): the line's endpoint
    /// with the station's `[stations.endpoint]` keys over it.
    pub endpoint: Option<Endpoint>,
}

/// Why a profile was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Not valid TOML or UTF-8, wrong types, unknown keys, broken rules: every problem, located.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The problems.
        problems: Vec<SourceProblem>,
    },
}

// ---- raw form -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    line: Spanned<String>,
    name: Option<Spanned<String>>,
    name_vi: Option<Spanned<String>>,
    kind: Spanned<String>,
    endpoint: RawEndpoint,
    #[serde(default)]
    encoding: RawEncoding,
    #[serde(default)]
    scan_classes: BTreeMap<String, Spanned<u64>>,
    states: Spanned<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    fault_reasons: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    fault_reasons_vi: BTreeMap<String, Spanned<String>>,
    stations: Vec<RawStation>,
    product: Option<RawProduct>,
    #[serde(default)]
    defects: BTreeMap<String, RawCodeName>,
    #[serde(default)]
    repair_actions: BTreeMap<String, RawCodeName>,
    clock_zone: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeName {
    name: Spanned<String>,
    name_vi: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    code: Spanned<String>,
    name: Option<Spanned<String>>,
    name_vi: Option<Spanned<String>>,
    traceability: Spanned<String>,
    opportunities_per_unit: Spanned<u32>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    protocol: Spanned<String>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    url: Option<Spanned<String>>,
    security_mode: Option<Spanned<String>>,
    security_policy: Option<Spanned<String>>,
    username: Option<String>,
    password_env: Option<String>,
    timeout_ms: Option<Spanned<u64>>,
}

/// A station's own endpoint: any of the line's keys but `protocol`, each inherited from the
/// line's `[endpoint]` when absent.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawStationEndpoint {
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    url: Option<Spanned<String>>,
    security_mode: Option<Spanned<String>>,
    security_policy: Option<Spanned<String>>,
    username: Option<String>,
    password_env: Option<String>,
    timeout_ms: Option<Spanned<u64>>,
}

impl RawStationEndpoint {
    /// The line's endpoint with this station's keys over it.
    fn over(&self, line: &RawEndpoint) -> RawEndpoint {
        RawEndpoint {
            protocol: line.protocol.clone(),
            host: self.host.clone().or_else(|| line.host.clone()),
            port: self.port.clone().or_else(|| line.port.clone()),
            url: self.url.clone().or_else(|| line.url.clone()),
            security_mode: self.security_mode.clone().or_else(|| line.security_mode.clone()),
            security_policy: self.security_policy.clone().or_else(|| line.security_policy.clone()),
            username: self.username.clone().or_else(|| line.username.clone()),
            password_env: self.password_env.clone().or_else(|| line.password_env.clone()),
            timeout_ms: self.timeout_ms.clone().or_else(|| line.timeout_ms.clone()),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEncoding {
    byte_order: Option<ByteOrder>,
    word_order: Option<WordOrder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStation {
    code: Spanned<String>,
    name: Option<Spanned<String>>,
    name_vi: Option<Spanned<String>>,
    kind: Spanned<String>,
    unit_id: Option<Spanned<u8>>,
    handshake: Spanned<String>,
    ring_size: Option<Spanned<u16>>,
    ideal_cycle_ms: Option<Spanned<u32>>,
    tags: Spanned<RawTags>,
    #[serde(default)]
    measurements: Vec<RawMeasurement>,
    #[serde(default)]
    consumes: Vec<RawConsume>,
    #[serde(default)]
    feeders: Vec<RawFeeder>,
    validation: Option<Spanned<RawValidation>>,
    endpoint: Option<RawStationEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTags {
    state: Option<Spanned<RawTag>>,
    fault_code: Option<Spanned<RawTag>>,
    count_in: Option<Spanned<RawTag>>,
    count_good: Option<Spanned<RawTag>>,
    count_reject: Option<Spanned<RawTag>>,
    epoch: Option<Spanned<RawTag>>,
    record_seq: Option<Spanned<RawTag>>,
    record_ack: Option<Spanned<RawTag>>,
    record_ready: Option<Spanned<RawTag>>,
    record_ack_flag: Option<Spanned<RawTag>>,
    serial: Option<Spanned<RawTag>>,
    result: Option<Spanned<RawTag>>,
    defect: Option<Spanned<RawTag>>,
    cycle_time: Option<Spanned<RawTag>>,
    program: Option<Spanned<RawTag>>,
    repair_action: Option<Spanned<RawTag>>,
    produced_at: Option<Spanned<RawTag>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawTag {
    address: Spanned<String>,
    #[serde(rename = "type")]
    data_type: Spanned<DataType>,
    length: Option<Spanned<u16>>,
    scale: Option<Spanned<f64>>,
    offset: Option<Spanned<f64>>,
    scan: Option<Spanned<String>>,
    byte_order: Option<ByteOrder>,
    word_order: Option<WordOrder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasurement {
    name: Spanned<String>,
    unit: Option<Spanned<String>>,
    lower: Option<Spanned<f64>>,
    upper: Option<Spanned<f64>>,
    tag: Spanned<RawTag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsume {
    kind: Spanned<String>,
    tracking: Spanned<String>,
    part_number: Option<Spanned<String>>,
    supplier: Option<Spanned<String>>,
    tag: Spanned<RawTag>,
    supplier_tag: Option<Spanned<RawTag>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeeder {
    slot: u16,
    ref_designators: Spanned<String>,
    reel: Spanned<RawTag>,
    placed: Option<Spanned<RawTag>>,
    spliced: Option<Spanned<RawTag>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidation {
    request_seq: Spanned<RawTag>,
    serial: Spanned<RawTag>,
    answer_seq: Spanned<RawTag>,
    verdict: Spanned<RawTag>,
    reason: Spanned<RawTag>,
    timeout_ms: Spanned<u64>,
    fallback: Spanned<String>,
}

// ---- validation -------------------------------------------------------------------------------

const DEFAULT_SCAN: &str = "default";
/// The longest display name, unit, reason or reference-designator list a profile may give.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest line, station or product code.
pub const MAX_CODE_CHARS: usize = 64;

/// The (material, process) levels of an IPC-1782 traceability level written "M3P2" (any case),
/// each 1–4; `None` for anything else.
pub fn traceability_level(value: &str) -> Option<(u8, u8)> {
    let b = value.to_ascii_uppercase().into_bytes();
    let level = |c: u8| (b'1'..=b'4').contains(&c).then(|| c - b'0');
    if b.len() != 4 || b[0] != b'M' || b[2] != b'P' {
        return None;
    }
    Some((level(b[1])?, level(b[3])?))
}

/// Registers `start..=end` taken by the tag at `field`.
struct Occupied {
    start: u32,
    end: u32,
    field: String,
}

/// A role, its key under `[stations.tags]`, the raw tag if present, and the types it allows.
type RoleSpec<'a> = (Role, &'static str, &'a Option<Spanned<RawTag>>, &'static [DataType]);

struct Checker<'a> {
    sink: ProblemSink<'a>,
    modbus: bool,
    encoding: (ByteOrder, WordOrder),
    scans: BTreeMap<String, Duration>,
    /// (endpoint, unit id, space) → occupied register ranges (stations on PLCs of their own
    /// may use the same unit id and addresses).
    occupied: BTreeMap<(String, u8, RegisterSpace), Vec<Occupied>>,
    /// The endpoint of the station being checked ("" for the line's).
    station_endpoint: String,
}

fn is_code(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CODE_CHARS
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Checker<'_> {
    /// Validates one tag; `unit` is the Modbus unit id for overlap checks.
    fn tag(&mut self, raw: &Spanned<RawTag>, field: &str, unit: Option<u8>) -> Option<Tag> {
        let t = raw.get_ref();
        let data_type = *t.data_type.get_ref();
        let address = self.address(&t.address, field)?;
        let length = match (&t.length, data_type, &address) {
            (Some(l), DataType::String, _) if *l.get_ref() > 0 => *l.get_ref(),
            (Some(l), DataType::String, _) => {
                self.sink.at(l.span(), format!("{field}.length"), "a string needs at least one register");
                return None;
            }
            (None, DataType::String, Address::Modbus { .. }) => {
                self.sink.at(raw.span(), format!("{field}.length"), "a Modbus string needs `length` (registers)");
                return None;
            }
            (Some(l), _, _) => {
                self.sink.at(
                    l.span(),
                    format!("{field}.length"),
                    format!("only strings take a length, not {data_type:?}"),
                );
                return None;
            }
            (None, _, _) => 0,
        };
        for (key, value) in [("scale", &t.scale), ("offset", &t.offset)] {
            if let Some(v) = value.as_ref().filter(|v| !v.get_ref().is_finite()) {
                self.sink.at(v.span(), format!("{field}.{key}"), format!("{} is not a finite number", v.get_ref()));
                return None;
            }
        }
        if let Some(v) = t.scale.as_ref().filter(|v| *v.get_ref() == 0.0) {
            self.sink.at(v.span(), format!("{field}.scale"), "a scale of 0 would make every value 0");
            return None;
        }
        let scan = match &t.scan {
            Some(s) if self.scans.contains_key(s.get_ref()) => s.get_ref().clone(),
            Some(s) => {
                let known: Vec<&String> = self.scans.keys().collect();
                self.sink.at(
                    s.span(),
                    format!("{field}.scan"),
                    format!("unknown scan class {:?}; defined: {known:?}", s.get_ref()),
                );
                return None;
            }
            None => DEFAULT_SCAN.to_owned(),
        };
        if let Address::Modbus { space, index } = &address {
            let registers = u32::from(data_type.registers(length));
            if space.is_bits() && data_type != DataType::Bool {
                self.sink.at(
                    t.data_type.span(),
                    format!("{field}.type"),
                    format!("{data_type:?} cannot live in a bit space; use hr: or ir:"),
                );
                return None;
            }
            let end = u32::from(*index) + registers - 1;
            if end > 65_535 {
                self.sink.at(
                    t.address.span(),
                    format!("{field}.address"),
                    format!("{data_type:?} at {index} runs past address 65535"),
                );
                return None;
            }
            let key = (self.station_endpoint.clone(), unit.unwrap_or(0), *space);
            let ranges = self.occupied.entry(key).or_default();
            if let Some(other) = ranges.iter().find(|o| u32::from(*index) <= o.end && o.start <= end) {
                let message = format!("registers {index}..={end} overlap {}", other.field);
                self.sink.at(t.address.span(), format!("{field}.address"), message);
                return None;
            }
            ranges.push(Occupied { start: u32::from(*index), end, field: field.to_owned() });
        }
        Some(Tag {
            address,
            data_type,
            length,
            scale: t.scale.as_ref().map_or(1.0, |v| *v.get_ref()),
            offset: t.offset.as_ref().map_or(0.0, |v| *v.get_ref()),
            scan,
            byte_order: t.byte_order.unwrap_or(self.encoding.0),
            word_order: t.word_order.unwrap_or(self.encoding.1),
        })
    }

    fn address(&mut self, raw: &Spanned<String>, field: &str) -> Option<Address> {
        let text = raw.get_ref().trim();
        if self.modbus {
            let parsed = text.split_once(':').and_then(|(space, index)| {
                let space = match space {
                    "co" => RegisterSpace::Coil,
                    "di" => RegisterSpace::DiscreteInput,
                    "ir" => RegisterSpace::InputRegister,
                    "hr" => RegisterSpace::HoldingRegister,
                    _ => return None,
                };
                Some((space, index.parse::<u32>().ok()?))
            });
            match parsed {
                Some((space, index)) if index <= 65_535 => {
                    Some(Address::Modbus { space, index: u16::try_from(index).ok()? })
                }
                Some((_, index)) => {
                    self.sink.at(raw.span(), format!("{field}.address"), format!("{index} is out of range 0..=65535"));
                    None
                }
                None => {
                    let message = format!("{text:?} is not a Modbus address like hr:100, ir:7, co:3 or di:0");
                    self.sink.at(raw.span(), format!("{field}.address"), message);
                    None
                }
            }
        } else {
            let ok =
                crate::opcua::split_node_id(text).is_ok_and(|(ns, _)| ns.is_ok() || ns.is_err_and(|u| !u.is_empty()));
            if ok {
                Some(Address::OpcUa(text.to_owned()))
            } else {
                let message =
                    format!("{text:?} is not an OPC UA node id like ns=2;s=Line.Station.State or nsu=urn:x;i=1001");
                self.sink.at(raw.span(), format!("{field}.address"), message);
                None
            }
        }
    }

    /// Refuses text with a control character, or longer than `max` characters.
    fn text(&mut self, value: &Spanned<String>, field: &str, max: usize) {
        let text = value.get_ref();
        let len = text.chars().count();
        if len > max {
            self.sink.at(value.span(), field, format!("is {len} characters long; at most {max} are accepted"));
        } else if text.chars().any(char::is_control) {
            self.sink.at(value.span(), field, format!("{text:?} contains a control character"));
        }
    }

    fn expect_types(&mut self, raw: &Spanned<RawTag>, field: &str, allowed: &[DataType]) -> bool {
        let data_type = *raw.get_ref().data_type.get_ref();
        if allowed.contains(&data_type) {
            return true;
        }
        let span = raw.get_ref().data_type.span();
        self.sink.at(
            span,
            format!("{field}.type"),
            format!("{data_type:?} is not allowed here; use one of {allowed:?}"),
        );
        false
    }
}

impl Profile {
    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = crate::source::read_text(path).map_err(|e| match e {
            crate::source::ReadProblem::Io(source) => ProfileError::Read { path: path.to_owned(), source },
            crate::source::ReadProblem::Invalid(problem) => ProfileError::Invalid { problems: vec![problem] },
        })?;
        Self::parse(path, &text)
    }

    /// Validates profile text; `path` names the file in messages. Every problem is reported at
    /// once, the wrong types serde meets as well as the rules checked after, in file order.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProfileError> {
        let parsed = crate::source::deserialize_every_problem::<RawProfile>(path, text);
        let Some(raw) = parsed.value else { return Err(ProfileError::Invalid { problems: parsed.problems }) };
        let mut problems = parsed.problems;
        match Self::check(path, text, raw) {
            Ok(profile) if problems.is_empty() => Ok(profile),
            Ok(_) => Err(ProfileError::Invalid { problems }),
            Err(checked) => {
                // A rule about a part already refused for its type would say the same twice.
                let removed = &parsed.removed;
                problems.extend(
                    checked
                        .into_iter()
                        .filter(|p| !removed.iter().any(|r| p.field == *r || p.field.starts_with(&format!("{r}.")))),
                );
                problems.sort_by_key(|p| (p.line, p.column));
                Err(ProfileError::Invalid { problems })
            }
        }
    }

    /// The rules a deserialised profile must follow, every problem at once.
    fn check(path: &Path, text: &str, raw: RawProfile) -> Result<Self, Vec<SourceProblem>> {
        let protocol = raw.endpoint.protocol.get_ref().as_str();
        let mut scans: BTreeMap<String, Duration> =
            BTreeMap::from([(DEFAULT_SCAN.to_owned(), Duration::from_millis(100))]);
        let mut c = Checker {
            sink: ProblemSink::new(path, text),
            modbus: protocol != "opcua",
            encoding: (raw.encoding.byte_order.unwrap_or_default(), raw.encoding.word_order.unwrap_or_default()),
            scans: BTreeMap::new(),
            occupied: BTreeMap::new(),
            station_endpoint: String::new(),
        };
        for (name, ms) in &raw.scan_classes {
            if *ms.get_ref() == 0 {
                c.sink.at(ms.span(), format!("scan_classes.{name}"), "a scan period must be at least 1 ms");
            } else {
                scans.insert(name.clone(), Duration::from_millis(*ms.get_ref()));
            }
        }
        c.scans = scans.clone();

        if !is_code(raw.line.get_ref()) {
            c.sink.at(
                raw.line.span(),
                "line",
                "a line code may only contain ASCII letters, digits, '-', '_' and '.' (at most 64)",
            );
        }
        if !LINE_KINDS.contains(&raw.kind.get_ref().as_str()) {
            c.sink.at(raw.kind.span(), "kind", format!("{:?} is not one of {LINE_KINDS:?}", raw.kind.get_ref()));
        }
        for (n, field) in [
            (&raw.name, "name"),
            (&raw.name_vi, "name_vi"),
            (&raw.product.as_ref().and_then(|p| p.name.clone()), "product.name"),
            (&raw.product.as_ref().and_then(|p| p.name_vi.clone()), "product.name_vi"),
        ] {
            if let Some(n) = n {
                c.text(n, field, MAX_NAME_CHARS);
            }
        }
        for (code, reason) in &raw.fault_reasons {
            c.text(reason, &format!("fault_reasons.{code}"), MAX_NAME_CHARS);
        }
        for (code, reason) in &raw.fault_reasons_vi {
            c.text(reason, &format!("fault_reasons_vi.{code}"), MAX_NAME_CHARS);
            if !raw.fault_reasons.contains_key(code) {
                c.sink.at(
                    reason.span(),
                    format!("fault_reasons_vi.{code}"),
                    format!("fault code {code} has no reason in [fault_reasons] to translate"),
                );
            }
        }
        for (table, what, names) in
            [("defects", "defect", &raw.defects), ("repair_actions", "repair action", &raw.repair_actions)]
        {
            for (code, d) in names {
                if !is_code(code) {
                    c.sink.at(
                        d.name.span(),
                        format!("{table}.{code}"),
                        format!("a {what} code may only contain ASCII letters, digits, '-', '_' and '.' (at most 64)"),
                    );
                }
                c.text(&d.name, &format!("{table}.{code}.name"), MAX_NAME_CHARS);
                if let Some(n) = &d.name_vi {
                    c.text(n, &format!("{table}.{code}.name_vi"), MAX_NAME_CHARS);
                }
            }
        }
        let clock_zone = match &raw.clock_zone {
            None => chrono_tz::UTC,
            Some(z) => z.get_ref().parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
                c.sink.at(
                    z.span(),
                    "clock_zone",
                    format!("{:?} is not an IANA time zone like \"Asia/Ho_Chi_Minh\"", z.get_ref()),
                );
                chrono_tz::UTC
            }),
        };
        let endpoint = endpoint(&mut c, &raw.endpoint, "endpoint");

        let mut states = BTreeMap::new();
        for (code, name) in raw.states.get_ref() {
            match code.parse::<u16>() {
                Ok(n) if STATE_NAMES.contains(&name.get_ref().as_str()) => {
                    states.insert(n, name.get_ref().clone());
                }
                Ok(_) => c.sink.at(
                    name.span(),
                    format!("states.{code}"),
                    format!("{:?} is not one of {STATE_NAMES:?}", name.get_ref()),
                ),
                Err(_) => {
                    c.sink.at(name.span(), format!("states.{code}"), format!("{code:?} is not a state code 0..=65535"))
                }
            }
        }
        let mut fault_reasons = BTreeMap::new();
        for (code, reason) in &raw.fault_reasons {
            match code.parse::<u16>() {
                Ok(n) => _ = fault_reasons.insert(n, reason.get_ref().clone()),
                Err(_) => c.sink.at(
                    reason.span(),
                    format!("fault_reasons.{code}"),
                    format!("{code:?} is not a fault code 0..=65535"),
                ),
            }
        }
        if !states.values().any(|s| s == "running") {
            c.sink.at(raw.states.span(), "states", "no code maps to \"running\": availability could never be computed");
        }

        let mut stations = Vec::new();
        let mut codes: BTreeMap<String, usize> = BTreeMap::new();
        for (i, s) in raw.stations.iter().enumerate() {
            let field = format!("stations[{i}]");
            if let Some(first) = codes.insert(s.code.get_ref().clone(), i) {
                c.sink.at(
                    s.code.span(),
                    format!("{field}.code"),
                    format!("{:?} is also stations[{first}]", s.code.get_ref()),
                );
            }
            if let Some(station) = station(&mut c, s, &field, &raw.endpoint) {
                stations.push(station);
            }
        }
        if raw.stations.is_empty() {
            c.sink.at(raw.line.span(), "stations", "a profile needs at least one station");
        }
        for (i, s) in raw.stations.iter().enumerate() {
            if let Some(ms) = s.ideal_cycle_ms.as_ref().filter(|ms| *ms.get_ref() == 0) {
                c.sink.at(
                    ms.span(),
                    format!("stations[{i}].ideal_cycle_ms"),
                    "an ideal cycle time must be at least 1 ms",
                );
            }
        }
        let product = raw.product.as_ref().and_then(|p| {
            let before = c.sink.problems.len();
            if !is_code(p.code.get_ref()) {
                c.sink.at(
                    p.code.span(),
                    "product.code",
                    "a product code may only contain ASCII letters, digits, '-', '_' and '.' (at most 64)",
                );
            }
            if traceability_level(p.traceability.get_ref()).is_none() {
                c.sink.at(
                    p.traceability.span(),
                    "product.traceability",
                    format!("{:?} is not an IPC-1782 level like \"M3P2\" (M1–M4, P1–P4)", p.traceability.get_ref()),
                );
            }
            if *p.opportunities_per_unit.get_ref() == 0 {
                c.sink.at(
                    p.opportunities_per_unit.span(),
                    "product.opportunities_per_unit",
                    "a unit has at least one defect opportunity",
                );
            }
            (c.sink.problems.len() == before).then(|| ProductProfile {
                code: p.code.get_ref().clone(),
                name: p.name.as_ref().map_or_else(|| p.code.get_ref().clone(), |n| n.get_ref().clone()),
                name_vi: p.name_vi.as_ref().map(|n| n.get_ref().clone()),
                traceability: p.traceability.get_ref().to_ascii_uppercase(),
                opportunities_per_unit: *p.opportunities_per_unit.get_ref(),
            })
        });

        let problems = c.sink.problems;
        match endpoint {
            Some(endpoint) if problems.is_empty() => Ok(Profile {
                line: raw.line.into_inner(),
                name: raw.name.map(Spanned::into_inner).unwrap_or_default(),
                name_vi: raw.name_vi.map(Spanned::into_inner),
                kind: raw.kind.into_inner(),
                endpoint,
                scan_classes: scans,
                states,
                fault_reasons_vi: raw
                    .fault_reasons_vi
                    .iter()
                    .filter_map(|(code, reason)| Some((code.parse().ok()?, reason.get_ref().clone())))
                    .collect(),
                fault_reasons,
                stations,
                product,
                defects: code_names(raw.defects),
                repair_actions: code_names(raw.repair_actions),
                clock_zone,
            }),
            _ => Err(problems),
        }
    }

    /// The line as seen when its clock runs `speed` times faster than the wall clock (a simulated
    /// line at `--speed`): ideal cycle times shrink by the same factor, so OEE effectiveness,
    /// measured against the wall clock, means what it means on a real line.
    pub fn at_speed(&mut self, speed: f64) {
        if speed.is_finite() && speed > 0.0 {
            for s in &mut self.stations {
                s.ideal_cycle_ms = s.ideal_cycle_ms.map(|ms| ((f64::from(ms) / speed).round() as u32).max(1));
            }
        }
    }

    /// Points the line's endpoint, and each station's own, at the addresses a simulator (or
    /// `--connect`) names: `line` for the line's endpoint, `line/STATION` for a station's.
    /// Endpoints not named stay as they are.
    pub fn move_to_served(&mut self, addresses: &[(String, std::net::SocketAddr)]) {
        let at = |key: &str| addresses.iter().find(|(k, _)| k == key).map(|(_, a)| *a);
        if let Some(a) = at(&self.line) {
            self.endpoint.move_to(&a.ip().to_string(), a.port());
        }
        for s in &mut self.stations {
            if let (Some(e), Some(a)) = (&mut s.endpoint, at(&format!("{}/{}", self.line, s.code))) {
                e.move_to(&a.ip().to_string(), a.port());
            }
        }
    }

    /// Number of tags of every kind, for `mes profile check` summaries.
    pub fn tag_count(&self) -> usize {
        self.stations.iter().map(|s| s.all_tags().len()).sum()
    }
}

impl StationProfile {
    /// Every tag of the station, whatever its role: what a driver reads and a simulator
    /// renders, sized and coalesced in one place.
    pub fn all_tags(&self) -> Vec<&Tag> {
        let mut tags: Vec<&Tag> = self.tags.values().collect();
        tags.extend(self.measurements.iter().map(|m| &m.tag));
        tags.extend(self.consumes.iter().flat_map(|c| std::iter::once(&c.tag).chain(&c.supplier_tag)));
        for f in &self.feeders {
            tags.push(&f.reel);
            tags.extend(f.placed.iter().chain(&f.spliced));
        }
        if let Some(v) = &self.validation {
            tags.extend([&v.request_seq, &v.serial, &v.answer_seq, &v.verdict, &v.reason]);
        }
        tags
    }
}

fn endpoint(c: &mut Checker<'_>, e: &RawEndpoint, prefix: &str) -> Option<Endpoint> {
    let timeout = Duration::from_millis(e.timeout_ms.as_ref().map_or(1_000, |t| *t.get_ref()));
    match e.protocol.get_ref().as_str() {
        "modbus_tcp" => {
            for (present, key) in [(e.url.is_some(), "url"), (e.security_mode.is_some(), "security_mode")] {
                if present {
                    c.sink.at(e.protocol.span(), format!("{prefix}.{key}"), "is for OPC UA endpoints only");
                }
            }
            match (&e.host, &e.port) {
                (Some(host), Some(port)) => {
                    Some(Endpoint::ModbusTcp { host: host.get_ref().clone(), port: *port.get_ref(), timeout })
                }
                (host, port) => {
                    for (absent, key) in [(host.is_none(), "host"), (port.is_none(), "port")] {
                        if absent {
                            c.sink.at(e.protocol.span(), format!("{prefix}.{key}"), "is required for modbus_tcp");
                        }
                    }
                    None
                }
            }
        }
        "opcua" => {
            let Some(url) = &e.url else {
                c.sink.at(
                    e.protocol.span(),
                    format!("{prefix}.url"),
                    "opcua needs the endpoint URL, e.g. opc.tcp://127.0.0.1:4840/mes",
                );
                return None;
            };
            if !url.get_ref().starts_with("opc.tcp://") {
                c.sink.at(
                    url.span(),
                    format!("{prefix}.url"),
                    format!("{:?} does not start with opc.tcp://", url.get_ref()),
                );
            }
            let security = match e.security_mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
                None | Some(("none", _)) => OpcUaSecurity::None,
                Some(("sign_and_encrypt", _)) => {
                    match e.security_policy.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
                        None | Some(("basic256sha256", _)) => {}
                        Some((other, span)) => c.sink.at(
                            span,
                            format!("{prefix}.security_policy"),
                            format!("{other:?} is not supported; use \"basic256sha256\""),
                        ),
                    }
                    OpcUaSecurity::SignAndEncryptBasic256Sha256
                }
                Some((other, span)) => {
                    c.sink.at(
                        span,
                        format!("{prefix}.security_mode"),
                        format!("{other:?} is not one of \"none\", \"sign_and_encrypt\""),
                    );
                    OpcUaSecurity::None
                }
            };
            Some(Endpoint::OpcUa {
                url: url.get_ref().clone(),
                security,
                username: e.username.clone(),
                password_env: e.password_env.clone(),
                timeout,
            })
        }
        other => {
            c.sink.at(
                e.protocol.span(),
                format!("{prefix}.protocol"),
                format!("{other:?} is not one of \"modbus_tcp\", \"opcua\""),
            );
            None
        }
    }
}

fn station(c: &mut Checker<'_>, s: &RawStation, field: &str, line_endpoint: &RawEndpoint) -> Option<StationProfile> {
    let before = c.sink.problems.len();
    let own_endpoint =
        s.endpoint.as_ref().and_then(|e| endpoint(c, &e.over(line_endpoint), &format!("{field}.endpoint")));
    c.station_endpoint = match &own_endpoint {
        Some(Endpoint::ModbusTcp { host, port, .. }) => format!("{host}:{port}"),
        Some(Endpoint::OpcUa { url, .. }) => url.clone(),
        None => String::new(),
    };
    if !is_code(s.code.get_ref()) {
        c.sink.at(
            s.code.span(),
            format!("{field}.code"),
            "a station code may only contain ASCII letters, digits, '-', '_' and '.' (at most 64)",
        );
    }
    if !STATION_KINDS.contains(&s.kind.get_ref().as_str()) {
        c.sink.at(
            s.kind.span(),
            format!("{field}.kind"),
            format!("{:?} is not one of {STATION_KINDS:?}", s.kind.get_ref()),
        );
    }
    let unit = match (&s.unit_id, c.modbus) {
        (Some(u), true) if (1..=247).contains(u.get_ref()) => Some(*u.get_ref()),
        (Some(u), true) => {
            c.sink.at(u.span(), format!("{field}.unit_id"), format!("{} is out of range 1..=247", u.get_ref()));
            None
        }
        (None, true) => {
            c.sink.at(s.code.span(), format!("{field}.unit_id"), "a Modbus station needs its unit id");
            None
        }
        (Some(u), false) => {
            c.sink.at(
                u.span(),
                format!("{field}.unit_id"),
                "unit ids are for Modbus; OPC UA stations are addressed by node id",
            );
            None
        }
        (None, false) => None,
    };
    let handshake = match s.handshake.get_ref().as_str() {
        "sequence" => Some(Handshake::Sequence),
        "ready_flag" => Some(Handshake::ReadyFlag),
        "ready_ack" => Some(Handshake::ReadyAck),
        other => {
            c.sink.at(
                s.handshake.span(),
                format!("{field}.handshake"),
                format!("{other:?} is not one of \"sequence\", \"ready_flag\", \"ready_ack\""),
            );
            None
        }
    };

    let t = s.tags.get_ref();
    let roles: [RoleSpec<'_>; 17] = {
        use DataType::*;
        [
            (Role::State, "state", &t.state, &[U16, I16]),
            (Role::FaultCode, "fault_code", &t.fault_code, &[U16, I16, U32]),
            (Role::CountIn, "count_in", &t.count_in, &[U16, U32]),
            (Role::CountGood, "count_good", &t.count_good, &[U16, U32]),
            (Role::CountReject, "count_reject", &t.count_reject, &[U16, U32]),
            (Role::Epoch, "epoch", &t.epoch, &[U16, U32]),
            (Role::RecordSeq, "record_seq", &t.record_seq, &[U16, U32]),
            (Role::RecordAck, "record_ack", &t.record_ack, &[U16, U32]),
            (Role::RecordReady, "record_ready", &t.record_ready, &[Bool, U16]),
            (Role::RecordAckFlag, "record_ack_flag", &t.record_ack_flag, &[Bool, U16]),
            (Role::Serial, "serial", &t.serial, &[String]),
            (Role::Result, "result", &t.result, &[U16, I16]),
            (Role::Defect, "defect", &t.defect, &[String]),
            (Role::CycleTime, "cycle_time", &t.cycle_time, &[U16, U32, F32]),
            (Role::Program, "program", &t.program, &[String]),
            (Role::RepairAction, "repair_action", &t.repair_action, &[String]),
            (Role::ProducedAt, "produced_at", &t.produced_at, &[U32, F64, String]),
        ]
    };
    let mut tags = BTreeMap::new();
    for (role, name, raw, allowed) in roles {
        let Some(raw) = raw else { continue };
        let tag_field = format!("{field}.tags.{name}");
        if !c.expect_types(raw, &tag_field, allowed) {
            continue;
        }
        if let Some(tag) = c.tag(raw, &tag_field, unit) {
            if role.written_by_mes()
                && let Address::Modbus { space, .. } = tag.address
                && !space.writable()
            {
                c.sink.at(
                    raw.get_ref().address.span(),
                    format!("{tag_field}.address"),
                    "the MES writes this tag: use hr: or co:",
                );
            }
            tags.insert(role, tag);
        }
    }
    let required: &[(Role, &str)] = match handshake {
        Some(Handshake::Sequence) => &[(Role::RecordSeq, "record_seq"), (Role::RecordAck, "record_ack")],
        Some(Handshake::ReadyFlag) => &[(Role::RecordReady, "record_ready")],
        Some(Handshake::ReadyAck) => &[(Role::RecordReady, "record_ready"), (Role::RecordAckFlag, "record_ack_flag")],
        None => &[],
    };
    let always: &[(Role, &str)] = &[(Role::State, "state"), (Role::Serial, "serial"), (Role::Result, "result")];
    for (role, name) in required.iter().chain(always) {
        if !tags.contains_key(role) && t_has(t, name).is_none() {
            c.sink.at(s.tags.span(), format!("{field}.tags.{name}"), "is required for this station's handshake");
        }
    }

    let mut measurements = Vec::new();
    for (i, m) in s.measurements.iter().enumerate() {
        let mfield = format!("{field}.measurements[{i}]");
        if measurements.iter().any(|x: &MeasurementTag| &x.name == m.name.get_ref()) {
            c.sink.at(m.name.span(), format!("{mfield}.name"), format!("{:?} is listed twice", m.name.get_ref()));
        }
        c.text(&m.name, &format!("{mfield}.name"), MAX_NAME_CHARS);
        if let Some(u) = &m.unit {
            c.text(u, &format!("{mfield}.unit"), MAX_NAME_CHARS);
        }
        for (key, value) in [("lower", &m.lower), ("upper", &m.upper)] {
            if let Some(v) = value.as_ref().filter(|v| !v.get_ref().is_finite()) {
                c.sink.at(v.span(), format!("{mfield}.{key}"), format!("{} is not a finite number", v.get_ref()));
            }
        }
        if let (Some(lower), Some(upper)) = (&m.lower, &m.upper)
            && lower.get_ref() > upper.get_ref()
        {
            c.sink.at(
                lower.span(),
                format!("{mfield}.lower"),
                format!("the lower limit {} is above the upper limit {}", lower.get_ref(), upper.get_ref()),
            );
        }
        use DataType::*;
        if c.expect_types(&m.tag, &format!("{mfield}.tag"), &[U16, I16, U32, I32, F32, F64])
            && let Some(tag) = c.tag(&m.tag, &format!("{mfield}.tag"), unit)
        {
            measurements.push(MeasurementTag {
                name: m.name.get_ref().clone(),
                unit: m.unit.as_ref().map(|u| u.get_ref().clone()),
                lower: m.lower.as_ref().map(|v| *v.get_ref()),
                upper: m.upper.as_ref().map(|v| *v.get_ref()),
                tag,
            });
        }
    }
    let mut consumes = Vec::new();
    for (i, k) in s.consumes.iter().enumerate() {
        let kfield = format!("{field}.consumes[{i}]");
        let serialised = match k.tracking.get_ref().as_str() {
            "serial" => true,
            "lot" => false,
            other => {
                c.sink.at(
                    k.tracking.span(),
                    format!("{kfield}.tracking"),
                    format!("{other:?} is not one of \"serial\", \"lot\""),
                );
                continue;
            }
        };
        let mut material = |name: &str, value: &Option<Spanned<String>>| {
            let value = value.as_ref()?;
            let text = value.get_ref();
            let problem = if serialised {
                Some("names the material of lots; a serialised item is known by its serial".to_owned())
            } else if text.trim().is_empty() || text.trim() != text || text.chars().any(char::is_control) {
                Some(format!("{text:?} is empty, padded with spaces or holds a control character"))
            } else {
                None
            };
            match problem {
                Some(p) => {
                    c.sink.at(value.span(), format!("{kfield}.{name}"), p);
                    None
                }
                None => Some(text.clone()),
            }
        };
        let part_number = material("part_number", &k.part_number).unwrap_or_default();
        let supplier = material("supplier", &k.supplier).unwrap_or_default();
        let supplier_tag = match &k.supplier_tag {
            Some(raw) if serialised => {
                let why = "names the supplier of lots; a serialised item is known by its serial";
                c.sink.at(raw.span(), format!("{kfield}.supplier_tag"), why);
                None
            }
            Some(raw) => {
                let sfield = format!("{kfield}.supplier_tag");
                if c.expect_types(raw, &sfield, &[DataType::String]) { c.tag(raw, &sfield, unit) } else { None }
            }
            None => None,
        };
        if c.expect_types(&k.tag, &format!("{kfield}.tag"), &[DataType::String])
            && let Some(tag) = c.tag(&k.tag, &format!("{kfield}.tag"), unit)
        {
            let kind = k.kind.get_ref().clone();
            consumes.push(ConsumeTag { kind, serialised, part_number, supplier, tag, supplier_tag });
        }
    }
    let mut feeders = Vec::new();
    for (i, f) in s.feeders.iter().enumerate() {
        let ffield = format!("{field}.feeders[{i}]");
        let mut string_tag = |raw: &Spanned<RawTag>, name: &str| {
            let tfield = format!("{ffield}.{name}");
            if c.expect_types(raw, &tfield, &[DataType::String]) { c.tag(raw, &tfield, unit) } else { None }
        };
        let reel = string_tag(&f.reel, "reel");
        let placed = f.placed.as_ref().and_then(|t| string_tag(t, "placed"));
        let spliced = f.spliced.as_ref().and_then(|t| string_tag(t, "spliced"));
        if let (Some(t), None) = (&f.spliced, &f.placed) {
            c.sink.at(
                t.span(),
                format!("{ffield}.spliced"),
                "needs `placed`: a splice is reported beside the reel placed",
            );
        }
        if let Some(reel) = reel {
            feeders.push(FeederTag {
                slot: f.slot,
                ref_designators: f.ref_designators.get_ref().clone(),
                reel,
                placed,
                spliced,
            });
        }
    }
    let validation = s.validation.as_ref().and_then(|v| {
        let vfield = format!("{field}.validation");
        let r = v.get_ref();
        let fallback = match r.fallback.get_ref().as_str() {
            "block" => Fallback::Block,
            "allow_and_flag" => Fallback::AllowAndFlag,
            other => {
                c.sink.at(
                    r.fallback.span(),
                    format!("{vfield}.fallback"),
                    format!("{other:?} is not one of \"block\", \"allow_and_flag\""),
                );
                return None;
            }
        };
        use DataType::*;
        let mut tag = |raw: &Spanned<RawTag>, name: &str, allowed: &[DataType], written: bool| {
            let f = format!("{vfield}.{name}");
            if !c.expect_types(raw, &f, allowed) {
                return None;
            }
            let tag = c.tag(raw, &f, unit)?;
            if written
                && let Address::Modbus { space, .. } = tag.address
                && !space.writable()
            {
                c.sink.at(
                    raw.get_ref().address.span(),
                    format!("{f}.address"),
                    "the MES writes this tag: use hr: or co:",
                );
            }
            Some(tag)
        };
        let request_seq = tag(&r.request_seq, "request_seq", &[U16, U32], false);
        let serial = tag(&r.serial, "serial", &[String], false);
        let answer_seq = tag(&r.answer_seq, "answer_seq", &[U16, U32], true);
        let verdict = tag(&r.verdict, "verdict", &[U16], true);
        let reason = tag(&r.reason, "reason", &[U16], true);
        Some(ValidationTags {
            request_seq: request_seq?,
            serial: serial?,
            answer_seq: answer_seq?,
            verdict: verdict?,
            reason: reason?,
            timeout: Duration::from_millis(*r.timeout_ms.get_ref()),
            fallback,
        })
    });

    if let Some(r) = s.ring_size.as_ref().filter(|r| *r.get_ref() == 0) {
        c.sink.at(r.span(), format!("{field}.ring_size"), "a PLC holds at least one unacknowledged record");
    }
    for (n, key) in [(&s.name, "name"), (&s.name_vi, "name_vi")] {
        if let Some(n) = n {
            c.text(n, &format!("{field}.{key}"), MAX_NAME_CHARS);
        }
    }
    for (i, f) in s.feeders.iter().enumerate() {
        c.text(&f.ref_designators, &format!("{field}.feeders[{i}].ref_designators"), MAX_NAME_CHARS);
    }
    (c.sink.problems.len() == before).then(|| StationProfile {
        code: s.code.get_ref().clone(),
        name: s.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_default(),
        name_vi: s.name_vi.as_ref().map(|n| n.get_ref().clone()),
        kind: s.kind.get_ref().clone(),
        unit_id: unit,
        handshake: handshake.unwrap_or(Handshake::Sequence),
        ring_size: s.ring_size.as_ref().map_or(8, |r| *r.get_ref()),
        ideal_cycle_ms: s.ideal_cycle_ms.as_ref().map(|c| *c.get_ref()),
        tags,
        measurements,
        consumes,
        feeders,
        validation,
        endpoint: own_endpoint,
    })
}

/// Whether the raw tags name a role (a present-but-invalid tag was reported already).
/// A `[defects]`-like table (code → names), checked already.
fn code_names(raw: BTreeMap<String, RawCodeName>) -> BTreeMap<String, CodeName> {
    raw.into_iter()
        .map(|(code, d)| (code, CodeName { name: d.name.into_inner(), name_vi: d.name_vi.map(Spanned::into_inner) }))
        .collect()
}

fn t_has<'a>(t: &'a RawTags, name: &str) -> Option<&'a Spanned<RawTag>> {
    match name {
        "state" => t.state.as_ref(),
        "serial" => t.serial.as_ref(),
        "result" => t.result.as_ref(),
        "record_seq" => t.record_seq.as_ref(),
        "record_ack" => t.record_ack.as_ref(),
        "record_ready" => t.record_ready.as_ref(),
        "record_ack_flag" => t.record_ack_flag.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_endpoint_moves_to_another_address_keeping_its_opc_ua_path() {
        use std::time::Duration;
        let mut opc = Endpoint::OpcUa {
            url: "opc.tcp://127.0.0.1:4840/mes/tablet".into(),
            security: OpcUaSecurity::None,
            username: None,
            password_env: None,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(opc.opcua_path(), Some("/mes/tablet"));
        opc.move_to("127.0.0.1", 40123);
        assert!(matches!(&opc, Endpoint::OpcUa { url, .. } if url == "opc.tcp://127.0.0.1:40123/mes/tablet"));
        opc.move_to("::1", 5);
        assert!(matches!(&opc, Endpoint::OpcUa { url, .. } if url == "opc.tcp://[::1]:5/mes/tablet"));
        let mut modbus = Endpoint::ModbusTcp { host: "plc".into(), port: 502, timeout: Duration::from_secs(1) };
        modbus.move_to("[::1]", 15020);
        assert_eq!(modbus, Endpoint::ModbusTcp { host: "::1".into(), port: 15020, timeout: Duration::from_secs(1) });
        assert_eq!(modbus.opcua_path(), None);
    }

    use super::*;

    /// A minimal valid Modbus profile; tests break one thing at a time.
    const GOOD: &str = r#"line = "phone-9"
kind = "phone"
[endpoint]
protocol = "modbus_tcp"
host = "127.0.0.1"
port = 5020
[states]
2 = "running"
5 = "fault"
[[stations]]
code = "FT"
kind = "test"
unit_id = 1
handshake = "sequence"
[stations.tags]
state = { address = "hr:0", type = "u16" }
record_seq = { address = "hr:12", type = "u32" }
record_ack = { address = "hr:14", type = "u32" }
serial = { address = "hr:16", type = "string", length = 16 }
result = { address = "hr:32", type = "u16" }
"#;

    fn problems(text: &str) -> Vec<String> {
        match Profile::parse(Path::new("plc-profiles/p.toml"), text) {
            Ok(_) => vec![],
            Err(ProfileError::Invalid { problems }) => problems.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn the_minimal_profile_is_valid() {
        let p = Profile::parse(Path::new("p.toml"), GOOD).unwrap();
        assert_eq!(p.stations[0].tags[&Role::Serial].length, 16);
        assert_eq!(p.stations[0].tags[&Role::Serial].scan, "default");
        assert_eq!(p.states[&2], "running");
    }

    #[test]
    fn vietnamese_names_are_optional_and_checked_like_names() {
        let p = Profile::parse(Path::new("p.toml"), GOOD).unwrap();
        assert_eq!((p.name_vi, p.stations[0].name_vi.clone()), (None, None));
        let named = GOOD
            .replace("kind = \"phone\"\n", "kind = \"phone\"\nname_vi = \"Lắp ráp điện thoại 9\"\n")
            .replace("kind = \"test\"\n", "kind = \"test\"\nname_vi = \"Kiểm tra chức năng\"\n");
        let p = Profile::parse(Path::new("p.toml"), &named).unwrap();
        assert_eq!(p.name_vi.as_deref(), Some("Lắp ráp điện thoại 9"));
        assert_eq!(p.stations[0].name_vi.as_deref(), Some("Kiểm tra chức năng"));
        let broken = GOOD.replace("kind = \"test\"\n", "kind = \"test\"\nname_vi = \"Ki\\u0007m\"\n");
        assert_eq!(
            problems(&broken),
            vec![
                "plc-profiles/p.toml:13:11: stations[0].name_vi: \"Ki\\u{7}m\" contains a control character".to_owned()
            ]
        );
    }

    /// A fault reason's Vietnamese text needs the reason it translates.
    #[test]
    fn vietnamese_fault_reasons_translate_declared_ones() {
        let with = |extra: &str| format!("{GOOD}[fault_reasons]\n100 = \"conveyor jam\"\n[fault_reasons_vi]\n{extra}");
        let p = Profile::parse(Path::new("p.toml"), &with("100 = \"kẹt băng tải\"\n")).unwrap();
        assert_eq!(p.fault_reasons_vi.get(&100).map(String::as_str), Some("kẹt băng tải"));
        assert_eq!(
            problems(&with("101 = \"áp suất chân không thấp\"\n")),
            vec![
                "plc-profiles/p.toml:24:7: fault_reasons_vi.101: fault code 101 has no reason in [fault_reasons] to translate"
                    .to_owned()
            ]
        );
    }

    /// Defect codes may be named in both languages; a bad code or an unknown key is refused
    /// with its place, like any other field.
    #[test]
    fn defect_names_are_read_and_checked() {
        let p = Profile::parse(Path::new("p.toml"), GOOD).unwrap();
        assert!(p.defects.is_empty());
        let named = format!(
            "{GOOD}[defects]\nFT_AUDIO = {{ name = \"Audio test failed\", name_vi = \"Lỗi âm thanh\" }}\nE-17 = {{ name = \"Scratch\" }}\n"
        );
        let p = Profile::parse(Path::new("p.toml"), &named).unwrap();
        assert_eq!(
            p.defects.get("FT_AUDIO"),
            Some(&CodeName { name: "Audio test failed".into(), name_vi: Some("Lỗi âm thanh".into()) })
        );
        assert_eq!(p.defects.get("E-17"), Some(&CodeName { name: "Scratch".into(), name_vi: None }));
        let bad_code = format!("{GOOD}[defects]\n\"FT AUDIO\" = {{ name = \"Audio\" }}\n");
        assert_eq!(
            problems(&bad_code),
            vec![
                "plc-profiles/p.toml:22:23: defects.FT AUDIO: a defect code may only contain ASCII letters, digits, '-', '_' and '.' (at most 64)"
                    .to_owned()
            ]
        );
        let unknown = format!("{GOOD}[defects]\nFT_AUDIO = {{ name = \"Audio\", colour = \"red\" }}\n");
        assert_eq!(problems(&unknown).len(), 1, "{:?}", problems(&unknown));
        assert!(problems(&unknown)[0].contains("colour"), "{:?}", problems(&unknown));
    }

    #[test]
    fn a_dual_sourced_lot_names_its_supplier_tag_and_a_serial_may_not() {
        let lot = format!(
            "{GOOD}[[stations.consumes]]\nkind = \"battery_lot\"\ntracking = \"lot\"\nsupplier = \"Sunwoda\"\n\
             tag = {{ address = \"hr:80\", type = \"string\", length = 16 }}\n\
             supplier_tag = {{ address = \"hr:96\", type = \"string\", length = 16 }}\n"
        );
        let p = Profile::parse(Path::new("p.toml"), &lot).unwrap();
        let consume = &p.stations[0].consumes[0];
        assert_eq!(consume.supplier_tag.as_ref().map(|t| t.length), Some(16));
        assert!(p.stations[0].all_tags().contains(&consume.supplier_tag.as_ref().unwrap()), "read and rendered");
        let serial = lot
            .replace("\"battery_lot\"\ntracking = \"lot\"\nsupplier = \"Sunwoda\"", "\"pcba\"\ntracking = \"serial\"");
        let found = problems(&serial);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("stations[0].consumes[0].supplier_tag: names the supplier of lots"), "{found:?}");
        let number = lot.replace(
            "supplier_tag = { address = \"hr:96\", type = \"string\"",
            "supplier_tag = { address = \"hr:96\", type = \"u16\"",
        );
        assert!(problems(&number).iter().any(|p| p.contains("supplier_tag")), "{:?}", problems(&number));
    }

    #[test]
    fn repair_actions_are_named_and_checked_as_defects_are() {
        let named = format!("{GOOD}[repair_actions]\nRESOLDER = {{ name = \"Resoldered\", name_vi = \"Hàn lại\" }}\n");
        let p = Profile::parse(Path::new("p.toml"), &named).unwrap();
        assert_eq!(
            p.repair_actions.get("RESOLDER"),
            Some(&CodeName { name: "Resoldered".into(), name_vi: Some("Hàn lại".into()) })
        );
        assert!(p.defects.is_empty());
        let bad = format!("{GOOD}[repair_actions]\n\"RE SOLDER\" = {{ name = \"Resoldered\" }}\n");
        let found = problems(&bad);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("repair_actions.RE SOLDER: a repair action code may only contain"), "{found:?}");
    }

    #[test]
    fn a_wrong_type_is_named_with_file_line_and_field() {
        let text = GOOD.replace(
            r#"result = { address = "hr:32", type = "u16" }"#,
            r#"result = { address = "hr:32", type = "f32" }"#,
        );
        assert_eq!(
            problems(&text),
            vec![
                "plc-profiles/p.toml:20:38: stations[0].tags.result.type: F32 is not allowed here; use one of [U16, I16]"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn overlapping_addresses_are_refused() {
        let text = GOOD.replace(r#"address = "hr:14", type = "u32""#, r#"address = "hr:13", type = "u32""#);
        assert_eq!(
            problems(&text),
            vec![
                "plc-profiles/p.toml:18:26: stations[0].tags.record_ack.address: registers 13..=14 overlap stations[0].tags.record_seq"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn an_unknown_role_is_refused_with_its_position() {
        let text =
            GOOD.replace("[stations.tags]\n", "[stations.tags]\nspeed = { address = \"hr:90\", type = \"u16\" }\n");
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("plc-profiles/p.toml:16:1: stations[0].tags.speed: unknown field `speed`"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn type_errors_and_broken_rules_are_all_reported_at_once_with_their_fields() {
        let text = GOOD
            .replace("unit_id = 1", "unit_id = 300\nring_size = 0")
            .replace("port = 5020", "port = -1")
            .replace("[stations.tags]\n", "[stations.tags]\nspeed = { address = \"hr:90\", type = \"u16\" }\n")
            .replace(
                r#"result = { address = "hr:32", type = "u16" }"#,
                r#"result = { address = "hr:32", type = "u16", scale = nan }"#,
            )
            + "[[stations.measurements]]\nname = \"torque\"\nlower = 5.0\nupper = 1.0\ntag = { address = \"hr:40\", type = \"f32\" }\n";
        let text = text.replacen("kind = \"phone\"", &format!("kind = \"phone\"\nname = \"{}\"", "x".repeat(300)), 1);
        let found = problems(&text);
        let has = |needle: &str| found.iter().any(|p| p.contains(needle));
        for needle in [
            "p.toml:3:8: name: is 300 characters long; at most 200",
            "endpoint.port: invalid value: integer `-1`",
            "stations[0].unit_id: invalid value: integer `300`",
            "stations[0].ring_size: a PLC holds at least one unacknowledged record",
            "stations[0].tags.speed: unknown field `speed`",
            "stations[0].tags.result.scale: NaN is not a finite number",
            "stations[0].measurements[0].lower: the lower limit 5 is above the upper limit 1",
        ] {
            assert!(has(needle), "{needle:?} missing from {found:#?}");
        }
        // Nothing said twice: what was refused for its type is not also "missing".
        assert!(!has("needs its unit id") && !has("is required for modbus_tcp"), "{found:#?}");
        assert_eq!(found.len(), 7, "{found:#?}");
        let lines: Vec<usize> = found.iter().map(|p| p.split(':').nth(1).unwrap().parse().unwrap()).collect();
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "in file order: {found:#?}");
    }

    #[test]
    fn a_station_may_be_a_plc_of_its_own_inheriting_the_lines_endpoint() {
        let own = GOOD.replace(
            "handshake = \"sequence\"\n",
            "handshake = \"sequence\"\n[stations.endpoint]\nhost = \"10.0.0.7\"\n",
        );
        let p = Profile::parse(Path::new("p.toml"), &own).unwrap();
        assert_eq!(
            p.stations[0].endpoint,
            Some(Endpoint::ModbusTcp { host: "10.0.0.7".into(), port: 5020, timeout: Duration::from_secs(1) }),
            "host of its own, port and timeout from the line"
        );
        assert_eq!(Profile::parse(Path::new("p.toml"), GOOD).unwrap().stations[0].endpoint, None);
        let wrong = GOOD.replace(
            "handshake = \"sequence\"\n",
            "handshake = \"sequence\"\n[stations.endpoint]\nurl = \"opc.tcp://x:1\"\nspeed = 3\n",
        );
        let found = problems(&wrong);
        assert!(found.iter().any(|p| p.contains("stations[0].endpoint.speed: unknown field")), "{found:#?}");
        assert!(
            found.iter().any(|p| p.contains("stations[0].endpoint.url: is for OPC UA endpoints only")),
            "{found:#?}"
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_the_position_of_the_first_bad_byte() {
        let dir = std::env::temp_dir().join(format!("plc-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        let mut bytes = GOOD.as_bytes().to_vec();
        let at = GOOD.find("FT").unwrap();
        bytes[at] = 0xff;
        std::fs::write(&file, &bytes).unwrap();
        let e = Profile::load(&file).unwrap_err().to_string();
        assert!(e.contains("bad.toml:11:9") && e.contains("0xff") && e.contains("not UTF-8"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_field_is_refused() {
        let text = GOOD.replace("serial = { address = \"hr:16\", type = \"string\", length = 16 }\n", "");
        assert_eq!(
            problems(&text),
            vec![
                "plc-profiles/p.toml:15:1: stations[0].tags.serial: is required for this station's handshake"
                    .to_owned()
            ]
        );
        let no_port = GOOD.replace("port = 5020\n", "");
        assert_eq!(
            problems(&no_port),
            vec!["plc-profiles/p.toml:4:12: endpoint.port: is required for modbus_tcp".to_owned()]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = GOOD
            .replace("hr:0\"", "hr:70000\"")
            .replace("unit_id = 1", "unit_id = 0")
            .replace("\"sequence\"", "\"sometimes\"")
            .replace("5 = \"fault\"", "5 = \"broken\"");
        let found = problems(&text);
        let fields: Vec<&str> = found.iter().map(|p| p.split(": ").next().unwrap_or("")).collect();
        assert_eq!(
            fields,
            vec![
                "plc-profiles/p.toml:9:5",
                "plc-profiles/p.toml:13:11",
                "plc-profiles/p.toml:14:13",
                "plc-profiles/p.toml:16:21"
            ],
            "{found:#?}"
        );
        assert!(found[3].contains("70000 is out of range 0..=65535"), "{}", found[3]);
    }

    #[test]
    fn the_mes_must_be_able_to_write_what_it_acknowledges() {
        let text = GOOD.replace(r#"record_ack = { address = "hr:14""#, r#"record_ack = { address = "ir:14""#);
        assert_eq!(problems(&text).len(), 1);
        assert!(problems(&text)[0].contains("the MES writes this tag: use hr: or co:"));
    }

    #[test]
    fn opc_ua_profiles_take_node_ids_and_no_unit_ids() {
        let text = GOOD
            .replace(
                "protocol = \"modbus_tcp\"\nhost = \"127.0.0.1\"\nport = 5020",
                "protocol = \"opcua\"\nurl = \"opc.tcp://h:4840/x\"",
            )
            .replace("unit_id = 1\n", "")
            .replace("\"hr:0\"", "\"ns=2;s=L.FT.State\"")
            .replace("\"hr:12\"", "\"nsu=urn:mes:simulator;s=L.FT.RecordSeq\"")
            .replace("\"hr:14\"", "\"ns=2;i=1001\"")
            .replace("\"hr:16\", type = \"string\", length = 16", "\"ns=2;s=L.FT.Serial\", type = \"string\"")
            .replace("\"hr:32\"", "\"L.FT.Result\"");
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("stations[0].tags.result.address: \"L.FT.Result\" is not an OPC UA node id"),
            "{}",
            found[0]
        );
    }
}
