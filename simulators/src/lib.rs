//! Bundled line simulators: seeded, clocked, fault-injectable PLCs of the SMT, phone and tablet
//! lines, speaking Modbus TCP and OPC UA exactly as `plc-profiles/` describes (SPEC §3).
//!
//! Status: this workspace member exists so the layout is stable; the simulators themselves are
//! issue #3 and nothing here runs yet. Their ground-truth format already lives in
//! `plc-contract` and the MES exports the same keys.

pub use plc_contract::StationResultLine as GroundTruthLine;
