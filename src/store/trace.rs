//! Genealogy queries: a unit with its visits, backward trace (everything in a unit, any depth)
//! and forward trace (every unit containing a lot, reel or serial, any depth). SQL fetches the
//! relevant edges with one recursive query; the rules (tree, contains/possibly contains) are the
//! domain's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, QueryResult, Value};
use serde::Serialize;

use super::results::{CHILD_COLUMNS, StoredResult, certainty, consumed_item, optional_code, parse_id, unit_status};
use super::sql::{among, each_row_among, get, raw};
use super::{Store, StoreError};
use crate::domain::genealogy::{ForwardHit, GenealogyEdge, TraceNode, backward_tree, forward_containment};
use crate::domain::ids::{LineId, LotId, ProductCode, RecordSeq, SerialNumber, StationId, WorkOrderId};
use crate::domain::record::ConsumedItem;
use crate::domain::unit::{Unit, UnitStatus};

/// A unit with everything that happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnitView {
    /// The unit.
    pub unit: Unit,
    /// When the MES first saw it.
    pub first_seen_at: DateTime<Utc>,
    /// Its station visits in time order.
    pub visits: Vec<VisitView>,
}

/// A station visit as a trace shows it.
pub type VisitView = StoredResult;

/// Result of a backward trace.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BackwardTrace {
    /// The genealogy tree from the unit down.
    pub tree: TraceNode,
    /// Every serialised unit in the tree (the root included) with its visits.
    pub units: BTreeMap<String, UnitView>,
}

/// One unit found by a forward trace, with where it is now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TracedUnit {
    /// How it contains the traced item.
    pub hit: ForwardHit,
    /// Its product, if known.
    pub product: Option<ProductCode>,
    /// Its life status.
    pub status: UnitStatus,
    /// Whether an active hold covers it (directly, or through the traced item).
    pub on_hold: bool,
    /// Its most recently recorded visit.
    pub last_seen: Option<LastSeen>,
}

/// Where a unit was last recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LastSeen {
    /// Line.
    pub line: LineId,
    /// Station.
    pub station: StationId,
    /// When the visit ended.
    pub at: DateTime<Utc>,
}

/// Result of a forward trace.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ForwardTrace {
    /// The traced item.
    pub item: ConsumedItem,
    /// Units containing it, sorted by serial.
    pub units: Vec<TracedUnit>,
}

/// The edge's child as [`super::results::CHILD_COLUMNS`] names it, with its parent and where.
const EDGE_COLUMNS: &str = "pu.id AS parent_id, pu.serial AS parent, e.child_kind, cu.serial AS child_serial, \
     ml.code AS child_lot, ml.part_number AS child_lot_part, ml.supplier AS child_lot_supplier, e.ref_designator, e.certainty, l.code AS line, s.code AS station, r.seq, r.ended_at";
const EDGE_JOINS: &str = "JOIN units pu ON pu.id = e.parent_unit_id \
     LEFT JOIN units cu ON cu.id = e.child_unit_id \
     LEFT JOIN material_lots ml ON ml.id = e.child_lot_id \
     JOIN station_results r ON r.id = e.station_result_id \
     JOIN stations s ON s.id = r.station_id \
     JOIN lines l ON l.id = r.line_id";

impl Store {
    /// A unit by serial with its visits; `None` if the MES never saw it.
    pub async fn unit_by_serial(&self, serial: &SerialNumber) -> Result<Option<UnitView>, StoreError> {
        let active = self.held_items().await?;
        Ok(self.units_by_serial(&[serial.as_str()], &active).await?.remove(serial.as_str()))
    }

