//! The initial schema: equipment (ISA-95), products and routes, work orders, units, station
//! results with defects and measurements, genealogy edges, material lots, machine state
//! intervals, counter samples, holds, the audit ledger and users.
//!
//! Natural keys make re-delivery harmless: a station result is unique on
//! (line, station, PLC epoch, PLC sequence); units on serial; lots on code.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sites {
    Table,
    Id,
    Code,
    Name,
    TimeZone,
}
#[derive(DeriveIden)]
enum Areas {
    Table,
    Id,
    SiteId,
    Code,
    Name,
}
#[derive(DeriveIden)]
enum Lines {
    Table,
    Id,
    AreaId,
    Code,
    Name,
    Kind,
}
#[derive(DeriveIden)]
enum Stations {
    Table,
    Id,
    LineId,
    Code,
    Name,
    Position,
    Kind,
}
#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Code,
    Name,
    TraceabilityLevel,
    OpportunitiesPerUnit,
}
#[derive(DeriveIden)]
enum Routes {
    Table,
    Id,
    ProductId,
    LineId,
    Version,
}
#[derive(DeriveIden)]
enum RouteSteps {
    Table,
    Id,
    RouteId,
    Position,
    StationId,
    Operation,
}
#[derive(DeriveIden)]
enum WorkOrders {
    Table,
    Id,
    Code,
    ProductId,
    LineId,
    PlannedQuantity,
}
#[derive(DeriveIden)]
enum Units {
    Table,
    Id,
    Serial,
    ProductId,
    WorkOrderId,
    Status,
    FirstSeenAt,
}
#[derive(DeriveIden)]
enum MaterialLots {
    Table,
    Id,
    Code,
    Kind,
    PartNumber,
    Quantity,
    FirstSeenAt,
}
#[derive(DeriveIden)]
enum StationResults {
    Table,
    Id,
    LineId,
    StationId,
    PlcEpoch,
    Seq,
    UnitId,
    WorkOrderId,
    Result,
    StartedAt,
    EndedAt,
    CycleTimeMs,
    Program,
    RecordedAt,
}
#[derive(DeriveIden)]
enum StationResultDefects {
    Table,
    Id,
    StationResultId,
    Position,
    Code,
    RefDesignator,
}
#[derive(DeriveIden)]
enum StationResultMeasurements {
    Table,
    Id,
    StationResultId,
    Position,
    Name,
    Value,
    Unit,
    LowerLimit,
    UpperLimit,
}
#[derive(DeriveIden)]
enum GenealogyEdges {
    Table,
    Id,
    ParentUnitId,
    ChildUnitId,
    ChildLotId,
    ChildKind,
    StationResultId,
    Position,
    RefDesignator,
    Certainty,
}
#[derive(DeriveIden)]
enum StateIntervals {
    Table,
    Id,
    StationId,
    StartedAt,
    EndedAt,
    PlcCode,
    State,
    E10State,
    FaultCode,
    Reason,
}
#[derive(DeriveIden)]
enum CounterSamples {
    Table,
    Id,
    StationId,
    Counter,
    PlcEpoch,
    SampledAt,
    RawValue,
    WidthBits,
}
#[derive(DeriveIden)]
enum Holds {
    Table,
    Id,
    TargetKind,
    UnitId,
    LotId,
    Reason,
    PlacedBy,
    PlacedAt,
    ReleasedBy,
    ReleasedAt,
}
#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    Seq,
    LineId,
    PeriodStart,
    PeriodEnd,
    Kind,
    Payload,
    CorrectsSeq,
    Author,
    Reason,
    PrevHash,
    Hash,
    Signature,
    CreatedAt,
}
#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
}

pub(crate) fn fk(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .take()
}

pub(crate) fn index(name: &str, table: impl IntoIden, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for column in columns {
        stmt.col(Alias::new(*column));
    }
    if unique {
        stmt.unique();
    }
    stmt.take()
}

