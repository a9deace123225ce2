//! Benchmark code only, kept apart from the production write path: the factory-sized bulk
//! loader ([`bulk`], which writes ids itself, drops indexes and skips foreign-key triggers) and
//! the plain insert loop ingest is measured against ([`baseline`]). It lives under the store
//! because it writes the store's own schema, but no other module of the service imports it
//! (`tests/it/tidy.rs`): only `mes bench` does.

pub mod baseline;
pub mod bulk;
