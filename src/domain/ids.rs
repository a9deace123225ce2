//! Identifiers of the plant as people and PLCs write them, parsed once at the boundary so the
//! rest of the code never sees an empty, padded or absurdly long id.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::material::Material;

/// Longest serial, lot or code we accept, in characters (so at most 2 KiB of UTF-8). Real
/// serials are 10–40 characters; 2D codes with embedded data reach a few hundred. Anything
/// longer is a read error, not a serial. Counted in characters, not bytes, so that the API's
/// schema (`maxLength`) states the rule exactly.
pub const MAX_ID_CHARS: usize = 512;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty or only white space.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier ("serial", "line", …).
        kind: &'static str,
    },
    /// Longer than [`MAX_ID_CHARS`].
    #[error("{kind} is {len} characters long; at most {MAX_ID_CHARS} are accepted")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// Its length in characters.
        len: usize,
    },
    /// Leading/trailing white space or a control character (a scanner or register artefact).
    #[error("{kind} {value:?} contains white space at an end or a control character")]
    BadCharacter {
        /// Which identifier.
        kind: &'static str,
        /// The offending value (escaped by Debug).
        value: String,
    },
    /// A code that must be a short machine name (letters, digits, `-`, `_`, `.`).
    #[error("{kind} {value:?} may only contain ASCII letters, digits, '-', '_' and '.'")]
    NotACode {
        /// Which identifier.
        kind: &'static str,
        /// The offending value.
        value: String,
    },
}

fn check_text(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.trim().is_empty() {
        return Err(IdError::Empty { kind });
    }
    let len = value.chars().count();
    if len > MAX_ID_CHARS {
        return Err(IdError::TooLong { kind, len });
    }
    if value.trim() != value || value.chars().any(char::is_control) {
        return Err(IdError::BadCharacter { kind, value: value.to_owned() });
    }
    Ok(())
}

fn check_code(kind: &'static str, value: &str) -> Result<(), IdError> {
    check_text(kind, value)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(IdError::NotACode { kind, value: value.to_owned() });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        // In the API's OpenAPI document an id is a string.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <String as utoipa::PartialSchema>::schema()
            }
        }
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Parses and validates; the error names the kind of identifier.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                $check($kind, &value)?;
                Ok(Self(value))
            }

            /// The identifier as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A production line's code, unique across the plant (`phone-1`, `smt-1`).
    LineId, "line", check_code
);
string_id!(
    /// A station's code, unique within its line (`FT`, `AOI`).
    StationId, "station", check_code
);
string_id!(
    /// A product's code (`PHONE-X1`).
    ProductCode, "product", check_code
);
string_id!(
    /// A work order's number as the ERP issued it.
    WorkOrderId, "work order", check_code
);
string_id!(
    /// A defect code as the station reports it (`SOLDER_BRIDGE`, `E-1234`).
    DefectCode, "defect code", check_code
);
string_id!(
    /// What a repair bench did to a unit, as the station reports it (`RESOLDER`, `REPLACE_PART`).
    RepairActionCode, "repair action", check_code
);
string_id!(
    /// A unit's serial as printed, laser-marked or scanned. Any Unicode is kept as is.
    SerialNumber, "serial", check_text
);
/// A material lot or reel as printed on its label, with the material it is a lot of. A lot code
/// is only unique within one material, since each supplier prints its own: the phone line's and
/// the tablet line's `BATTERY-LOT-L00001` are two lots. The code's Unicode is kept as is.
///
/// As a query (`mes trace --lot`, a hold) a material left unnamed means "any material"; see
/// [`LotId::matches`]. In JSON it is the bare code when no material is named, else an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LotId {
    code: String,
    material: Material,
}

impl LotId {
    /// Parses and validates a code, with no material named.
    pub fn parse(code: impl Into<String>) -> Result<Self, IdError> {
        let code = code.into();
        check_text("lot", &code)?;
        Ok(Self { code, material: Material::default() })
    }

