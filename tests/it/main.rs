//! The integration test binary: one module per area, sharing the harness.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod browser;
mod cli;
mod collect;
mod hardening;
mod harness;
mod ledger;
mod reports;
mod simulate;
mod store;
mod tidy;
mod vietnamese;
