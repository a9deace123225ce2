//! Master data: registering a plant (site, areas, lines, stations, products, routes, work
//! orders, defect and repair action catalogues) idempotently by code, and resolving codes to ids for the writer.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entities::{
    area, defect_code, fault_reason, line, product, repair_action_code, route, route_step, site, station, work_order,
};
use super::sql::do_nothing_on;
use super::writer::{exprs, insert_rows};
use super::{MasterKind, Store, StoreError};
use crate::domain::equipment::StationKind;
use crate::domain::plant::{CodeName, CodeNames, PlantModel, ReasonNames};

/// The advisory lock registrations take turns on (`'MER'` in ASCII: the MES's registration; line
/// leases use `'MES'`).
const REGISTRATION_LOCK: i64 = 0x004D_4552;

impl Store {
    /// Registers the plant's master data in one transaction. Idempotent: rows are keyed by
    /// their codes and existing rows are left as they are, so it runs safely at every start.
    /// On PostgreSQL registrations take turns (a transaction-scoped advisory lock): collector
    /// processes starting together insert the same site, areas and products, in different
    /// orders, and deadlocked (found by `mes bench scale`).
    pub async fn register_plant(&self, plant: &PlantModel) -> Result<(), StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        if self.backend == super::Backend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({REGISTRATION_LOCK})"))
                .await
                .map_err(StoreError::db("waiting for other processes' registrations"))?;
        }
        let site = &plant.site;
        insert_ignore(
            &txn,
            site::Entity,
            &[site::Column::Code, site::Column::Name, site::Column::TimeZone],
            [site.code.clone().into(), site.name.clone().into(), site.time_zone.clone().into()],
            &[site::Column::Code],
        )
        .await?;
        let site_id = id_of(&txn, site::Entity::find().filter(site::Column::Code.eq(&site.code))).await?;

        for a in &plant.areas {
            insert_ignore(
                &txn,
                area::Entity,
                &[area::Column::SiteId, area::Column::Code, area::Column::Name],
                [site_id.into(), a.code.clone().into(), a.name.clone().into()],
                &[area::Column::SiteId, area::Column::Code],
            )
            .await?;
        }

        for l in &plant.lines {
            let area =
                area::Entity::find().filter(area::Column::SiteId.eq(site_id)).filter(area::Column::Code.eq(&l.area));
            let area_id = id_of(&txn, area).await?;
            insert_ignore(
                &txn,
                line::Entity,
                &[line::Column::AreaId, line::Column::Code, line::Column::Name, line::Column::Kind],
                [area_id.into(), l.id.to_string().into(), l.name.clone().into(), l.kind.as_str().into()],
                &[line::Column::Code],
            )
            .await?;
            let line_id = id_of(&txn, line::Entity::find().filter(line::Column::Code.eq(l.id.as_str()))).await?;
            // A Vietnamese name is added to lines registered before it was declared: the
            // declared one wins, like the ideal cycle below.
            let vi = l.name_vi.clone().map(|v| (line::Column::NameVi, v.into()));
            declared_wins::<line::Entity>(&txn, vi, line::Column::Id.eq(line_id)).await?;
            for s in &l.stations {
                insert_ignore(
                    &txn,
                    station::Entity,
                    &[
                        station::Column::LineId,
                        station::Column::Code,
                        station::Column::Name,
                        station::Column::Position,
                        station::Column::Kind,
                        station::Column::IdealCycleMs,
                    ],
                    [
                        line_id.into(),
                        s.id.to_string().into(),
                        s.name.clone().into(),
                        small(s.position).into(),
                        s.kind.as_str().into(),
                        s.ideal_cycle_ms.map(small).into(),
                    ],
                    &[station::Column::LineId, station::Column::Code],
                )
                .await?;
                // An ideal cycle time is master data that gets corrected: the declared one wins.
                let declared = [
                    s.name_vi.clone().map(|v| (station::Column::NameVi, v.into())),
                    s.ideal_cycle_ms.map(|c| (station::Column::IdealCycleMs, small(c).into())),
                ];
                let this = sea_orm::Condition::all()
                    .add(station::Column::LineId.eq(line_id))
                    .add(station::Column::Code.eq(s.id.as_str()));
                declared_wins::<station::Entity>(&txn, declared.into_iter().flatten(), this).await?;
            }
        }

        for p in &plant.products {
            insert_ignore(
                &txn,
                product::Entity,
                &[
                    product::Column::Code,
                    product::Column::Name,
                    product::Column::TraceabilityLevel,
                    product::Column::OpportunitiesPerUnit,
                ],
                [
                    p.code.to_string().into(),
                    p.name.clone().into(),
                    p.traceability.to_string().into(),
                    small(p.opportunities_per_unit).into(),
                ],
                &[product::Column::Code],
            )
            .await?;
            let vi = p.name_vi.clone().map(|v| (product::Column::NameVi, v.into()));
            declared_wins::<product::Entity>(&txn, vi, product::Column::Code.eq(p.code.as_str())).await?;
        }

        for r in &plant.routes {
            let product_id =
                id_of(&txn, product::Entity::find().filter(product::Column::Code.eq(r.product.as_str()))).await?;
            let line_id = id_of(&txn, line::Entity::find().filter(line::Column::Code.eq(r.line.as_str()))).await?;
            insert_ignore(
                &txn,
                route::Entity,
                &[route::Column::ProductId, route::Column::LineId, route::Column::Version],
                [product_id.into(), line_id.into(), small(r.version).into()],
                &[route::Column::ProductId, route::Column::LineId, route::Column::Version],
            )
            .await?;
            let route = route::Entity::find()
                .filter(route::Column::ProductId.eq(product_id))
                .filter(route::Column::LineId.eq(line_id))
                .filter(route::Column::Version.eq(small(r.version)));
            let route_id = id_of(&txn, route).await?;
            for step in &r.steps {
                let station = station::Entity::find()
                    .filter(station::Column::LineId.eq(line_id))
                    .filter(station::Column::Code.eq(step.station.as_str()));
                let station_id = id_of(&txn, station).await?;
                insert_ignore(
                    &txn,
                    route_step::Entity,
                    &[
                        route_step::Column::RouteId,
                        route_step::Column::Position,
                        route_step::Column::StationId,
                        route_step::Column::Operation,
                    ],
                    [route_id.into(), small(step.position).into(), station_id.into(), step.operation.clone().into()],
                    &[route_step::Column::RouteId, route_step::Column::Position],
                )
                .await?;
            }
        }

        for w in &plant.work_orders {
            let product_id =
                id_of(&txn, product::Entity::find().filter(product::Column::Code.eq(w.product.as_str()))).await?;
            let line_id = id_of(&txn, line::Entity::find().filter(line::Column::Code.eq(w.line.as_str()))).await?;
            insert_ignore(
                &txn,
                work_order::Entity,
                &[
                    work_order::Column::Code,
                    work_order::Column::ProductId,
                    work_order::Column::LineId,
                    work_order::Column::PlannedQuantity,
                ],
                [w.id.to_string().into(), product_id.into(), line_id.into(), small(w.planned_quantity).into()],
                &[work_order::Column::Code],
            )
            .await?;
        }
        use {defect_code as d, repair_action_code as a};
        register_codes(&txn, d::Entity, [d::Column::Code, d::Column::Name, d::Column::NameVi], &plant.defects).await?;
        let columns = [a::Column::Code, a::Column::Name, a::Column::NameVi];
        register_codes(&txn, a::Entity, columns, &plant.repair_actions).await?;
        for r in &plant.fault_reasons {
            insert_ignore(
                &txn,
                fault_reason::Entity,
                &[fault_reason::Column::Reason, fault_reason::Column::NameVi],
                [r.reason.clone().into(), r.name_vi.clone().into()],
                &[fault_reason::Column::Reason],
            )
            .await?;
            let vi = [(fault_reason::Column::NameVi, r.name_vi.clone().into())];
            declared_wins::<fault_reason::Entity>(&txn, vi, fault_reason::Column::Reason.eq(r.reason.as_str())).await?;
        }
        txn.commit().await.map_err(StoreError::db("committing master data"))?;
        Ok(())
    }

    /// Downtime reasons' Vietnamese text by the recorded reason.
    pub async fn reason_names(&self) -> Result<ReasonNames, StoreError> {
        let rows =
            fault_reason::Entity::find().all(&self.db).await.map_err(StoreError::db("reading the downtime reasons"))?;
        Ok(rows.into_iter().map(|r| (r.reason, r.name_vi)).collect())
    }

    /// The defect catalogue by code, for pages and reports that show a defect's name beside
    /// its code.
    pub async fn defect_names(&self) -> Result<CodeNames, StoreError> {
        use defect_code::{Column, Entity};
        self.code_names::<Entity>([Column::Code, Column::Name, Column::NameVi], "reading the defect catalogue").await
    }

    /// The repair action catalogue by code, for traces that show what a repair bench did.
    pub async fn repair_action_names(&self) -> Result<CodeNames, StoreError> {
        use repair_action_code::{Column, Entity};
        let columns = [Column::Code, Column::Name, Column::NameVi];
        self.code_names::<Entity>(columns, "reading the repair action catalogue").await
    }

    /// A catalogue of codes (code, name, name_vi columns) by code.
    async fn code_names<E: EntityTrait>(
        &self,
        [code, name, name_vi]: [E::Column; 3],
        doing: &'static str,
    ) -> Result<CodeNames, StoreError> {
        use sea_orm::QuerySelect;
        let rows: Vec<(String, String, Option<String>)> = E::find()
            .select_only()
            .columns([code, name, name_vi])
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::db(doing))?;
        Ok(rows.into_iter().map(|(code, name, name_vi)| (code.clone(), CodeName { code, name, name_vi })).collect())
    }

    /// Id of a line by code.
    pub(crate) async fn line_id(&self, code: &str) -> Result<i64, StoreError> {
        let query = line::Entity::find().filter(line::Column::Code.eq(code));
        self.cached_id(MasterKind::Line, code, query, |m| m.id, || StoreError::UnknownLine { line: code.to_owned() })
            .await
    }

    /// Id and kind of a station by line and station code.
    pub(crate) async fn station_id(&self, line_code: &str, code: &str) -> Result<(i64, StationKind), StoreError> {
        let key = (line_code.to_owned(), code.to_owned());
        if let Some(hit) = self.ids.read().await.stations.get(&key) {
            return Ok(*hit);
        }
        let line_id = self.line_id(line_code).await?;
        let found = station::Entity::find()
            .filter(station::Column::LineId.eq(line_id))
            .filter(station::Column::Code.eq(code))
            .one(&self.db)
            .await
            .map_err(StoreError::db("looking up master data"))?
            .ok_or_else(|| StoreError::UnknownStation { line: line_code.to_owned(), station: code.to_owned() })?;
        let kind = StationKind::parse(&found.kind).ok_or_else(|| StoreError::Corrupt {
            table: "stations",
            column: "kind",
            value: found.kind.clone(),
        })?;
        self.ids.write().await.stations.insert(key, (found.id, kind));
        Ok((found.id, kind))
    }

    /// Id of a product by code.
    pub(crate) async fn product_id(&self, code: &str) -> Result<i64, StoreError> {
        let query = product::Entity::find().filter(product::Column::Code.eq(code));
        self.cached_id(
            MasterKind::Product,
            code,
            query,
            |m| m.id,
            || StoreError::UnknownProduct { product: code.to_owned() },
        )
        .await
    }

    /// Id of a work order by code.
    pub(crate) async fn work_order_id(&self, code: &str) -> Result<i64, StoreError> {
        let query = work_order::Entity::find().filter(work_order::Column::Code.eq(code));
        self.cached_id(
            MasterKind::WorkOrder,
            code,
            query,
            |m| m.id,
            || StoreError::UnknownWorkOrder { work_order: code.to_owned() },
        )
        .await
    }

    /// A master-data id by code: from the cache, or looked up once and cached (master rows are
    /// never deleted, so a cached id stays right).
    async fn cached_id<E: EntityTrait>(
        &self,
        kind: MasterKind,
        code: &str,
        query: sea_orm::Select<E>,
        id: fn(&E::Model) -> i64,
        missing: impl FnOnce() -> StoreError,
    ) -> Result<i64, StoreError> {
        let key = (kind, code.to_owned());
        if let Some(hit) = self.ids.read().await.codes.get(&key) {
            return Ok(*hit);
        }
        let found = query.one(&self.db).await.map_err(StoreError::db("looking up master data"))?.ok_or_else(missing)?;
        self.ids.write().await.codes.insert(key, id(&found));
        Ok(id(&found))
    }

    /// Every registered line with its stations in position order, sorted by code.
    pub async fn lines(&self) -> Result<Vec<crate::domain::equipment::Line>, StoreError> {
        use crate::domain::equipment::{Line, LineKind};
        let areas: std::collections::HashMap<i64, String> = area::Entity::find()
            .all(&self.db)
            .await
            .map_err(StoreError::db("listing areas"))?
            .into_iter()
            .map(|a| (a.id, a.code))
            .collect();
        let mut rows = line::Entity::find().all(&self.db).await.map_err(StoreError::db("listing lines"))?;
        rows.sort_by(|a, b| a.code.cmp(&b.code));
        let mut lines = Vec::new();
        for l in rows {
            let corrupt = |column: &'static str, value: String| StoreError::Corrupt { table: "lines", column, value };
            lines.push(Line {
                id: crate::domain::LineId::parse(l.code.clone()).map_err(|_| corrupt("code", l.code.clone()))?,
                area: areas.get(&l.area_id).cloned().unwrap_or_default(),
                kind: LineKind::parse(&l.kind).ok_or_else(|| corrupt("kind", l.kind.clone()))?,
                stations: self.line_stations(&l.code).await?,
                name: l.name,
                name_vi: l.name_vi,
            });
        }
        Ok(lines)
    }

    /// Codes of all registered lines, sorted.
    pub async fn line_codes(&self) -> Result<Vec<String>, StoreError> {
        let mut codes: Vec<String> = line::Entity::find()
            .all(&self.db)
            .await
            .map_err(StoreError::db("listing lines"))?
            .into_iter()
            .map(|l| l.code)
            .collect();
        codes.sort();
        Ok(codes)
    }
}