    /// The same code, of `material`.
    pub fn of(self, material: Material) -> Self {
        Self { material, ..self }
    }

    /// The code as printed.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The material it is a lot of.
    pub fn material(&self) -> &Material {
        &self.material
    }

    /// Whether the stored lot `stored` answers this query: the same code, and the same part
    /// number and supplier wherever the query names one.
    pub fn matches(&self, stored: &LotId) -> bool {
        let named = |query: &str, value: &str| query.is_empty() || query == value;
        self.code == stored.code
            && named(self.material.part_number(), stored.material.part_number())
            && named(self.material.supplier(), stored.material.supplier())
    }
}

impl fmt::Display for LotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)?;
        if self.material.is_named() {
            write!(f, " ({})", self.material)?;
        }
        Ok(())
    }
}

/// How a lot is written in JSON.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum LotJson {
    Code(String),
    Full {
        code: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        part_number: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        supplier: String,
    },
}

impl Serialize for LotId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.material.is_named() {
            LotJson::Full {
                code: self.code.clone(),
                part_number: self.material.part_number().to_owned(),
                supplier: self.material.supplier().to_owned(),
            }
            .serialize(s)
        } else {
            s.serialize_str(&self.code)
        }
    }
}

impl<'de> Deserialize<'de> for LotId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (code, part_number, supplier) = match LotJson::deserialize(d)? {
            LotJson::Code(code) => (code, String::new(), String::new()),
            LotJson::Full { code, part_number, supplier } => (code, part_number, supplier),
        };
        let material = Material::new(&part_number, &supplier).map_err(serde::de::Error::custom)?;
        Ok(LotId::parse(code).map_err(serde::de::Error::custom)?.of(material))
    }
}

// In the API's OpenAPI document a lot is its code, or an object when its material is named.
impl utoipa::PartialSchema for LotId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let text = || <String as utoipa::PartialSchema>::schema();
        OneOfBuilder::new()
            .item(text())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("code", text())
                    .required("code")
                    .property("part_number", text())
                    .property("supplier", text()),
            )
            .into()
    }
}
impl utoipa::ToSchema for LotId {}

/// The sequence number a PLC gives each unit record; unique per station within one PLC epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordSeq(pub u64);

/// A PLC's boot epoch: changes when the PLC restarts, so a sequence restarting at 1 does not
/// collide with the records of the previous boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlcEpoch(pub u32);

impl fmt::Display for RecordSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for PlcEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_keep_unicode_and_reject_scanner_artefacts() {
        let cases: &[(&str, bool)] = &[
            ("PH1-000001", true),
            ("Điện-thoại-✓-序列号", true),
            ("", false),
            ("   ", false),
            (" PH1", false),
            ("PH1\r", false),
            ("PH\u{0}1", false),
        ];
        for (value, ok) in cases {
            assert_eq!(SerialNumber::parse(*value).is_ok(), *ok, "{value:?}");
        }
        assert_eq!(SerialNumber::parse("x".repeat(MAX_ID_CHARS)).map(|s| s.as_str().len()), Ok(512));
        assert_eq!(
            SerialNumber::parse("x".repeat(MAX_ID_CHARS + 1)),
            Err(IdError::TooLong { kind: "serial", len: 513 })
        );
        assert!(SerialNumber::parse("ệ".repeat(MAX_ID_CHARS)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn codes_are_machine_names() {
        assert!(LineId::parse("phone-1").is_ok());
        assert!(StationId::parse("FT_2.b").is_ok());
        assert!(matches!(LineId::parse("phone 1"), Err(IdError::NotACode { .. })));
        assert!(matches!(StationId::parse("Trạm"), Err(IdError::NotACode { .. })));
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: Result<SerialNumber, _> = serde_json::from_str("\"A-1\"");
        assert!(ok.is_ok());
        let bad: Result<SerialNumber, _> = serde_json::from_str("\"\"");
        assert!(bad.is_err());
    }
}
