//! Lots by code and material. A collector records a lot with the material its profile names; a
//! person names a lot by its code and as much of its material as it takes to tell it apart
//! ([`LotId::matches`]). Nothing here guesses: a code that names lots of two materials is
//! [`StoreError::AmbiguousLot`] until the material is named.

use sea_orm::ConnectionTrait;

use super::results::stored_lot;
use super::sql::{among, each_row_among, get, raw};
use super::{Store, StoreError};
use crate::domain::LotId;

/// A lot row: its id, code and material, and what registered it (a collector's consumed kind,
/// or `held` for a hold placed before any collector saw it).
#[derive(Debug, Clone)]
pub(crate) struct StoredLot {
    pub(crate) id: i64,
    pub(crate) lot: LotId,
    pub(crate) kind: String,
}

impl StoredLot {
    /// Registered by a hold, never seen by a collector.
    pub(crate) fn is_placeholder(&self) -> bool {
        self.kind == HELD
    }
}

/// The kind of a lot a hold registered before any collector saw it.
pub(crate) const HELD: &str = "held";

/// Every stored lot with one of `codes`, whatever its material.
pub(crate) async fn lots_with_codes(db: &impl ConnectionTrait, codes: &[&str]) -> Result<Vec<StoredLot>, StoreError> {
    let backend = db.get_database_backend();
    let (condition, lists) = among(backend, "code", 1, codes);
    let sql = format!("SELECT {LOT_COLUMNS} FROM material_lots WHERE {condition}");
    let mut out = Vec::new();
    each_row_among(db, &sql, lists, "reading lots", |row| {
        out.push(lot_of_row(row)?);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The lots of `code` under a hold in force, every material: what a release chooses among.
pub(crate) async fn held_lots_with_code(db: &impl ConnectionTrait, code: &str) -> Result<Vec<StoredLot>, StoreError> {
    let sql = format!(
        "SELECT {LOT_COLUMNS} FROM material_lots WHERE code = $1 \
         AND id IN (SELECT lot_id FROM holds WHERE released_at IS NULL AND lot_id IS NOT NULL)"
    );
    let rows = db
        .query_all_raw(raw(db.get_database_backend(), &sql, vec![code.into()]))
        .await
        .map_err(StoreError::db("reading held lots"))?;
    rows.iter().map(lot_of_row).collect()
}

const LOT_COLUMNS: &str = "id, code, part_number, supplier, kind";

fn lot_of_row(row: &sea_orm::QueryResult) -> Result<StoredLot, StoreError> {
    Ok(StoredLot {
        id: get(row, "id")?,
        lot: stored_lot(get(row, "code")?, get(row, "part_number")?, get(row, "supplier")?)?,
        kind: get(row, "kind")?,
    })
}

/// The one lot of `stored` that `query` names: a lot equal to the query wins (so a lot with no
/// material named can be asked for), else the only one it matches; `None` when none does.
pub(crate) fn pick(query: &LotId, stored: Vec<StoredLot>) -> Result<Option<StoredLot>, StoreError> {
    let mut matching: Vec<StoredLot> = stored.into_iter().filter(|s| query.matches(&s.lot)).collect();
    if let Some(exact) = matching.iter().position(|s| &s.lot == query) {
        return Ok(Some(matching.swap_remove(exact)));
    }
    match matching.len() {
        0 | 1 => Ok(matching.pop()),
        _ => {
            let mut candidates: Vec<LotId> = matching.into_iter().map(|s| s.lot).collect();
            candidates.sort();
            Err(StoreError::AmbiguousLot { code: query.as_str().to_owned(), candidates })
        }
    }
}

impl Store {
    /// Every recorded lot with `code`, of whatever material: what a person chooses from when a
    /// code alone is ambiguous.
    pub async fn lots_with_code(&self, code: &str) -> Result<Vec<LotId>, StoreError> {
        let mut lots: Vec<LotId> = lots_with_codes(&self.db, &[code]).await?.into_iter().map(|s| s.lot).collect();
        lots.sort();
        Ok(lots)
    }

    /// The id of the one lot `query` names (see [`pick`]).
    pub(crate) async fn resolve_lot(&self, query: &LotId) -> Result<Option<StoredLot>, StoreError> {
        pick(query, lots_with_codes(&self.db, &[query.as_str()]).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Material;

    fn stored(id: i64, part: &str, supplier: &str) -> StoredLot {
        StoredLot { id, lot: lot(part, supplier), kind: "battery_lot".into() }
    }

    fn lot(part: &str, supplier: &str) -> LotId {
        LotId::parse("L1").unwrap().of(Material::new(part, supplier).unwrap())
    }

    #[test]
    fn a_code_of_two_materials_is_refused_until_the_material_is_named() {
        let both = || vec![stored(1, "BAT-PH", "Sunwoda"), stored(2, "BAT-TB", "Sunwoda")];
        let err = pick(&lot("", ""), both()).unwrap_err();
        assert!(matches!(&err, StoreError::AmbiguousLot { candidates, .. } if candidates.len() == 2), "{err}");
        assert!(err.to_string().contains("BAT-PH · Sunwoda; BAT-TB · Sunwoda"), "{err}");
        assert!(pick(&lot("", "Sunwoda"), both()).is_err(), "the supplier alone does not tell them apart");
        assert_eq!(pick(&lot("BAT-TB", ""), both()).unwrap().unwrap().id, 2);
        assert!(pick(&lot("BAT-XX", ""), both()).unwrap().is_none());
    }

    #[test]
    fn a_lot_without_material_is_reachable_beside_named_ones() {
        let lots = vec![stored(1, "", ""), stored(2, "BAT-PH", "")];
        assert_eq!(pick(&lot("", ""), lots.clone()).unwrap().unwrap().id, 1);
        assert_eq!(pick(&lot("BAT-PH", ""), lots).unwrap().unwrap().id, 2);
    }
}
