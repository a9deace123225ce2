//! Shifts and calendars in the plant's time zone. Instants are stored in UTC; a shift is a
//! local wall-clock window, which may cross midnight (a 22:00–06:00 night shift belongs to the
//! date it started on).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The plant's default time zone (Thanh Hóa, Vietnam).
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Ho_Chi_Minh;

/// One shift of the daily calendar, in local wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftDef {
    /// Shift name ("A", "night").
    pub name: String,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time; at or before `start` means the shift ends the next day.
    pub end: NaiveTime,
    /// Planned breaks inside the shift (meals, handovers): not planned busy time (ISO 22400).
    #[serde(default)]
    pub breaks: Vec<PlannedBreak>,
}

/// A planned break in local wall-clock time. It lies inside its shift; a break whose start is
/// before the shift's start (a 02:00 meal in a 22:00–06:00 shift) is on the next day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedBreak {
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time (after `start`).
    pub end: NaiveTime,
}

/// A concrete shift on a date, located in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftInstance {
    /// Shift name.
    pub name: String,
    /// Local date the shift started on.
    pub date: NaiveDate,
    /// Start in UTC (inclusive).
    pub start: DateTime<Utc>,
    /// End in UTC (exclusive).
    pub end: DateTime<Utc>,
}

/// The plant's daily shift pattern in its time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftCalendar {
    /// Plant time zone.
    pub time_zone: Tz,
    /// Shifts, in the order they start.
    pub shifts: Vec<ShiftDef>,
}

impl ShiftCalendar {
    /// Three 8-hour shifts starting at 06:00, the pattern of the bundled demo plant.
    pub fn three_shifts(time_zone: Tz) -> Self {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        Self {
            time_zone,
            shifts: vec![
                ShiftDef { name: "A".into(), start: t(6), end: t(14), breaks: Vec::new() },
                ShiftDef { name: "B".into(), start: t(14), end: t(22), breaks: Vec::new() },
                ShiftDef { name: "C".into(), start: t(22), end: t(6), breaks: Vec::new() },
            ],
        }
    }

    /// The instance of `shift` that starts on local `date`. `None` if the local start does not
    /// exist (a daylight-saving gap).
    pub fn instance(&self, shift: &ShiftDef, date: NaiveDate) -> Option<ShiftInstance> {
        let end_date = if shift.end <= shift.start { date + Duration::days(1) } else { date };
        let start = self.time_zone.from_local_datetime(&date.and_time(shift.start)).earliest()?;
        let end = self.time_zone.from_local_datetime(&end_date.and_time(shift.end)).earliest()?;
        Some(ShiftInstance {
            name: shift.name.clone(),
            date,
            start: start.with_timezone(&Utc),
            end: end.with_timezone(&Utc),
        })
    }