/// Tables in creation order; dropped in reverse.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Sites::Table)
            .col(big_pk_auto(Sites::Id))
            .col(string_uniq(Sites::Code))
            .col(string(Sites::Name))
            .col(string(Sites::TimeZone))
            .take(),
        Table::create()
            .table(Areas::Table)
            .col(big_pk_auto(Areas::Id))
            .col(big_integer(Areas::SiteId))
            .col(string(Areas::Code))
            .col(string(Areas::Name))
            .foreign_key(&mut fk((Areas::Table, Areas::SiteId), (Sites::Table, Sites::Id)))
            .take(),
        Table::create()
            .table(Lines::Table)
            .col(big_pk_auto(Lines::Id))
            .col(big_integer(Lines::AreaId))
            .col(string_uniq(Lines::Code))
            .col(string(Lines::Name))
            .col(string(Lines::Kind))
            .foreign_key(&mut fk((Lines::Table, Lines::AreaId), (Areas::Table, Areas::Id)))
            .take(),
        Table::create()
            .table(Stations::Table)
            .col(big_pk_auto(Stations::Id))
            .col(big_integer(Stations::LineId))
            .col(string(Stations::Code))
            .col(string(Stations::Name))
            .col(integer(Stations::Position))
            .col(string(Stations::Kind))
            .foreign_key(&mut fk((Stations::Table, Stations::LineId), (Lines::Table, Lines::Id)))
            .take(),
        Table::create()
            .table(Products::Table)
            .col(big_pk_auto(Products::Id))
            .col(string_uniq(Products::Code))
            .col(string(Products::Name))
            .col(string(Products::TraceabilityLevel))
            .col(integer(Products::OpportunitiesPerUnit))
            .take(),
        Table::create()
            .table(Routes::Table)
            .col(big_pk_auto(Routes::Id))
            .col(big_integer(Routes::ProductId))
            .col(big_integer(Routes::LineId))
            .col(integer(Routes::Version))
            .foreign_key(&mut fk((Routes::Table, Routes::ProductId), (Products::Table, Products::Id)))
            .foreign_key(&mut fk((Routes::Table, Routes::LineId), (Lines::Table, Lines::Id)))
            .take(),
        Table::create()
            .table(RouteSteps::Table)
            .col(big_pk_auto(RouteSteps::Id))
            .col(big_integer(RouteSteps::RouteId))
            .col(integer(RouteSteps::Position))
            .col(big_integer(RouteSteps::StationId))
            .col(string(RouteSteps::Operation))
            .foreign_key(&mut fk((RouteSteps::Table, RouteSteps::RouteId), (Routes::Table, Routes::Id)))
            .foreign_key(&mut fk((RouteSteps::Table, RouteSteps::StationId), (Stations::Table, Stations::Id)))
            .take(),
        Table::create()
            .table(WorkOrders::Table)
            .col(big_pk_auto(WorkOrders::Id))
            .col(string_uniq(WorkOrders::Code))
            .col(big_integer(WorkOrders::ProductId))
            .col(big_integer(WorkOrders::LineId))
            .col(integer(WorkOrders::PlannedQuantity))
            .foreign_key(&mut fk((WorkOrders::Table, WorkOrders::ProductId), (Products::Table, Products::Id)))
            .foreign_key(&mut fk((WorkOrders::Table, WorkOrders::LineId), (Lines::Table, Lines::Id)))
            .take(),
        Table::create()
            .table(Units::Table)
            .col(big_pk_auto(Units::Id))
            .col(text_uniq(Units::Serial))
            .col(big_integer_null(Units::ProductId))
            .col(big_integer_null(Units::WorkOrderId))
            .col(string(Units::Status))
            .col(timestamp_with_time_zone(Units::FirstSeenAt))
            .foreign_key(&mut fk((Units::Table, Units::ProductId), (Products::Table, Products::Id)))
            .foreign_key(&mut fk((Units::Table, Units::WorkOrderId), (WorkOrders::Table, WorkOrders::Id)))
            .take(),
        Table::create()
            .table(MaterialLots::Table)
            .col(big_pk_auto(MaterialLots::Id))
            .col(text_uniq(MaterialLots::Code))
            .col(string(MaterialLots::Kind))
            .col(string_null(MaterialLots::PartNumber))
            .col(integer_null(MaterialLots::Quantity))
            .col(timestamp_with_time_zone(MaterialLots::FirstSeenAt))
            .take(),
        Table::create()
            .table(StationResults::Table)
            .col(big_pk_auto(StationResults::Id))
            .col(big_integer(StationResults::LineId))
            .col(big_integer(StationResults::StationId))
            .col(big_integer(StationResults::PlcEpoch))
            .col(big_integer(StationResults::Seq))
            .col(big_integer(StationResults::UnitId))
            .col(big_integer_null(StationResults::WorkOrderId))
            .col(string(StationResults::Result).check(Expr::col(StationResults::Result).is_in(["pass", "fail"])))
            .col(timestamp_with_time_zone_null(StationResults::StartedAt))
            .col(timestamp_with_time_zone(StationResults::EndedAt))
            .col(integer_null(StationResults::CycleTimeMs))
            .col(string_null(StationResults::Program))
            .col(timestamp_with_time_zone(StationResults::RecordedAt))
            .foreign_key(&mut fk((StationResults::Table, StationResults::LineId), (Lines::Table, Lines::Id)))
            .foreign_key(&mut fk((StationResults::Table, StationResults::StationId), (Stations::Table, Stations::Id)))
            .foreign_key(&mut fk((StationResults::Table, StationResults::UnitId), (Units::Table, Units::Id)))
            .foreign_key(&mut fk(
                (StationResults::Table, StationResults::WorkOrderId),
                (WorkOrders::Table, WorkOrders::Id),
            ))
            .take(),
        Table::create()
            .table(StationResultDefects::Table)
            .col(big_pk_auto(StationResultDefects::Id))
            .col(big_integer(StationResultDefects::StationResultId))
            .col(integer(StationResultDefects::Position))
            .col(string(StationResultDefects::Code))
            .col(string_null(StationResultDefects::RefDesignator))
            .foreign_key(&mut fk(
                (StationResultDefects::Table, StationResultDefects::StationResultId),
                (StationResults::Table, StationResults::Id),
            ))
            .take(),
        Table::create()
            .table(StationResultMeasurements::Table)
            .col(big_pk_auto(StationResultMeasurements::Id))
            .col(big_integer(StationResultMeasurements::StationResultId))
            .col(integer(StationResultMeasurements::Position))
            .col(string(StationResultMeasurements::Name))
            .col(double(StationResultMeasurements::Value))
            .col(string_null(StationResultMeasurements::Unit))
            .col(double_null(StationResultMeasurements::LowerLimit))
            .col(double_null(StationResultMeasurements::UpperLimit))
            .foreign_key(&mut fk(
                (StationResultMeasurements::Table, StationResultMeasurements::StationResultId),
                (StationResults::Table, StationResults::Id),
            ))
            .take(),
        Table::create()
            .table(GenealogyEdges::Table)
            .col(big_pk_auto(GenealogyEdges::Id))
            .col(big_integer(GenealogyEdges::ParentUnitId))
            .col(big_integer_null(GenealogyEdges::ChildUnitId))
            .col(big_integer_null(GenealogyEdges::ChildLotId))
            .col(string(GenealogyEdges::ChildKind))
            .col(big_integer(GenealogyEdges::StationResultId))
            .col(integer(GenealogyEdges::Position))
            .col(string_null(GenealogyEdges::RefDesignator))
            .col(
                string(GenealogyEdges::Certainty)
                    .check(Expr::col(GenealogyEdges::Certainty).is_in(["certain", "possible"])),
            )
            // Exactly one child: a serialised unit or a lot.
            .check(
                Expr::col(GenealogyEdges::ChildUnitId)
                    .is_null()
                    .and(Expr::col(GenealogyEdges::ChildLotId).is_not_null())
                    .or(Expr::col(GenealogyEdges::ChildUnitId)
                        .is_not_null()
                        .and(Expr::col(GenealogyEdges::ChildLotId).is_null())),
            )
            .foreign_key(&mut fk((GenealogyEdges::Table, GenealogyEdges::ParentUnitId), (Units::Table, Units::Id)))
            .foreign_key(&mut fk((GenealogyEdges::Table, GenealogyEdges::ChildUnitId), (Units::Table, Units::Id)))
            .foreign_key(&mut fk(
                (GenealogyEdges::Table, GenealogyEdges::ChildLotId),
                (MaterialLots::Table, MaterialLots::Id),
            ))
            .foreign_key(&mut fk(
                (GenealogyEdges::Table, GenealogyEdges::StationResultId),
                (StationResults::Table, StationResults::Id),
            ))
            .take(),
        Table::create()
            .table(StateIntervals::Table)
            .col(big_pk_auto(StateIntervals::Id))
            .col(big_integer(StateIntervals::StationId))
            .col(timestamp_with_time_zone(StateIntervals::StartedAt))
            .col(timestamp_with_time_zone_null(StateIntervals::EndedAt))
            .col(integer(StateIntervals::PlcCode))
            .col(string(StateIntervals::State))
            .col(string(StateIntervals::E10State))
            .col(integer_null(StateIntervals::FaultCode))
            .col(string_null(StateIntervals::Reason))
            .foreign_key(&mut fk((StateIntervals::Table, StateIntervals::StationId), (Stations::Table, Stations::Id)))
            .take(),
        Table::create()
            .table(CounterSamples::Table)
            .col(big_pk_auto(CounterSamples::Id))
            .col(big_integer(CounterSamples::StationId))
            .col(string(CounterSamples::Counter))
            .col(big_integer(CounterSamples::PlcEpoch))
            .col(timestamp_with_time_zone(CounterSamples::SampledAt))
            .col(big_integer(CounterSamples::RawValue))
            .col(small_integer(CounterSamples::WidthBits))
            .foreign_key(&mut fk((CounterSamples::Table, CounterSamples::StationId), (Stations::Table, Stations::Id)))
            .take(),
        Table::create()
            .table(Holds::Table)
            .col(big_pk_auto(Holds::Id))
            .col(string(Holds::TargetKind))
            .col(big_integer_null(Holds::UnitId))
            .col(big_integer_null(Holds::LotId))
            .col(text(Holds::Reason))
            .col(string(Holds::PlacedBy))
            .col(timestamp_with_time_zone(Holds::PlacedAt))
            .col(string_null(Holds::ReleasedBy))
            .col(timestamp_with_time_zone_null(Holds::ReleasedAt))
            .foreign_key(&mut fk((Holds::Table, Holds::UnitId), (Units::Table, Units::Id)))
            .foreign_key(&mut fk((Holds::Table, Holds::LotId), (MaterialLots::Table, MaterialLots::Id)))
            .take(),
        Table::create()
            .table(LedgerEntries::Table)
            .col(big_pk_auto(LedgerEntries::Id))
            .col(big_integer_uniq(LedgerEntries::Seq))
            .col(big_integer_null(LedgerEntries::LineId))
            .col(timestamp_with_time_zone(LedgerEntries::PeriodStart))
            .col(timestamp_with_time_zone(LedgerEntries::PeriodEnd))
            .col(string(LedgerEntries::Kind))
            .col(text(LedgerEntries::Payload))
            .col(big_integer_null(LedgerEntries::CorrectsSeq))
            .col(string(LedgerEntries::Author))
            .col(text_null(LedgerEntries::Reason))
            .col(string(LedgerEntries::PrevHash))
            .col(string_uniq(LedgerEntries::Hash))
            .col(string(LedgerEntries::Signature))
            .col(timestamp_with_time_zone(LedgerEntries::CreatedAt))
            .foreign_key(&mut fk((LedgerEntries::Table, LedgerEntries::LineId), (Lines::Table, Lines::Id)))
            .take(),
        Table::create()
            .table(Users::Table)
            .col(big_pk_auto(Users::Id))
            .col(string_uniq(Users::Username))
            .col(string(Users::PasswordHash))
            .col(string(Users::Role))
            .col(boolean(Users::Disabled).default(false))
            .col(timestamp_with_time_zone(Users::CreatedAt))
            .take(),
    ]
}

