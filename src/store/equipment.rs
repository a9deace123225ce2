//! Master data: registering a plant (site, areas, lines, stations, products, routes, work
//! orders) idempotently by code, and resolving codes to ids for the writer.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entities::{area, line, product, route, route_step, site, station, work_order};
use super::sql::on_conflict_do_nothing;
use super::{MasterKind, Store, StoreError};
use crate::domain::equipment::StationKind;
use crate::domain::plant::PlantModel;

impl Store {
    /// Registers the plant's master data. Idempotent: rows are keyed by their codes and existing
    /// rows are left as they are, so it runs safely at every start.
    pub async fn register_plant(&self, plant: &PlantModel) -> Result<(), StoreError> {
        let db = &self.db;
        let op = "registering master data";

        let mut stmt = Query::insert();
        stmt.into_table(site::Entity)
            .columns([site::Column::Code, site::Column::Name, site::Column::TimeZone])
            .values_panic([
                plant.site.code.clone().into(),
                plant.site.name.clone().into(),
                plant.site.time_zone.clone().into(),
            ]);
        on_conflict_do_nothing(&mut stmt, &[site::Column::Code]);
        db.execute(&stmt).await.map_err(StoreError::db(op))?;
        let site_id = id_of(db, site::Entity::find().filter(site::Column::Code.eq(&plant.site.code)), op).await?;

        for a in &plant.areas {
            let mut stmt = Query::insert();
            stmt.into_table(area::Entity)
                .columns([area::Column::SiteId, area::Column::Code, area::Column::Name])
                .values_panic([site_id.into(), a.code.clone().into(), a.name.clone().into()]);
            on_conflict_do_nothing(&mut stmt, &[area::Column::SiteId, area::Column::Code]);
            db.execute(&stmt).await.map_err(StoreError::db(op))?;
        }

        for l in &plant.lines {
            let area_id = id_of(
                db,
                area::Entity::find().filter(area::Column::SiteId.eq(site_id)).filter(area::Column::Code.eq(&l.area)),
                op,
            )
            .await?;
            let mut stmt = Query::insert();
            stmt.into_table(line::Entity)
                .columns([line::Column::AreaId, line::Column::Code, line::Column::Name, line::Column::Kind])
                .values_panic([area_id.into(), l.id.to_string().into(), l.name.clone().into(), l.kind.as_str().into()]);
            on_conflict_do_nothing(&mut stmt, &[line::Column::Code]);
            db.execute(&stmt).await.map_err(StoreError::db(op))?;
            let line_id = id_of(db, line::Entity::find().filter(line::Column::Code.eq(l.id.as_str())), op).await?;
            for s in &l.stations {
                let mut stmt = Query::insert();
                stmt.into_table(station::Entity)
                    .columns([
                        station::Column::LineId,
                        station::Column::Code,
                        station::Column::Name,
                        station::Column::Position,
                        station::Column::Kind,
                    ])
                    .values_panic([
                        line_id.into(),
                        s.id.to_string().into(),
                        s.name.clone().into(),
                        i32::try_from(s.position).unwrap_or(i32::MAX).into(),
                        s.kind.as_str().into(),
                    ]);
                on_conflict_do_nothing(&mut stmt, &[station::Column::LineId, station::Column::Code]);
                db.execute(&stmt).await.map_err(StoreError::db(op))?;
            }
        }

        for p in &plant.products {
            let mut stmt = Query::insert();
            stmt.into_table(product::Entity)
                .columns([
                    product::Column::Code,
                    product::Column::Name,
                    product::Column::TraceabilityLevel,
                    product::Column::OpportunitiesPerUnit,
                ])
                .values_panic([
                    p.code.to_string().into(),
                    p.name.clone().into(),
                    p.traceability.to_string().into(),
                    i32::try_from(p.opportunities_per_unit).unwrap_or(i32::MAX).into(),
                ]);
            on_conflict_do_nothing(&mut stmt, &[product::Column::Code]);
            db.execute(&stmt).await.map_err(StoreError::db(op))?;
        }

        for r in &plant.routes {
            let product_id = self.product_id(r.product.as_str()).await?;
            let line_id = self.line_id(r.line.as_str()).await?;
            let mut stmt = Query::insert();
            stmt.into_table(route::Entity)
                .columns([route::Column::ProductId, route::Column::LineId, route::Column::Version])
                .values_panic([product_id.into(), line_id.into(), i32::try_from(r.version).unwrap_or(i32::MAX).into()]);
            on_conflict_do_nothing(
                &mut stmt,
                &[route::Column::ProductId, route::Column::LineId, route::Column::Version],
            );
            db.execute(&stmt).await.map_err(StoreError::db(op))?;
            let route_id = id_of(
                db,
                route::Entity::find()
                    .filter(route::Column::ProductId.eq(product_id))
                    .filter(route::Column::LineId.eq(line_id))
                    .filter(route::Column::Version.eq(i32::try_from(r.version).unwrap_or(i32::MAX))),
                op,
            )
            .await?;
            for step in &r.steps {
                let (station_id, _) = self.station_id(r.line.as_str(), step.station.as_str()).await?;
                let mut stmt = Query::insert();
                stmt.into_table(route_step::Entity)
                    .columns([
                        route_step::Column::RouteId,
                        route_step::Column::Position,
                        route_step::Column::StationId,
                        route_step::Column::Operation,
                    ])
                    .values_panic([
                        route_id.into(),
                        i32::try_from(step.position).unwrap_or(i32::MAX).into(),
                        station_id.into(),
                        step.operation.clone().into(),
                    ]);
                on_conflict_do_nothing(&mut stmt, &[route_step::Column::RouteId, route_step::Column::Position]);
                db.execute(&stmt).await.map_err(StoreError::db(op))?;
            }
        }

        for w in &plant.work_orders {
            let product_id = self.product_id(w.product.as_str()).await?;
            let line_id = self.line_id(w.line.as_str()).await?;
            let mut stmt = Query::insert();
            stmt.into_table(work_order::Entity)
                .columns([
                    work_order::Column::Code,
                    work_order::Column::ProductId,
                    work_order::Column::LineId,
                    work_order::Column::PlannedQuantity,
                ])
                .values_panic([
                    w.id.to_string().into(),
                    product_id.into(),
                    line_id.into(),
                    i32::try_from(w.planned_quantity).unwrap_or(i32::MAX).into(),
                ]);
            on_conflict_do_nothing(&mut stmt, &[work_order::Column::Code]);
            db.execute(&stmt).await.map_err(StoreError::db(op))?;
        }
        Ok(())
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

/// The id of the one row a query finds; master rows were just inserted, so absence is a bug in
/// the database (a concurrent delete), reported as such.
async fn id_of<E, M>(db: &impl ConnectionTrait, select: sea_orm::Select<E>, op: &'static str) -> Result<i64, StoreError>
where
    E: EntityTrait<Model = M>,
    M: sea_orm::ModelTrait + HasId,
{
    select.one(db).await.map_err(StoreError::db(op))?.map(|m| m.id()).ok_or(StoreError::Corrupt {
        table: "master data",
        column: "id",
        value: "row vanished after insert".into(),
    })
}

/// Entities with an `id` primary key.
trait HasId {
    fn id(&self) -> i64;
}

macro_rules! has_id {
    ($($m:ident),*) => { $(impl HasId for $m::Model { fn id(&self) -> i64 { self.id } })* };
}
has_id!(site, area, line, route);
