//! The integration test binary: one module per area, sharing the harness.

mod cli;
mod harness;
mod store;