/// Indexes: the natural keys, and what trace, yield and export queries filter on.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("ux_areas_site_code", Areas::Table, &["site_id", "code"], true),
        index("ux_stations_line_code", Stations::Table, &["line_id", "code"], true),
        index("ux_routes_product_line_version", Routes::Table, &["product_id", "line_id", "version"], true),
        index("ux_route_steps_route_position", RouteSteps::Table, &["route_id", "position"], true),
        // The natural key of a unit record: re-delivery after a reconnect or crash is a no-op.
        index(
            "ux_station_results_natural_key",
            StationResults::Table,
            &["line_id", "station_id", "plc_epoch", "seq"],
            true,
        ),
        // Visits of a unit in time order (trace, first-pass detection).
        index("ix_station_results_unit", StationResults::Table, &["unit_id", "station_id", "ended_at"], false),
        // Yield and export by station or line and time.
        index("ix_station_results_station_time", StationResults::Table, &["station_id", "ended_at"], false),
        index("ix_station_results_line_time", StationResults::Table, &["line_id", "ended_at"], false),
        index("ix_defects_result", StationResultDefects::Table, &["station_result_id"], false),
        index("ix_defects_code", StationResultDefects::Table, &["code"], false),
        index("ix_measurements_result", StationResultMeasurements::Table, &["station_result_id"], false),
        // Backward trace walks parent → children; forward trace walks child → parents.
        index("ix_edges_parent", GenealogyEdges::Table, &["parent_unit_id"], false),
        index("ix_edges_child_unit", GenealogyEdges::Table, &["child_unit_id"], false),
        index("ix_edges_child_lot", GenealogyEdges::Table, &["child_lot_id"], false),
        index("ix_edges_result", GenealogyEdges::Table, &["station_result_id"], false),
        index("ux_state_intervals_station_start", StateIntervals::Table, &["station_id", "started_at"], true),
        index("ux_counter_samples_natural_key", CounterSamples::Table, &["station_id", "counter", "sampled_at"], true),
        index("ix_holds_unit", Holds::Table, &["unit_id"], false),
        index("ix_holds_lot", Holds::Table, &["lot_id"], false),
        index("ix_units_work_order", Units::Table, &["work_order_id"], false),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables().into_iter().rev() {
            let name =
                table.get_table_name().cloned().ok_or_else(|| DbErr::Migration("table without a name".into()))?;
            manager.drop_table(Table::drop().table(name).take()).await?;
        }
        Ok(())
    }
}
