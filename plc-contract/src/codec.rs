//! Register codecs: how PLC values sit in 16-bit Modbus registers. One codec serves the MES
//! driver (decode) and the simulators (encode), and known vectors pin both directions so a
//! symmetric bug cannot hide (0x4120_0000 is 10.0f32 in ABCD order).

use serde::{Deserialize, Serialize};

/// Byte order inside one 16-bit register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByteOrder {
    /// High byte first ("AB"), the Modbus standard.
    #[default]
    Big,
    /// Low byte first ("BA").
    Little,
}

/// Order of the 16-bit words of a 32- or 64-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordOrder {
    /// Most significant word first ("ABCD").
    #[default]
    Big,
    /// Least significant word first ("CDAB"), common on some PLC families.
    Little,
}

/// A PLC data type as a profile names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// One bit (coil, discrete input, or a register's value ≠ 0).
    Bool,
    /// Unsigned 16-bit.
    U16,
    /// Signed 16-bit.
    I16,
    /// Unsigned 32-bit, two registers.
    U32,
    /// Signed 32-bit, two registers.
    I32,
    /// IEEE 754 single, two registers.
    F32,
    /// IEEE 754 double, four registers.
    F64,
    /// ASCII text, two characters per register; the length is given in registers.
    String,
}

impl DataType {
    /// Registers a value of this type occupies (`length` is used by strings only).
    pub fn registers(self, length: u16) -> u16 {
        match self {
            DataType::Bool | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::F64 => 4,
            DataType::String => length,
        }
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    /// A bit.
    Bool(bool),
    /// Any integer type, widened.
    Int(i64),
    /// Any float type, widened.
    Float(f64),
    /// Text with trailing NULs and spaces removed.
    Text(String),
}

/// Why registers could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Fewer registers than the type needs.
    #[error("{data_type:?} needs {needed} registers, got {got}")]
    TooShort {
        /// The type.
        data_type: DataType,
        /// Needed.
        needed: usize,
        /// Got.
        got: usize,
    },
    /// Text that is not ASCII (garbage in the registers).
    #[error("string registers hold non-ASCII byte 0x{byte:02x}")]
    NotAscii {
        /// The first offending byte.
        byte: u8,
    },
    /// A value that does not fit the type when encoding.
    #[error("value {value} does not fit {data_type:?}")]
    OutOfRange {
        /// The value.
        value: String,
        /// The type.
        data_type: DataType,
    },
}

fn word(w: u16, bytes: ByteOrder) -> u16 {
    match bytes {
        ByteOrder::Big => w,
        ByteOrder::Little => w.swap_bytes(),
    }
}

/// Joins words (in register order) into a big-endian integer of `n` words.
fn join(regs: &[u16], bytes: ByteOrder, words: WordOrder) -> u64 {
    // Without an intermediate vector: a poll decodes several of these per station per tick.
    let fold = |acc: u64, w: &u16| (acc << 16) | u64::from(word(*w, bytes));
    match words {
        WordOrder::Big => regs.iter().fold(0, fold),
        WordOrder::Little => regs.iter().rev().fold(0, fold),
    }
}

/// Splits a big-endian integer of `n` words into registers in register order.
fn split(value: u64, n: usize, bytes: ByteOrder, words: WordOrder) -> Vec<u16> {
    let mut ws: Vec<u16> = (0..n).rev().map(|i| u16::try_from((value >> (16 * i)) & 0xFFFF).unwrap_or(0)).collect();
    if words == WordOrder::Little {
        ws.reverse();
    }
    ws.into_iter().map(|w| word(w, bytes)).collect()
}

/// Decodes registers (in address order) into a value.
pub fn decode(
    regs: &[u16],
    data_type: DataType,
    length: u16,
    bytes: ByteOrder,
    words: WordOrder,
) -> Result<TagValue, CodecError> {
    let needed = usize::from(data_type.registers(length));
    if regs.len() < needed {
        return Err(CodecError::TooShort { data_type, needed, got: regs.len() });
    }
    let regs = &regs[..needed];
    Ok(match data_type {
        DataType::Bool => TagValue::Bool(regs[0] != 0),
        DataType::U16 => TagValue::Int(i64::from(word(regs[0], bytes))),
        DataType::I16 => TagValue::Int(i64::from(word(regs[0], bytes) as i16)),
        DataType::U32 => TagValue::Int(i64::from(join(regs, bytes, words) as u32)),
        DataType::I32 => TagValue::Int(i64::from(join(regs, bytes, words) as u32 as i32)),
        DataType::F32 => TagValue::Float(f64::from(f32::from_bits(join(regs, bytes, words) as u32))),
        DataType::F64 => TagValue::Float(f64::from_bits(join(regs, bytes, words))),
        DataType::String => {
            let mut text = Vec::with_capacity(needed * 2);
            for r in regs {
                let [hi, lo] = word(*r, bytes).to_be_bytes();
                text.extend([hi, lo]);
            }
            while text.last().is_some_and(|b| *b == 0 || *b == b' ') {
                text.pop();
            }
            if let Some(bad) = text.iter().find(|b| !b.is_ascii() || (b.is_ascii_control() && **b != 0)) {
                return Err(CodecError::NotAscii { byte: *bad });
            }
            TagValue::Text(text.into_iter().map(char::from).collect())
        }
    })
}

