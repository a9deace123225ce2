//! The MES library: everything the `mes` binary does, usable from tests and benches.
//!
//! # Layout
//!
//! - [`domain`]: pure types and rules (ids, units, records, genealogy, states, shifts); no I/O.
//! - [`store`]: the relational store on sea-orm (SQLite or PostgreSQL); the only sea_orm user.
//! - [`acquisition`]: PLC drivers, the unit-record handshake, per-line collectors and the ports
//!   they commit through.
//! - [`audit`]: the investor audit ledger: closing periods into signed entries, checkpoints, verification.
//! - [`figures`]: the KPI documents (yield, Pareto, downtime, OEE) every output shows, read once.
//! - [`present`]: words, number formats and charts (plotters), shared by the pages and the reports.
//! - [`reports`]: the printable shift, yield, trace and audit reports (templates in `reports/`).
//! - [`web`]: the HTTP front (JSON API and its OpenAPI document); the only actix user.
//! - [`telemetry`]: the Prometheus metric names and the process recorder behind `/metrics`.
//! - [`config`]: `mes.toml`, parsed with spans so errors name file, line and key.
//! - [`work`]: costly reads and computations off the async threads, stopped when their caller goes away.
//! - [`bench`]: what benchmarks, tests and `mes demo --history` generate (the sample plant);
//!   never imported by the service's modules (the store's benchmark loaders are `store::bench`).
//!
//! Dependency rule: `cli → {acquisition, store} → domain`; `acquisition` commits through its own
//! `sink` ports, which `store` implements (the one thing the store takes from acquisition);
//! `domain` imports nothing of ours but `plc-contract`.

pub mod acquisition;
pub mod audit;
pub mod bench;
pub mod config;
pub mod domain;
pub mod figures;
pub mod present;
pub mod reports;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod work;