    /// Everything in `serial`, any depth, with every unit's visits; `None` if unknown.
    pub async fn backward_trace(&self, serial: &SerialNumber) -> Result<Option<BackwardTrace>, StoreError> {
        let sql = "WITH RECURSIVE tree(unit_id) AS ( \
                     SELECT id FROM units WHERE serial = $1 \
                     UNION \
                     SELECT e.child_unit_id FROM genealogy_edges e JOIN tree t ON e.parent_unit_id = t.unit_id \
                     WHERE e.child_unit_id IS NOT NULL) \
                   SELECT e.id FROM genealogy_edges e JOIN tree t ON e.parent_unit_id = t.unit_id";
        // Holds and the walk at once (two connections); an unknown serial walks to nothing and
        // is then missing from its own units, so no separate lookup is needed.
        let (active, (edges, _)) = tokio::try_join!(self.held_items(), self.edges(sql, vec![serial.as_str().into()]))?;
        let tree = backward_tree(serial, &edges);
        let serials: Vec<&str> = tree
            .items()
            .into_iter()
            .filter_map(|i| match i {
                ConsumedItem::Serial(s) => Some(s.as_str()),
                ConsumedItem::Lot(_) => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut units = self.units_by_serial(&serials, &active).await?;
        if !units.contains_key(serial.as_str()) {
            return Ok(None);
        }
        // A hold on anything inside a unit holds the unit and every unit above it on the path.
        mark_held(&tree, &active, &mut units);
        Ok(Some(BackwardTrace { tree, units }))
    }

    /// Every unit containing `item`, any depth; `None` if the item was never recorded.
    pub async fn forward_trace(&self, item: &ConsumedItem) -> Result<Option<ForwardTrace>, StoreError> {
        // A lot named by code (and perhaps part of its material) becomes the one lot it names.
        let (start, start_column) = match item {
            ConsumedItem::Serial(s) => (self.unit_id(s.as_str()).await?.map(|id| (id, item.clone())), "child_unit_id"),
            ConsumedItem::Lot(l) => {
                (self.resolve_lot(l).await?.map(|s| (s.id, ConsumedItem::Lot(s.lot))), "child_lot_id")
            }
        };
        let Some((start_id, item)) = start else { return Ok(None) };
        // Every edge on a path up from the item: its own edges, then the edges whose child is a
        // unit already reached. Each edge enters once (its parent is fixed), so cycles end.
        let sql = format!(
            "WITH RECURSIVE up(edge_id, unit_id) AS ( \
               SELECT e.id, e.parent_unit_id FROM genealogy_edges e WHERE e.{start_column} = $1 \
               UNION \
               SELECT e.id, e.parent_unit_id FROM genealogy_edges e JOIN up ON e.child_unit_id = up.unit_id) \
             SELECT edge_id AS id FROM up"
        );
        let (active, (edges, unit_ids)) = tokio::try_join!(self.held_items(), self.edges(&sql, vec![start_id.into()]))?;
        let hits = forward_containment(&item, &edges);
        let item_held = active.contains(&item);
        let ids: Vec<i64> = hits.iter().filter_map(|h| unit_ids.get(h.serial.as_str()).copied()).collect();
        let summaries = self.unit_summaries(&ids).await?;
        let units = hits
            .into_iter()
            .map(|hit| {
                let summary = summaries.get(hit.serial.as_str());
                let on_hold = item_held || active.contains(&ConsumedItem::Serial(hit.serial.clone()));
                TracedUnit {
                    product: summary.and_then(|s| s.product.clone()),
                    status: summary.map_or(UnitStatus::InProcess, |s| s.status),
                    last_seen: summary.and_then(|s| s.last_seen.clone()),
                    on_hold,
                    hit,
                }
            })
            .collect();
        Ok(Some(ForwardTrace { item, units }))
    }

    async fn unit_id(&self, serial: &str) -> Result<Option<i64>, StoreError> {
        self.single_id("SELECT id FROM units WHERE serial = $1", serial).await
    }

    async fn single_id(&self, sql: &str, key: &str) -> Result<Option<i64>, StoreError> {
        let row = self
            .db
            .query_one_raw(raw(self.sea_backend(), sql, vec![key.into()]))
            .await
            .map_err(StoreError::db("looking up an id"))?;
        row.map(|r| get::<i64>(&r, "id")).transpose()
    }

    /// The edges whose ids `sql` selects, with names and where they were recorded. Two steps:
    /// a recursive walk's size is unknowable to a planner (PostgreSQL guessed 1.4 million rows
    /// for 22 and chose full scans of 10⁸ rows), so the walk returns ids only and the names are
    /// joined to an explicit id list, which every planner answers through primary keys.
    /// Also returns the ids of the edges' parent units by serial, so later reads key on ids.
    async fn edges(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<(Vec<GenealogyEdge>, HashMap<String, i64>), StoreError> {
        let limited = format!("{sql} LIMIT {}", super::MAX_TRACE_EDGES + 1);
        let rows = self
            .db
            .query_all_raw(raw(self.sea_backend(), &limited, values))
            .await
            .map_err(StoreError::db("walking genealogy"))?;
        let rows = super::within_limit(rows, "the trace's genealogy", super::MAX_TRACE_EDGES)?;
        let mut ids: Vec<i64> = rows.iter().map(|r| get::<i64>(r, "id")).collect::<Result<_, _>>()?;
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        let mut parents = HashMap::new();
        let (among_ids, lists) = among(self.sea_backend(), "e.id", 1, &ids);
        let sql = format!("SELECT {EDGE_COLUMNS} FROM genealogy_edges e {EDGE_JOINS} WHERE {among_ids} ORDER BY e.id");
        each_row_among(&self.db, &sql, lists, "reading genealogy", |row| {
            let edge = edge_from_row(row)?;
            parents.insert(edge.parent.as_str().to_owned(), get::<i64>(row, "parent_id")?);
            out.push(edge);
            Ok(())
        })
        .await?;
        Ok((out, parents))
    }

    /// Units with their visits, by serial; unknown serials are absent from the map. `active`:
    /// the items under an active hold ([`Store::held_items`]).
    async fn units_by_serial(
        &self,
        serials: &[&str],
        active: &BTreeSet<ConsumedItem>,
    ) -> Result<BTreeMap<String, UnitView>, StoreError> {
        let mut out = BTreeMap::new();
        let mut ids = Vec::new();
        let (among_serials, lists) = among(self.sea_backend(), "u.serial", 1, serials);
        let sql = format!(
            "SELECT u.id, u.serial, p.code AS product, w.code AS work_order, u.status, u.first_seen_at \
             FROM units u LEFT JOIN products p ON p.id = u.product_id \
             LEFT JOIN work_orders w ON w.id = u.work_order_id WHERE {among_serials}"
        );
        each_row_among(&self.db, &sql, lists, "reading units", |row| {
            let serial: String = get(row, "serial")?;
            ids.push(get::<i64>(row, "id")?);
            let view = UnitView {
                unit: Unit {
                    serial: parse_id(SerialNumber::parse, serial.clone(), "units", "serial")?,
                    product: optional_code(row, "product", ProductCode::parse, "products")?,
                    work_order: optional_code(row, "work_order", WorkOrderId::parse, "work_orders")?,
                    status: unit_status(row)?,
                    on_hold: false,
                },
                first_seen_at: get(row, "first_seen_at")?,
                visits: Vec::new(),
            };
            out.insert(serial, view);
            Ok(())
        })
        .await?;
        for visit in self.results_of_units(&ids).await? {
            if let Some(view) = out.get_mut(visit.record.serial.as_str()) {
                view.visits.push(visit);
            }
        }
        for view in out.values_mut() {
            view.unit.on_hold = active.contains(&ConsumedItem::Serial(view.unit.serial.clone()));
        }
        Ok(out)
    }

    /// Product, status and last location of units, by unit id (integer keys: a forward trace
    /// asks about 10⁵ units at once).
    async fn unit_summaries(&self, ids: &[i64]) -> Result<HashMap<String, UnitSummary>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        let (among_ids, lists) = among(self.sea_backend(), "u.id", 1, ids);
        let sql = format!(
            "SELECT u.serial, u.status, p.code AS product, l.code AS line, s.code AS station, r.ended_at \
             FROM units u LEFT JOIN products p ON p.id = u.product_id \
             LEFT JOIN station_results r ON r.id = (SELECT MAX(r2.id) FROM station_results r2 WHERE r2.unit_id = u.id) \
             LEFT JOIN stations s ON s.id = r.station_id LEFT JOIN lines l ON l.id = r.line_id \
             WHERE {among_ids}"
        );
        each_row_among(&self.db, &sql, lists, "reading unit summaries", |row| {
            let last_seen = match (get::<Option<String>>(row, "line")?, get::<Option<String>>(row, "station")?) {
                (Some(line), Some(station)) => Some(LastSeen {
                    line: parse_id(LineId::parse, line, "lines", "code")?,
                    station: parse_id(StationId::parse, station, "stations", "code")?,
                    at: get::<DateTime<Utc>>(row, "ended_at")?,
                }),
                _ => None,
            };
            let summary = UnitSummary {
                product: optional_code(row, "product", ProductCode::parse, "products")?,
                status: unit_status(row)?,
                last_seen,
            };
            out.insert(get::<String>(row, "serial")?, summary);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Every item under an active hold. Active holds are few (a quality engineer places them)
    /// while a forward trace may ask about 10⁵ units, so a trace reads them once and looks its
    /// items up in the set instead of asking the database about each.
    async fn held_items(&self) -> Result<BTreeSet<ConsumedItem>, StoreError> {
        let sql = format!(
            "SELECT {CHILD_COLUMNS} FROM holds h \
             LEFT JOIN units cu ON cu.id = h.unit_id LEFT JOIN material_lots ml ON ml.id = h.lot_id \
             WHERE h.released_at IS NULL"
        );
        let rows = self
            .db
            .query_all_raw(raw(self.sea_backend(), &sql, vec![]))
            .await
            .map_err(StoreError::db("reading holds"))?;
        let mut active = BTreeSet::new();
        for row in rows {
            active.insert(consumed_item(&row)?);
        }
        Ok(active)
    }

    /// Every lot (with its material) under a hold in force: what a trace marks where the lot
    /// sits in a tree.
    pub async fn held_lots(&self) -> Result<BTreeSet<LotId>, StoreError> {
        Ok(self
            .held_items()
            .await?
            .into_iter()
            .filter_map(|item| match item {
                ConsumedItem::Lot(lot) => Some(lot),
                ConsumedItem::Serial(_) => None,
            })
            .collect())
    }
}

struct UnitSummary {
    product: Option<ProductCode>,
    status: UnitStatus,
    last_seen: Option<LastSeen>,
}

fn edge_from_row(row: &QueryResult) -> Result<GenealogyEdge, StoreError> {
    let seq: i64 = get(row, "seq")?;
    Ok(GenealogyEdge {
        parent: parse_id(SerialNumber::parse, get::<String>(row, "parent")?, "units", "serial")?,
        kind: get(row, "child_kind")?,
        child: consumed_item(row)?,
        ref_designator: get(row, "ref_designator")?,
        certainty: certainty(get(row, "certainty")?)?,
        line: parse_id(LineId::parse, get::<String>(row, "line")?, "lines", "code")?,
        station: parse_id(StationId::parse, get::<String>(row, "station")?, "stations", "code")?,
        seq: RecordSeq(u64::try_from(seq).map_err(|_| StoreError::Corrupt {
            table: "station_results",
            column: "seq",
            value: seq.to_string(),
        })?),
        at: get(row, "ended_at")?,
    })
}

/// Marks every unit on a path from the root to a held item as on hold. Returns whether `node`'s
/// subtree holds anything.
fn mark_held(node: &TraceNode, held: &BTreeSet<ConsumedItem>, units: &mut BTreeMap<String, UnitView>) -> bool {
    let mut any = held.contains(&node.item);
    for child in &node.children {
        any |= mark_held(child, held, units);
    }
    if any
        && let ConsumedItem::Serial(s) = &node.item
        && let Some(view) = units.get_mut(s.as_str())
    {
        view.unit.on_hold = true;
    }
    any
}
