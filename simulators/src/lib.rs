//! Bundled line simulators: seeded, clocked, fault-injectable PLCs of the SMT, phone and tablet
//! lines, speaking Modbus TCP and OPC UA exactly as `plc-profiles/` describes (SPEC §3).
//!
//! - [`plc`]: a station PLC without I/O — the three record handshakes (sequence number with
//!   acknowledgement; ready flag cleared by the MES; ready flag with a separate acknowledge
//!   flag), a ring buffer of unacknowledged records (the station blocks when it is full),
//!   counters that wrap at their register width, boot epoch and restart (records keep their
//!   identity), state and fault words, feeder reels, the unit-validation request/answer, and
//!   offer-to-acknowledgement timing for benchmarks;
//! - [`image`]: a line's stations — the values each PLC shows, MES writes fed back — and, for
//!   Modbus lines, the register memory rendered through the shared codecs; load-mode tags;
//! - [`modbus`]: the Modbus TCP server front (tokio-modbus) with real exception responses and
//!   link faults; [`opcua`]: the OPC UA server front (async-opcua), object per station, live
//!   variables, writable acknowledgement and an `Acknowledge` method, None and SignAndEncrypt;
//! - [`line`]: the flow of units through a line in simulated time — cycle times, buffers
//!   (starved and blocked states), test failures with a repair loop, scrap, breakdowns, lots,
//!   reels that run out and are changed or spliced, serialised parts from a supply (cross-line
//!   PCBA) validated at line entry, IMEI at pack — deterministic per seed, producing the ground
//!   truth of every accepted record and every validation;
//! - [`faults`]: `--faults` (link cuts, stalls, busy answers, PLC restarts, counter resets and
//!   jumps, breakdowns, route violations);
//! - [`run`]: lines against the wall clock (`mes simulate`): engines in lockstep, servers,
//!   boards handed from the SMT line to the phone and tablet lines, faults, ground truth.
//!
//! The ground-truth line formats are `plc_contract::StationResultLine` (shared with the MES
//! export) and `plc_contract::ValidationLine`.

pub mod faults;
pub mod image;
pub mod line;
pub mod modbus;
pub mod opcua;
pub mod plc;
pub mod run;

pub use plc_contract::StationResultLine as GroundTruthLine;
