//! A PLC's own clock as a record field: the instant a station finished a unit, as the PLC
//! stamped it, in the zone the PLC's clock keeps. The MES decodes it ([`from_tag`]); the
//! simulators encode it ([`to_tag`]); one definition serves both.
//!
//! Encodings, by the tag's data type:
//! - `u32`: whole seconds since 1970-01-01 00:00 *of the clock's wall time* (a PLC clock set to
//!   plant time counts local seconds; one set to UTC counts Unix time);
//! - `f64`: the same with a fraction of a second;
//! - `string`: RFC 3339 with an offset, or the clock's wall time as `YYYY-MM-DDTHH:MM:SS[.fff]`
//!   (or with a space for the `T`).
//!
//! No clock is read here: the instants come in and go out as values.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::codec::{DataType, TagValue};

/// The value a PLC whose clock keeps `zone` shows for `at` in a tag of `data_type`.
pub fn to_tag(at: DateTime<Utc>, zone: Tz, data_type: DataType) -> TagValue {
    let wall = at.with_timezone(&zone).naive_local().and_utc();
    match data_type {
        DataType::F64 | DataType::F32 => {
            TagValue::Float(wall.timestamp() as f64 + f64::from(wall.timestamp_subsec_millis()) / 1000.0)
        }
        DataType::String => TagValue::Text(wall.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()),
        _ => TagValue::Int(wall.timestamp()),
    }
}

/// The instant a PLC clock value stands for, its clock keeping `zone`; an error in words when
/// the value is no time (0 is: a PLC whose clock was never set).
pub fn from_tag(value: &TagValue, zone: Tz) -> Result<DateTime<Utc>, String> {
    let local = |wall: NaiveDateTime| {
        zone.from_local_datetime(&wall)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{wall} does not exist in {zone}"))
    };
    let seconds = |s: f64| -> Result<DateTime<Utc>, String> {
        if !s.is_finite() || s <= 0.0 || s >= 253_402_300_800.0 {
            return Err(format!("{s} is no clock time (seconds since 1970 within the years 1970-9999)"));
        }
        let whole = s.floor();
        let nanos = ((s - whole) * 1e9).round().min(999_999_999.0) as u32;
        let wall = DateTime::from_timestamp(whole as i64, nanos).ok_or_else(|| format!("{s} is out of range"))?;
        local(wall.naive_utc())
    };
    match value {
        TagValue::Int(i) => seconds(*i as f64),
        TagValue::Float(f) => seconds(*f),
        TagValue::Text(t) => {
            let t = t.trim();
            if let Ok(at) = DateTime::parse_from_rfc3339(t) {
                return Ok(at.with_timezone(&Utc));
            }
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
                .ok_or_else(|| format!("{t:?} is not a time like 2026-12-03T14:05:09.250"))
                .and_then(local)
        }
        TagValue::Bool(_) => Err("a bit is no clock time".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plant_time_clocks_round_trip_in_every_encoding() {
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 7, 5, 9).unwrap() + chrono::Duration::milliseconds(250);
        let hcm: Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
        // 07:05:09 UTC is 14:05:09 in Ho Chi Minh City (UTC+7): the PLC counts local seconds.
        assert_eq!(to_tag(at, hcm, DataType::U32), TagValue::Int(1_796_306_709));
        assert_eq!(to_tag(at, hcm, DataType::String), TagValue::Text("2026-12-03T14:05:09.250".into()));
        assert_eq!(from_tag(&to_tag(at, hcm, DataType::F64), hcm).unwrap(), at);
        assert_eq!(from_tag(&to_tag(at, hcm, DataType::String), hcm).unwrap(), at);
        let whole = at - chrono::Duration::milliseconds(250);
        assert_eq!(from_tag(&to_tag(at, hcm, DataType::U32), hcm).unwrap(), whole);
        assert_eq!(
            from_tag(&TagValue::Int(1_796_281_509), chrono_tz::UTC).unwrap(),
            whole,
            "a UTC clock counts Unix time"
        );
        assert_eq!(
            from_tag(&TagValue::Text("2026-12-03T07:05:09.25Z".into()), hcm).unwrap(),
            at,
            "RFC 3339 keeps its offset"
        );
    }

    #[test]
    fn an_unset_or_garbled_clock_is_an_error_in_words() {
        let utc = chrono_tz::UTC;
        assert!(from_tag(&TagValue::Int(0), utc).unwrap_err().contains("no clock time"));
        assert!(from_tag(&TagValue::Float(f64::NAN), utc).is_err());
        assert!(from_tag(&TagValue::Int(i64::MAX), utc).is_err());
        assert!(from_tag(&TagValue::Text("yesterday".into()), utc).unwrap_err().contains("not a time"));
        assert!(from_tag(&TagValue::Bool(true), utc).is_err());
    }
}
