//! Materials: what a lot is a lot of. Lot codes are printed by suppliers, so a lot is known by
//! its code *and* its material (part number and supplier), never by its code alone.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::IdError;

/// The part number and supplier of a lot, as a line's profile declares them for a consumed
/// item (or an engineer names them). Either may be empty: not named.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Material {
    part_number: String,
    supplier: String,
}

impl Material {
    /// A material from its part number and supplier (empty: not named). Names are text without
    /// leading or trailing white space or control characters.
    pub fn new(part_number: &str, supplier: &str) -> Result<Self, IdError> {
        for (kind, value) in [("part number", part_number), ("supplier", supplier)] {
            if !value.is_empty() && (value.trim() != value || value.chars().any(char::is_control)) {
                return Err(IdError::BadCharacter { kind, value: value.to_owned() });
            }
            let len = value.chars().count();
            if len > super::ids::MAX_ID_CHARS {
                return Err(IdError::TooLong { kind, len });
            }
        }
        Ok(Self { part_number: part_number.to_owned(), supplier: supplier.to_owned() })
    }

    /// The manufacturer part number, or empty.
    pub fn part_number(&self) -> &str {
        &self.part_number
    }

    /// The supplier, or empty.
    pub fn supplier(&self) -> &str {
        &self.supplier
    }

    /// Whether a part number or a supplier is named.
    pub fn is_named(&self) -> bool {
        !self.part_number.is_empty() || !self.supplier.is_empty()
    }
}

/// `part number · supplier`, either alone when the other is not named.
impl fmt::Display for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.part_number.is_empty(), self.supplier.is_empty()) {
            (false, false) => write!(f, "{} · {}", self.part_number, self.supplier),
            (false, true) => f.write_str(&self.part_number),
            (true, false) => f.write_str(&self.supplier),
            (true, true) => Ok(()),
        }
    }
}

impl Material {
    /// The material as a person reads it, or `unnamed` (in the reader's language) when
    /// nothing is named.
    pub fn label(&self, unnamed: &str) -> String {
        if self.is_named() { self.to_string() } else { unnamed.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::LotId;

    fn lot(code: &str, part: &str, supplier: &str) -> LotId {
        LotId::parse(code).unwrap().of(Material::new(part, supplier).unwrap())
    }

    #[test]
    fn a_query_matches_lots_of_the_code_on_what_it_names() {
        let stored = lot("L1", "BAT-4500", "Sunwoda");
        assert!(lot("L1", "", "").matches(&stored));
        assert!(lot("L1", "BAT-4500", "").matches(&stored));
        assert!(lot("L1", "", "Sunwoda").matches(&stored));
        assert!(!lot("L1", "BAT-8000", "").matches(&stored));
        assert!(!lot("L2", "", "").matches(&stored));
        assert!(!lot("L1", "BAT-4500", "Sunwoda").matches(&lot("L1", "", "")), "a named query needs the name");
    }

    #[test]
    fn lots_read_back_from_json_as_written_and_bare_codes_stay_strings() {
        let bare = LotId::parse("REEL-1").unwrap();
        assert_eq!(serde_json::to_string(&bare).unwrap(), "\"REEL-1\"");
        let named = lot("L1", "BAT-4500", "");
        let json = serde_json::to_string(&named).unwrap();
        assert_eq!(json, r#"{"code":"L1","part_number":"BAT-4500"}"#);
        assert_eq!(serde_json::from_str::<LotId>(&json).unwrap(), named);
        assert_eq!(serde_json::from_str::<LotId>("\"REEL-1\"").unwrap(), bare);
        assert!(serde_json::from_str::<LotId>(r#"{"code":" L1"}"#).is_err());
        assert_eq!(named.to_string(), "L1 (BAT-4500)");
        assert_eq!(lot("L1", "BAT-4500", "Sunwoda").to_string(), "L1 (BAT-4500 · Sunwoda)");
    }

    #[test]
    fn names_with_padding_or_control_characters_are_refused() {
        assert!(Material::new(" BAT", "").is_err());
        assert!(Material::new("BAT", "Sun\twoda").is_err());
        assert!(Material::new("", "").is_ok_and(|m| !m.is_named()));
    }
}
