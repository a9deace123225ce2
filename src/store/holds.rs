//! Quality holds: placing and releasing them (never deleting: a released hold keeps who and
//! when), and listing those in force. A hold on a lot the MES has not seen yet registers the
//! lot, so it holds every unit that consumes it later.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};

use super::lots::{HELD, held_lots_with_code, lots_with_codes, pick};
use super::results::stored_lot;
use super::sql::{get, raw};
use super::{Store, StoreError};
use crate::domain::hold::{Hold, HoldReach, HoldTarget};
use crate::domain::ids::SerialNumber;
use crate::domain::unit::UnitStatus;

/// What placing a hold did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPlaced {
    /// `false`: the target already had a hold in force; nothing changed.
    pub placed: bool,
    /// Whether the MES has recorded the target (always, for a unit; for a lot, whether a
    /// collector ever saw it consumed or loaded). A hold on an unseen lot still holds every unit
    /// that consumes it later, but it may be a typo.
    pub seen: bool,
}

impl Store {
    /// Places a hold. A unit must be known ([`StoreError::UnknownUnit`] otherwise); an unknown
    /// lot is registered (kind `held`) so it holds every unit that consumes it later, and the
    /// answer says it was never recorded (a typo is caught by whoever placed it).
    pub async fn place_hold(
        &self,
        target: &HoldTarget,
        reason: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<HoldPlaced, StoreError> {
        let backend = self.sea_backend();
        let at = super::writer::truncate_to_micros(at);
        let mut seen = true;
        let (_writer, txn) = self.begin_write().await?;
        let (kind, unit_id, lot_id) = match target {
            HoldTarget::Unit(serial) => {
                let row = txn
                    .query_one_raw(raw(backend, "SELECT id FROM units WHERE serial = $1", vec![serial.as_str().into()]))
                    .await
                    .map_err(StoreError::db("finding the unit to hold"))?
                    .ok_or_else(|| StoreError::UnknownUnit { serial: serial.to_string() })?;
                ("unit", Some(get::<i64>(&row, "id")?), None)
            }
            HoldTarget::Lot(lot) => {
                let stored = match pick(lot, lots_with_codes(&txn, &[lot.as_str()]).await?)? {
                    Some(stored) => stored,
                    None => {
                        txn.execute_raw(raw(
                            backend,
                            "INSERT INTO material_lots (code, part_number, supplier, kind, first_seen_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code, part_number, supplier) DO NOTHING",
                            vec![
                                lot.as_str().into(),
                                lot.material().part_number().into(),
                                lot.material().supplier().into(),
                                HELD.into(),
                                at.into(),
                            ],
                        ))
                        .await
                        .map_err(StoreError::db("registering the held lot"))?;
                        // The row just written (or found by its key) reads back, exactly.
                        pick(lot, lots_with_codes(&txn, &[lot.as_str()]).await?)?.ok_or_else(|| {
                            StoreError::Corrupt { table: "material_lots", column: "code", value: lot.to_string() }
                        })?
                    }
                };
                seen = !stored.is_placeholder();
                ("lot", None, Some(stored.id))
            }
        };
        let active = txn
            .query_one_raw(raw(
                backend,
                "SELECT COUNT(*) AS n FROM holds WHERE released_at IS NULL AND (unit_id = $1 OR lot_id = $2)",
                vec![unit_id.unwrap_or(-1).into(), lot_id.unwrap_or(-1).into()],
            ))
            .await
            .map_err(StoreError::db("reading holds"))?
            .map_or(Ok(0), |r| get::<i64>(&r, "n"))?;
        if active > 0 {
            return Ok(HoldPlaced { placed: false, seen });
        }
        let values: Vec<Value> = vec![kind.into(), unit_id.into(), lot_id.into(), reason.into(), by.into(), at.into()];
        txn.execute_raw(raw(
            backend,
            "INSERT INTO holds (target_kind, unit_id, lot_id, reason, placed_by, placed_at) VALUES ($1, $2, $3, $4, $5, $6)",
            values,
        ))
        .await
        .map_err(StoreError::db("placing the hold"))?;
        self.announce(&txn).await?;
        txn.commit().await.map_err(StoreError::db("committing the hold"))?;
        Ok(HoldPlaced { placed: true, seen })
    }

    /// Releases the holds in force on `target`, by `by` for `reason`; returns how many.
    pub async fn release_hold(
        &self,
        target: &HoldTarget,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let backend = self.sea_backend();
        let (_writer, txn) = self.begin_write().await?;
        let (sql, key): (&str, Value) = match target {
            HoldTarget::Unit(s) => ("unit_id IN (SELECT id FROM units WHERE serial = $3)", s.as_str().into()),
            HoldTarget::Lot(l) => {
                // Among the lots of this code, the held ones: a code held for one material only
                // needs no material named to be released.
                match pick(l, held_lots_with_code(&txn, l.as_str()).await?)? {
                    Some(stored) => ("lot_id = $3", stored.id.into()),
                    None => return Ok(0),
                }
            }
        };
        let statement = format!(
            "UPDATE holds SET released_by = $1, released_at = $2, release_reason = $4 WHERE released_at IS NULL AND {sql}"
        );
        let done = txn
            .execute_raw(raw(
                backend,
                &statement,
                vec![by.into(), super::writer::truncate_to_micros(at).into(), key, reason.into()],
            ))
            .await
            .map_err(StoreError::db("releasing the hold"))?;
        self.announce(&txn).await?;
        txn.commit().await.map_err(StoreError::db("committing the release"))?;
        Ok(done.rows_affected())
    }

    /// Serials of every unit an active hold covers: held units themselves and every unit that
    /// contains (or possibly contains) a held lot or unit, at any depth. Exports mark these.
    pub async fn held_serials(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut out = std::collections::BTreeSet::new();
        for hold in self.active_holds().await? {
            out.extend(self.units_covered(&hold.target).await?.into_iter().map(|u| u.serial));
        }
        Ok(out)
    }

    /// The units a hold on `target` would catch, by line and status (see [`HoldReach`]): the
    /// unit itself for a unit hold, and every unit containing the target, at any depth.
    pub async fn hold_reach(&self, target: &HoldTarget) -> Result<HoldReach, StoreError> {
        let mut reach = HoldReach::default();
        for u in self.units_covered(target).await? {
            reach.add(u.line.as_deref(), u.status);
        }
        Ok(reach)
    }

    /// Serials of every unit an active hold covers that is already packed, whatever the hold's
    /// kind (a unit, or a lot or reel inside it, held before or after the unit was packed):
    /// the list a quality engineer recalls before shipping. At most `limit`, in serial order.
    pub async fn held_packed_units(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut out = std::collections::BTreeSet::new();
        for hold in self.active_holds().await? {
            let covered = self.units_covered(&hold.target).await?;
            out.extend(covered.into_iter().filter(|u| u.status == UnitStatus::Packed).map(|u| u.serial));
        }
        Ok(out.into_iter().take(limit).collect())
    }

    /// The one walk of what a hold on `target` covers, which the three questions above ask: the
    /// held unit itself (if it was made here) and every unit containing the target, at any
    /// depth, each with its status and the line that last recorded it.
    async fn units_covered(&self, target: &HoldTarget) -> Result<Vec<CoveredUnit>, StoreError> {
        use crate::domain::record::ConsumedItem;
        let mut out = Vec::new();
        let item = match target {
            HoldTarget::Unit(serial) => {
                if let Some(trace) = self.backward_trace(serial).await?
                    && let Some(view) = trace.units.get(serial.as_str())
                {
                    out.push(CoveredUnit {
                        serial: serial.as_str().to_owned(),
                        status: view.unit.status,
                        line: view.visits.last().map(|v| v.record.line.as_str().to_owned()),
                    });
                }
                ConsumedItem::Serial(serial.clone())
            }
            HoldTarget::Lot(lot) => ConsumedItem::Lot(lot.clone()),
        };
        if let Some(trace) = self.forward_trace(&item).await? {
            out.extend(trace.units.into_iter().map(|u| CoveredUnit {
                serial: u.hit.serial.as_str().to_owned(),
                status: u.status,
                line: u.last_seen.map(|s| s.line.as_str().to_owned()),
            }));
        }
        Ok(out)
    }

    /// The newest `limit` holds, in force or released, newest first.
    pub async fn holds(&self, limit: usize) -> Result<Vec<Hold>, StoreError> {
        self.holds_where("", limit).await
    }

    /// Every hold in force, newest first (a quality engineer places them by hand: they are few).
    pub async fn active_holds(&self) -> Result<Vec<Hold>, StoreError> {
        self.holds_where("WHERE h.released_at IS NULL", super::MAX_READ_ROWS).await
    }

    async fn holds_where(&self, filter: &str, limit: usize) -> Result<Vec<Hold>, StoreError> {
        let sql = format!(
            "SELECT h.target_kind, u.serial, m.code, m.part_number, m.supplier, h.reason, h.placed_by, h.placed_at, h.released_by, h.released_at, \
             h.release_reason \
             FROM holds h LEFT JOIN units u ON u.id = h.unit_id LEFT JOIN material_lots m ON m.id = h.lot_id \
             {filter} ORDER BY h.id DESC LIMIT {}",
            limit.min(super::MAX_READ_ROWS)
        );
        let rows = self
            .db
            .query_all_raw(raw(self.sea_backend(), &sql, vec![]))
            .await
            .map_err(StoreError::db("reading holds"))?;
        let corrupt = |value: String| StoreError::Corrupt { table: "holds", column: "target", value };
        rows.iter()
            .map(|r| {
                let target = match get::<String>(r, "target_kind")?.as_str() {
                    "unit" => {
                        let s: String = get::<Option<String>>(r, "serial")?.unwrap_or_default();
                        HoldTarget::Unit(SerialNumber::parse(s.clone()).map_err(|_| corrupt(s))?)
                    }
                    _ => {
                        let code: String = get::<Option<String>>(r, "code")?.unwrap_or_default();
                        let part: Option<String> = get(r, "part_number")?;
                        let supplier: Option<String> = get(r, "supplier")?;
                        HoldTarget::Lot(stored_lot(code, part.unwrap_or_default(), supplier.unwrap_or_default())?)
                    }
                };
                let released =
                    match (get::<Option<String>>(r, "released_by")?, get::<Option<DateTime<Utc>>>(r, "released_at")?) {
                        (Some(by), Some(at)) => {
                            Some(crate::domain::hold::Release { by, at, reason: get(r, "release_reason")? })
                        }
                        _ => None,
                    };
                Ok(Hold {
                    target,
                    reason: get(r, "reason")?,
                    placed_by: get(r, "placed_by")?,
                    placed_at: get(r, "placed_at")?,
                    released,
                })
            })
            .collect()
    }
}

impl Store {
    /// How many units on hold each line has seen (a unit counts for every line it visited).
    pub async fn held_units_by_line(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let held: Vec<String> = self.held_serials().await?.into_iter().collect();
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        let (among_held, lists) = super::sql::among(self.sea_backend(), "u.serial", 1, &held);
        let sql = format!(
            "SELECT l.code AS line, COUNT(DISTINCT r.unit_id) AS units FROM station_results r \
             JOIN units u ON u.id = r.unit_id JOIN lines l ON l.id = r.line_id WHERE {among_held} GROUP BY l.code"
        );
        // Each unit is in one list, so the lists' counts add up.
        let mut out = std::collections::BTreeMap::new();
        super::sql::each_row_among(&self.db, &sql, lists, "counting held units", |row| {
            *out.entry(get::<String>(row, "line")?).or_default() +=
                u64::try_from(get::<i64>(row, "units")?).unwrap_or(0);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// A value that changes whenever a result, a state change or a hold is recorded: live
    /// views recompute only when it moves.
    pub async fn change_marker(&self) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT (SELECT COALESCE(MAX(id), 0) FROM station_results) AS a, \
                   (SELECT COALESCE(MAX(id), 0) FROM state_intervals) AS b, \
                   (SELECT COUNT(*) FROM state_intervals WHERE ended_at IS NULL) AS c, \
                   (SELECT COALESCE(MAX(id), 0) FROM holds) AS d, \
                   (SELECT COUNT(*) FROM holds WHERE released_at IS NULL) AS e";
        let row = self
            .db
            .query_one_raw(raw(self.sea_backend(), sql, vec![]))
            .await
            .map_err(StoreError::db("reading the change marker"))?;
        let Some(row) = row else { return Ok(Vec::new()) };
        ["a", "b", "c", "d", "e"].into_iter().map(|k| get::<i64>(&row, k)).collect()
    }
}

/// A unit a hold covers (see `Store::units_covered`).
struct CoveredUnit {
    serial: String,
    status: UnitStatus,
    /// The line that last recorded it (none for a unit without visits).
    line: Option<String>,
}
