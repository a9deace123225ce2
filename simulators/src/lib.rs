//! Bundled line simulators: seeded, clocked, fault-injectable PLCs of the SMT, phone and tablet
//! lines, speaking Modbus TCP and OPC UA exactly as `plc-profiles/` describes (SPEC §3).
//!
//! Built so far (issue #3 in progress):
//! - [`plc`]: a station PLC without I/O — the three record handshakes (sequence number with
//!   acknowledgement; ready flag cleared by the MES; ready flag with a separate acknowledge
//!   flag), a ring buffer of unacknowledged records (the station blocks when it is full),
//!   counters that wrap at their register width, boot epoch and restart, state and fault words,
//!   feeder reels, and the unit-validation request/answer registers;
//! - [`image`]: a Modbus line's register image rendered from its profile through the shared
//!   codecs, with MES acknowledgements fed back to the PLCs;
//! - [`modbus`]: the Modbus TCP server front (tokio-modbus) with real exception responses;
//! - [`line`]: the flow of units through a line in simulated time — cycle times, buffers
//!   (starved and blocked states), test failures with a repair loop, scrap, breakdowns, lots,
//!   feeder reels that run out and are changed (ambiguous changes list both reels),
//!   serialised parts from a supply (cross-line PCBA), a PLC that blocks the station when its
//!   ring is full — deterministic per seed, producing the ground truth of every accepted record.
//!
//! - [`run`]: lines against the wall clock (`mes simulate`): engines in lockstep, register
//!   images served over Modbus TCP, SMT boards feeding the phone line, ground truth appended.
//!
//! Not yet: OPC UA (the tablet line), fault injection, load mode, IMEI at pack, the validation
//! interlock driven by the flow (its registers exist). The ground-truth line format is
//! `plc_contract::StationResultLine`, which the MES export shares.

pub mod faults;
pub mod image;
pub mod line;
pub mod modbus;
pub mod opcua;
pub mod plc;
pub mod run;

pub use plc_contract::StationResultLine as GroundTruthLine;
