//! sea-orm entities of the tables the store reads and writes, one module per table. They mirror
//! `migrations/` exactly; the migration is the source of truth for constraints and indexes.
#![allow(missing_docs)]

macro_rules! entity {
    ($module:ident, $table:literal, { $($field:ident : $ty:ty),* $(,)? }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key)]
                pub id: i64,
                $(pub $field: $ty,)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(site, "sites", { code: String, name: String, time_zone: String });
entity!(area, "areas", { site_id: i64, code: String, name: String });
entity!(line, "lines", { area_id: i64, code: String, name: String, kind: String, name_vi: Option<String> });
entity!(station, "stations", {
    line_id: i64, code: String, name: String, position: i32, kind: String, ideal_cycle_ms: Option<i32>,
    name_vi: Option<String>,
});
entity!(product, "products", {
    code: String, name: String, traceability_level: String, opportunities_per_unit: i32,
    name_vi: Option<String>,
});
entity!(defect_code, "defect_codes", { code: String, name: String, name_vi: Option<String> });
entity!(repair_action_code, "repair_action_codes", { code: String, name: String, name_vi: Option<String> });
entity!(fault_reason, "fault_reasons", { reason: String, name_vi: String });
entity!(route, "routes", { product_id: i64, line_id: i64, version: i32 });
entity!(route_step, "route_steps", { route_id: i64, position: i32, station_id: i64, operation: String });
entity!(work_order, "work_orders", { code: String, product_id: i64, line_id: i64, planned_quantity: i32 });
entity!(unit, "units", {
    serial: String, product_id: Option<i64>, work_order_id: Option<i64>, status: String,
    first_seen_at: DateTimeUtc,
});
entity!(material_lot, "material_lots", {
    code: String, kind: String, part_number: String, supplier: String, quantity: Option<i32>,
    first_seen_at: DateTimeUtc,
});
entity!(station_result, "station_results", {
    line_id: i64, station_id: i64, plc_epoch: i64, seq: i64, unit_id: i64,
    work_order_id: Option<i64>, result: String, started_at: Option<DateTimeUtc>,
    ended_at: DateTimeUtc, cycle_time_ms: Option<i32>, program: Option<String>,
    repair_action: Option<String>, recorded_at: DateTimeUtc,
});
entity!(defect, "station_result_defects", {
    station_result_id: i64, position: i32, code: String, ref_designator: Option<String>,
});
entity!(measurement, "station_result_measurements", {
    station_result_id: i64, position: i32, name: String, value: f64, unit: Option<String>,
    lower_limit: Option<f64>, upper_limit: Option<f64>,
});
entity!(genealogy_edge, "genealogy_edges", {
    parent_unit_id: i64, child_unit_id: Option<i64>, child_lot_id: Option<i64>, child_kind: String,
    station_result_id: i64, position: i32, ref_designator: Option<String>, certainty: String,
});
entity!(state_interval, "state_intervals", {
    station_id: i64, started_at: DateTimeUtc, ended_at: Option<DateTimeUtc>, plc_code: i32,
    state: String, e10_state: String, fault_code: Option<i32>, reason: Option<String>,
});
entity!(counter_sample, "counter_samples", {
    station_id: i64, counter: String, plc_epoch: i64, sampled_at: DateTimeUtc, raw_value: i64,
    width_bits: i16,
});
