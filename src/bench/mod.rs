//! Generated plants for benchmarks, tests and `mes demo --history`: nothing here is a production
//! path, and the service's modules (acquisition, store, figures, web, reports, audit) never
//! import it (`tests/it/tidy.rs`).

pub mod sample_plant;