/// Encodes a value into registers (in address order).
pub fn encode(
    value: &TagValue,
    data_type: DataType,
    length: u16,
    bytes: ByteOrder,
    words: WordOrder,
) -> Result<Vec<u16>, CodecError> {
    let out_of_range = || CodecError::OutOfRange { value: format!("{value:?}"), data_type };
    let int = |v: &TagValue| match v {
        TagValue::Int(i) => Some(*i),
        TagValue::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    Ok(match data_type {
        DataType::Bool => vec![u16::from(int(value).ok_or_else(out_of_range)? != 0)],
        DataType::U16 => {
            vec![word(u16::try_from(int(value).ok_or_else(out_of_range)?).map_err(|_| out_of_range())?, bytes)]
        }
        DataType::I16 => {
            let v = i16::try_from(int(value).ok_or_else(out_of_range)?).map_err(|_| out_of_range())?;
            vec![word(v as u16, bytes)]
        }
        DataType::U32 => {
            let v = u32::try_from(int(value).ok_or_else(out_of_range)?).map_err(|_| out_of_range())?;
            split(u64::from(v), 2, bytes, words)
        }
        DataType::I32 => {
            let v = i32::try_from(int(value).ok_or_else(out_of_range)?).map_err(|_| out_of_range())?;
            split(u64::from(v as u32), 2, bytes, words)
        }
        DataType::F32 => match value {
            TagValue::Float(f) => split(u64::from((*f as f32).to_bits()), 2, bytes, words),
            _ => return Err(out_of_range()),
        },
        DataType::F64 => match value {
            TagValue::Float(f) => split(f.to_bits(), 4, bytes, words),
            _ => return Err(out_of_range()),
        },
        DataType::String => {
            let TagValue::Text(text) = value else { return Err(out_of_range()) };
            if !text.is_ascii() || text.len() > usize::from(length) * 2 {
                return Err(out_of_range());
            }
            let mut raw = text.as_bytes().to_vec();
            raw.resize(usize::from(length) * 2, 0);
            raw.chunks(2).map(|c| word(u16::from_be_bytes([c[0], c[1]]), bytes)).collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BB: (ByteOrder, WordOrder) = (ByteOrder::Big, WordOrder::Big);

    #[test]
    fn known_vectors_decode() {
        let cases: &[(&[u16], DataType, ByteOrder, WordOrder, TagValue)] = &[
            (&[0x4120, 0x0000], DataType::F32, ByteOrder::Big, WordOrder::Big, TagValue::Float(10.0)),
            (&[0x0000, 0x4120], DataType::F32, ByteOrder::Big, WordOrder::Little, TagValue::Float(10.0)),
            (&[0x2041, 0x0000], DataType::F32, ByteOrder::Little, WordOrder::Big, TagValue::Float(10.0)),
            (&[0x0001, 0x0000], DataType::U32, ByteOrder::Big, WordOrder::Big, TagValue::Int(65_536)),
            (&[0x0000, 0x0001], DataType::U32, ByteOrder::Big, WordOrder::Little, TagValue::Int(65_536)),
            (&[0xFFFF], DataType::I16, ByteOrder::Big, WordOrder::Big, TagValue::Int(-1)),
            (&[0xFFFF, 0xFFFE], DataType::I32, ByteOrder::Big, WordOrder::Big, TagValue::Int(-2)),
            (&[0x4024, 0, 0, 0], DataType::F64, ByteOrder::Big, WordOrder::Big, TagValue::Float(10.0)),
        ];
        for (regs, t, b, w, want) in cases {
            assert_eq!(decode(regs, *t, 0, *b, *w).unwrap(), *want, "{t:?} {b:?} {w:?} {regs:04x?}");
        }
        assert_eq!(
            decode(&[0x5048, 0x312D, 0x3030, 0x3120], DataType::String, 4, BB.0, BB.1).unwrap(),
            TagValue::Text("PH1-001".into())
        );
        assert_eq!(
            decode(&[0x4850, 0x2D31], DataType::String, 2, ByteOrder::Little, WordOrder::Big).unwrap(),
            TagValue::Text("PH1-".into())
        );
    }

    #[test]
    fn encode_inverts_decode_on_every_type_and_order() {
        let values = [
            (DataType::Bool, TagValue::Bool(true)),
            (DataType::U16, TagValue::Int(65_535)),
            (DataType::I16, TagValue::Int(-32_768)),
            (DataType::U32, TagValue::Int(4_000_000_000)),
            (DataType::I32, TagValue::Int(-123_456)),
            (DataType::F32, TagValue::Float(0.3125)),
            (DataType::F64, TagValue::Float(-1234.5678)),
            (DataType::String, TagValue::Text("TB1-0000042".into())),
        ];
        for b in [ByteOrder::Big, ByteOrder::Little] {
            for w in [WordOrder::Big, WordOrder::Little] {
                for (t, v) in &values {
                    let regs = encode(v, *t, 8, b, w).unwrap();
                    let back = decode(&regs, *t, 8, b, w).unwrap();
                    let back =
                        if let (DataType::Bool, TagValue::Bool(x)) = (t, &back) { TagValue::Bool(*x) } else { back };
                    assert_eq!(&back, v, "{t:?} {b:?} {w:?}");
                }
            }
        }
        assert_eq!(encode(&TagValue::Float(10.0), DataType::F32, 0, BB.0, BB.1).unwrap(), vec![0x4120, 0x0000]);
    }

    #[test]
    fn garbage_and_misfits_are_errors_not_panics() {
        assert!(matches!(decode(&[0x4120], DataType::F32, 0, BB.0, BB.1), Err(CodecError::TooShort { .. })));
        assert!(matches!(decode(&[0xC3A9], DataType::String, 1, BB.0, BB.1), Err(CodecError::NotAscii { byte: 0xC3 })));
        assert!(encode(&TagValue::Int(70_000), DataType::U16, 0, BB.0, BB.1).is_err());
        assert!(encode(&TagValue::Text("TOO LONG".into()), DataType::String, 2, BB.0, BB.1).is_err());
    }
}