/// `INSERT … ON CONFLICT (conflict) DO NOTHING` of one master row.
/// Master data gets corrected (a name translated, an ideal cycle time measured again): the
/// declared values win over the registered ones of the rows `which` picks. Nothing declared,
/// nothing written.
/// Registers a catalogue of codes (code, name, name_vi columns): new codes are inserted and the
/// declared names replace the registered ones.
async fn register_codes<E>(
    txn: &impl ConnectionTrait,
    table: E,
    [code, name, name_vi]: [E::Column; 3],
    names: &[CodeName],
) -> Result<(), StoreError>
where
    E: EntityTrait + sea_orm::sea_query::IntoIden + Copy,
    E::Column: Copy,
{
    for d in names {
        let values = [d.code.clone().into(), d.name.clone().into(), d.name_vi.clone().into()];
        insert_ignore(txn, table, &[code, name, name_vi], values, &[code]).await?;
        let declared = [(name, d.name.clone().into()), (name_vi, d.name_vi.clone().into())];
        declared_wins::<E>(txn, declared, code.eq(d.code.as_str())).await?;
    }
    Ok(())
}

async fn declared_wins<E: EntityTrait>(
    txn: &impl ConnectionTrait,
    declared: impl IntoIterator<Item = (E::Column, sea_orm::Value)>,
    which: impl sea_orm::sea_query::IntoCondition,
) -> Result<(), StoreError> {
    let mut update = E::update_many();
    let mut any = false;
    for (column, value) in declared {
        update = update.col_expr(column, sea_orm::sea_query::Expr::value(value));
        any = true;
    }
    if any {
        update.filter(which).exec(txn).await.map_err(StoreError::db("registering master data"))?;
    }
    Ok(())
}