    /// Planned busy time of `[from, to)`: every shift's span minus its planned breaks, clipped
    /// to the period, in order and without overlap (ISO 22400-2 PBT = POT − PDOT, with the
    /// breaks as the planned down time). Time between shifts is not planned.
    pub fn planned_windows(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut windows = Vec::new();
        let mut date = from.with_timezone(&self.time_zone).date_naive() - Duration::days(1);
        let last = to.with_timezone(&self.time_zone).date_naive();
        while date <= last {
            for shift in &self.shifts {
                let Some(instance) = self.instance(shift, date) else { continue };
                let mut pieces = vec![(instance.start.max(from), instance.end.min(to))];
                for b in &shift.breaks {
                    let on = if b.start < shift.start { date + Duration::days(1) } else { date };
                    let local = |t| self.time_zone.from_local_datetime(&on.and_time(t)).earliest();
                    let (Some(bs), Some(be)) = (local(b.start), local(b.end)) else { continue };
                    let (bs, be) = (bs.with_timezone(&Utc), be.with_timezone(&Utc));
                    pieces = pieces
                        .into_iter()
                        .flat_map(|(s, e)| [(s, e.min(bs)), (s.max(be), e)])
                        .filter(|(s, e)| s < e)
                        .collect();
                }
                windows.extend(pieces.into_iter().filter(|(s, e)| s < e));
            }
            date += Duration::days(1);
        }
        windows.sort();
        // Overlapping shift definitions must not count the same time twice.
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (s, e) in windows {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    /// The shift that `at` falls in, or `None` between shifts.
    pub fn locate(&self, at: DateTime<Utc>) -> Option<ShiftInstance> {
        let local_date = at.with_timezone(&self.time_zone).date_naive();
        [local_date - Duration::days(1), local_date]
            .into_iter()
            .flat_map(|date| self.shifts.iter().filter_map(move |s| self.instance(s, date)))
            .find(|i| i.start <= at && at < i.end)
    }
}

/// An instant given by a person: RFC 3339 (`2026-11-23T06:00:00+07:00`), or plant-local time
/// in `zone` (`2026-11-23T06:00`, `2026-11-23 06:00`, either with seconds and a fraction,
/// `2026-11-23` for local midnight). The
/// error says what was wrong, in words fit for a command line or an API answer.
pub fn parse_instant(value: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    use chrono::{Datelike, NaiveDateTime};
    // Four-digit years only (year 1 in plant time may be year 0 in UTC): arithmetic on the
    // period (slices, days before) stays far from chrono's limits, whatever a client sends.
    let in_range = |t: DateTime<Utc>| {
        if (0..=9999).contains(&t.year()) { Ok(t) } else { Err(format!("{value:?} is outside the years 1 to 9999")) }
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return in_range(t.with_timezone(&Utc));
    }
    // ISO, or day first as Vietnam writes dates (what the Vietnamese pages show and take).
    let local = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%d/%m/%Y %H:%M",
        "%d/%m/%Y %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%d/%m/%Y"]
            .iter()
            .find_map(|format| NaiveDate::parse_from_str(value, format).ok())
            .map(|d| d.and_time(NaiveTime::MIN))
    })
    .ok_or_else(|| {
        format!(
            "{value:?} is not a time: use RFC 3339, YYYY-MM-DDTHH:MM[:SS], YYYY-MM-DD, DD/MM/YYYY HH:MM[:SS] or DD/MM/YYYY (plant time, the T may be a space)"
        )
    })?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{value:?} does not exist in {zone}"))
        .and_then(in_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_or_plant_local_time() {
        let hcm = DEFAULT_TIME_ZONE;
        let utc = |h| Utc.with_ymd_and_hms(2026, 11, 22, h, 0, 0).unwrap();
        assert_eq!(parse_instant("2026-11-23T06:00:00+07:00", hcm).unwrap(), utc(23));
        assert_eq!(parse_instant("2026-11-23T06:00", hcm).unwrap(), utc(23));
        assert_eq!(parse_instant("2026-11-23", hcm).unwrap(), utc(17));
        // Plant time with seconds, as a person copies it from a page (issue 16).
        let seconds = utc(23) + chrono::Duration::seconds(7);
        assert_eq!(parse_instant("2026-11-23T06:00:07", hcm).unwrap(), seconds);
        assert_eq!(parse_instant("2026-11-23 06:00:07", hcm).unwrap(), seconds);
        assert_eq!(
            parse_instant("2026-11-23T06:00:07.250", hcm).unwrap(),
            seconds + chrono::Duration::milliseconds(250)
        );
        assert!(parse_instant("2026-11-23T06:00:61", hcm).is_err());
        // Day first, as the Vietnamese pages write it; never month first.
        assert_eq!(parse_instant("23/11/2026 06:00", hcm).unwrap(), utc(23));
        assert_eq!(parse_instant("23/11/2026 06:00:07", hcm).unwrap(), seconds);
        assert_eq!(parse_instant("23/11/2026", hcm).unwrap(), utc(17));
        assert!(parse_instant("11/23/2026 06:00", hcm).is_err(), "no 23rd month");
        assert!(parse_instant("yesterday", hcm).unwrap_err().contains("not a time"));
        assert!(parse_instant("262143-01-01", hcm).is_err(), "no year a period's arithmetic could overflow");
        assert!(parse_instant("0001-01-01", hcm).is_ok(), "plant-local year 1 is year 0 in UTC");
        assert!(parse_instant("9999-12-31T23:59:59Z", hcm).is_ok());
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn night_shift_crossing_midnight_belongs_to_its_start_date() {
        let cal = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        // 2026-11-24 01:30 local (UTC+7) = 2026-11-23 18:30 UTC: shift C of the 23rd.
        let at = utc(2026, 11, 23, 18, 30);
        let shift = cal.locate(at).unwrap();
        assert_eq!(shift.name, "C");
        assert_eq!(shift.date, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        // C of the 23rd runs 22:00 local (15:00 UTC) to 06:00 local on the 24th (23:00 UTC).
        assert_eq!(shift.start, utc(2026, 11, 23, 15, 0));
        assert_eq!(shift.end, utc(2026, 11, 23, 23, 0));
    }

    #[test]
    fn shift_boundaries_are_start_inclusive_end_exclusive() {
        let cal = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        // 06:00 local = 23:00 UTC the day before: first instant of shift A.
        assert_eq!(cal.locate(utc(2026, 11, 23, 23, 0)).unwrap().name, "A");
        assert_eq!(cal.locate(utc(2026, 11, 23, 22, 59)).unwrap().name, "C");
    }

    #[test]
    fn planned_time_is_the_shifts_minus_their_breaks_even_across_midnight() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let mut cal = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        cal.shifts[0].breaks = vec![PlannedBreak { start: t(10, 0), end: t(10, 30) }];
        // A meal at 02:00–02:45 in the night shift that started at 22:00 the day before.
        cal.shifts[2].breaks = vec![PlannedBreak { start: t(2, 0), end: t(2, 45) }];
        // The local day of 2026-11-24: 2026-11-23 17:00 UTC to 2026-11-24 17:00 UTC.
        let (from, to) = (utc(2026, 11, 23, 17, 0), utc(2026, 11, 24, 17, 0));
        let windows = cal.planned_windows(from, to);
        let planned: i64 = windows.iter().map(|(s, e)| (*e - *s).num_minutes()).sum();
        // 24 h minus 30 min (A) minus 45 min (C of the 23rd, at 02:00 on the 24th) = 1365 min.
        // C of the 24th starts 22:00 local and its break (02:00 on the 25th) is past the day.
        assert_eq!(planned, 24 * 60 - 30 - 45);
        // 02:00 local on the 24th = 19:00 UTC on the 23rd.
        assert!(windows.contains(&(utc(2026, 11, 23, 17, 0), utc(2026, 11, 23, 19, 0))), "{windows:?}");
        assert!(windows.contains(&(utc(2026, 11, 23, 19, 45), utc(2026, 11, 24, 3, 0))), "{windows:?}");
        // Back-to-back shifts merge: no gap at 14:00 local (07:00 UTC).
        assert!(windows.windows(2).all(|w| w[0].1 < w[1].0));
        // A day shift only: the night is not planned.
        let day = ShiftCalendar {
            time_zone: DEFAULT_TIME_ZONE,
            shifts: vec![ShiftDef { name: "day".into(), start: t(8, 0), end: t(17, 0), breaks: Vec::new() }],
        };
        assert_eq!(day.planned_windows(from, to), vec![(utc(2026, 11, 24, 1, 0), utc(2026, 11, 24, 10, 0))]);
    }

    #[test]
    fn gaps_between_shifts_belong_to_no_shift() {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        let cal = ShiftCalendar {
            time_zone: DEFAULT_TIME_ZONE,
            shifts: vec![ShiftDef { name: "day".into(), start: t(8), end: t(17), breaks: Vec::new() }],
        };
        assert!(cal.locate(utc(2026, 11, 23, 12, 0)).is_none(), "19:00 local is off shift");
        assert_eq!(cal.locate(utc(2026, 11, 23, 3, 0)).unwrap().name, "day");
    }
}
