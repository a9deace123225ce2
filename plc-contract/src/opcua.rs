//! How profile tags meet OPC UA: node ids as a profile writes them (namespace by URI or index)
//! and typed values as OPC UA variants. The MES driver and the simulator's server share this,
//! so a node id or a type is interpreted once.

use opcua_types::{NodeId, UAString, Variant};

use crate::codec::{CodecError, DataType, TagValue};

/// Why a node id as written cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    /// Not `ns=N;…` or `nsu=URI;…` followed by `s=`, `i=`, `g=` or `b=`.
    #[error("{0:?} is not a node id (use ns=2;s=Name or nsu=urn:…;s=Name)")]
    Malformed(String),
    /// The server does not know the namespace URI.
    #[error("namespace {0:?} is not on the server")]
    UnknownNamespace(String),
}

/// The namespace part of a node id: the URI (`nsu=`) when given, else the index (`ns=`, 0
/// when absent), and the identifier part (`s=…`, `i=…`, `g=…`, `b=…`).
pub fn split_node_id(address: &str) -> Result<(Result<u16, &str>, &str), NodeIdError> {
    let malformed = || NodeIdError::Malformed(address.to_owned());
    let (namespace, identifier) = match address.split_once(';') {
        Some((ns, id)) if ns.starts_with("nsu=") => (Err(&ns[4..]), id),
        Some((ns, id)) if ns.starts_with("ns=") => (Ok(ns[3..].parse::<u16>().map_err(|_| malformed())?), id),
        Some(_) => return Err(malformed()),
        None => (Ok(0), address),
    };
    if !["s=", "i=", "g=", "b="].iter().any(|p| identifier.starts_with(p)) || identifier.len() < 3 {
        return Err(malformed());
    }
    Ok((namespace, identifier))
}

/// Resolves a node id as written to a [`NodeId`], looking namespace URIs up with `index_of`.
pub fn node_id(address: &str, index_of: impl Fn(&str) -> Option<u16>) -> Result<NodeId, NodeIdError> {
    let (namespace, identifier) = split_node_id(address)?;
    let index = match namespace {
        Ok(i) => i,
        Err(uri) => index_of(uri).ok_or_else(|| NodeIdError::UnknownNamespace(uri.to_owned()))?,
    };
    format!("ns={index};{identifier}").parse::<NodeId>().map_err(|_| NodeIdError::Malformed(address.to_owned()))
}

/// A value as the variant of the tag's type (what a server holds and a client writes).
pub fn to_variant(value: &TagValue, data_type: DataType) -> Result<Variant, CodecError> {
    let out_of_range = || CodecError::OutOfRange { value: format!("{value:?}"), data_type };
    let int = match value {
        TagValue::Int(i) => Some(*i),
        TagValue::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    Ok(match data_type {
        DataType::Bool => Variant::Boolean(int.ok_or_else(out_of_range)? != 0),
        DataType::U16 => Variant::UInt16(int.and_then(|i| u16::try_from(i).ok()).ok_or_else(out_of_range)?),
        DataType::I16 => Variant::Int16(int.and_then(|i| i16::try_from(i).ok()).ok_or_else(out_of_range)?),
        DataType::U32 => Variant::UInt32(int.and_then(|i| u32::try_from(i).ok()).ok_or_else(out_of_range)?),
        DataType::I32 => Variant::Int32(int.and_then(|i| i32::try_from(i).ok()).ok_or_else(out_of_range)?),
        DataType::F32 => match value {
            TagValue::Float(f) => Variant::Float(*f as f32),
            _ => return Err(out_of_range()),
        },
        DataType::F64 => match value {
            TagValue::Float(f) => Variant::Double(*f),
            _ => return Err(out_of_range()),
        },
        DataType::String => match value {
            TagValue::Text(t) => Variant::String(UAString::from(t.as_str())),
            _ => return Err(out_of_range()),
        },
    })
}

/// A variant read from a server as a value; a type the profile did not promise is an error
/// naming what came instead.
pub fn from_variant(variant: &Variant, data_type: DataType) -> Result<TagValue, CodecError> {
    let wrong = || CodecError::OutOfRange { value: format!("{variant:?}"), data_type };
    Ok(match variant {
        Variant::Boolean(b) => TagValue::Bool(*b),
        Variant::SByte(v) => TagValue::Int(i64::from(*v)),
        Variant::Byte(v) => TagValue::Int(i64::from(*v)),
        Variant::Int16(v) => TagValue::Int(i64::from(*v)),
        Variant::UInt16(v) => TagValue::Int(i64::from(*v)),
        Variant::Int32(v) => TagValue::Int(i64::from(*v)),
        Variant::UInt32(v) => TagValue::Int(i64::from(*v)),
        Variant::Int64(v) => TagValue::Int(*v),
        Variant::UInt64(v) => TagValue::Int(i64::try_from(*v).map_err(|_| wrong())?),
        Variant::Float(v) => TagValue::Float(f64::from(*v)),
        Variant::Double(v) => TagValue::Float(*v),
        Variant::String(s) => TagValue::Text(s.value().clone().unwrap_or_default()),
        _ => return Err(wrong()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_resolve_by_uri_or_index_and_bad_ones_are_named() {
        let index_of = |uri: &str| (uri == "urn:mes:simulator").then_some(2);
        let id = node_id("nsu=urn:mes:simulator;s=tablet-1.LOAD.State", index_of).unwrap();
        assert_eq!(id, NodeId::new(2, "tablet-1.LOAD.State"));
        assert_eq!(node_id("ns=3;i=1001", index_of).unwrap(), NodeId::new(3, 1001u32));
        assert_eq!(node_id("i=2258", index_of).unwrap(), NodeId::new(0, 2258u32));
        assert_eq!(node_id("nsu=urn:other;s=X", index_of), Err(NodeIdError::UnknownNamespace("urn:other".into())));
        assert!(matches!(node_id("ns=x;s=X", index_of), Err(NodeIdError::Malformed(_))));
        assert!(matches!(node_id("ns=2;q=X", index_of), Err(NodeIdError::Malformed(_))));
    }

    #[test]
    fn values_round_trip_through_variants_of_their_type() {
        for (value, t) in [
            (TagValue::Int(65_535), DataType::U16),
            (TagValue::Int(-5), DataType::I16),
            (TagValue::Int(4_000_000_000), DataType::U32),
            (TagValue::Float(1.5), DataType::F32),
            (TagValue::Text("PCB-1".into()), DataType::String),
            (TagValue::Bool(true), DataType::Bool),
        ] {
            let v = to_variant(&value, t).unwrap();
            assert_eq!(from_variant(&v, t).unwrap(), value, "{t:?}");
        }
        assert!(to_variant(&TagValue::Int(70_000), DataType::U16).is_err());
        assert!(from_variant(&Variant::Empty, DataType::U16).is_err());
    }
}