async fn insert_ignore<E, C, const N: usize>(
    txn: &impl ConnectionTrait,
    table: E,
    columns: &[C; N],
    values: [sea_orm::Value; N],
    conflict: &[C],
) -> Result<(), StoreError>
where
    E: sea_orm::sea_query::IntoIden + Copy,
    C: sea_orm::sea_query::IntoIden + Copy,
{
    insert_rows(txn, table, columns, vec![exprs(values)], do_nothing_on(conflict), "registering master data").await
}

/// The id of the one row a query finds; master rows were just inserted in the same
/// transaction, so absence means the database lost them, reported as such.
async fn id_of<E>(db: &impl ConnectionTrait, select: sea_orm::Select<E>) -> Result<i64, StoreError>
where
    E: EntityTrait,
    E::Model: HasId,
{
    select
        .one(db)
        .await
        .map_err(StoreError::db("registering master data"))?
        .map(|m| m.id())
        .ok_or(StoreError::Corrupt { table: "master data", column: "id", value: "row vanished after insert".into() })
}

/// Master counts and positions are small; clamp rather than wrap a nonsensical value.
fn small(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Entities with an `id` primary key.
trait HasId {
    fn id(&self) -> i64;
}

macro_rules! has_id {
    ($($m:ident),*) => { $(impl HasId for $m::Model { fn id(&self) -> i64 { self.id } })* };
}
has_id!(site, area, line, station, product, route);
