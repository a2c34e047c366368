//! Timestamps and times in text, as PostgreSQL's output functions print them with
//! `DateStyle = ISO`: fractional seconds only as far as they go (`10:00:15.5`, not
//! `10:00:15.500000`), a time zone offset as `+00` or `+05:30`, and years before 1 as
//! `BC`. (arrow-pg always prints six fractional digits.)

use bytes::BytesMut;
use chrono::{DateTime, Offset, TimeZone};
use floe_engine::arrow::array::timezone::Tz;
use std::fmt::Write;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// The zone a timestamptz column is shown in: a fixed offset, or a named zone whose
/// offset depends on the instant (daylight saving time).
#[derive(Debug, Clone, Copy)]
pub enum TimestampZone {
    Fixed(i32),
    Named(Tz),
}

impl TimestampZone {
    /// The zone an Arrow time zone string names; `None` when it names none.
    pub fn new(zone: &str) -> Option<TimestampZone> {
        fixed_offset(zone)
            .map(TimestampZone::Fixed)
            .or_else(|| zone.parse::<Tz>().ok().map(TimestampZone::Named))
    }

    /// The offset in seconds east of UTC at the instant `micros` after the epoch.
    pub fn offset_at(&self, micros: i64) -> i32 {
        match self {
            TimestampZone::Fixed(offset) => *offset,
            TimestampZone::Named(zone) => DateTime::from_timestamp_micros(micros)
                .map(|utc| {
                    zone.offset_from_utc_datetime(&utc.naive_utc())
                        .fix()
                        .local_minus_utc()
                })
                .unwrap_or(0),
        }
    }
}

/// The offset in seconds east of UTC that an Arrow time zone names, when it is a fixed
/// one (`+00:00`, `-05:30`, `UTC`, `Z`); `None` for a named zone such as `Europe/Paris`.
fn fixed_offset(zone: &str) -> Option<i32> {
    if zone.eq_ignore_ascii_case("utc") || zone == "Z" {
        return Some(0);
    }
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((hours, minutes)) => (hours, minutes),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

/// Appends the timestamp `micros` after the epoch; with `offset` (seconds east of UTC)
/// it is a timestamptz, shown in that offset.
pub fn push_timestamp(out: &mut BytesMut, micros: i64, offset: Option<i32>) {
    let local = micros.saturating_add(i64::from(offset.unwrap_or(0)) * MICROS_PER_SECOND);
    let days = local.div_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    // PostgreSQL has no year 0: the year before 1 AD is 1 BC.
    let (shown_year, bc) = if year <= 0 {
        (1 - year, true)
    } else {
        (year, false)
    };
    let _ = write!(out, "{shown_year:04}-{month:02}-{day:02} ");
    push_time(out, local.rem_euclid(MICROS_PER_DAY));
    if let Some(offset) = offset {
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs();
        let _ = write!(out, "{sign}{:02}", offset / 3600);
        if offset % 3600 != 0 {
            let _ = write!(out, ":{:02}", offset % 3600 / 60);
        }
    }
    if bc {
        out.extend_from_slice(b" BC");
    }
}

/// Appends the time of day `micros` after midnight: `HH:MM:SS` and the fraction without
/// its trailing zeros.
pub fn push_time(out: &mut BytesMut, micros: i64) {
    let seconds = micros / MICROS_PER_SECOND;
    let fraction = micros % MICROS_PER_SECOND;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    );
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        out.extend_from_slice(b".");
        out.extend_from_slice(digits.trim_end_matches('0').as_bytes());
    }
}

/// The proleptic Gregorian (year, month, day) of `days` after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(micros: i64, offset: Option<i32>) -> String {
        let mut out = BytesMut::new();
        push_timestamp(&mut out, micros, offset);
        String::from_utf8(out.to_vec()).unwrap()
    }

    // 2024-01-01 10:00:15 UTC.
    const MORNING: i64 = 1_704_103_215 * MICROS_PER_SECOND;

    #[test]
    fn timestamps_print_as_postgres_does() {
        assert_eq!(timestamp(MORNING + 500_000, None), "2024-01-01 10:00:15.5");
        assert_eq!(timestamp(MORNING, None), "2024-01-01 10:00:15");
        assert_eq!(timestamp(MORNING + 1, None), "2024-01-01 10:00:15.000001");
        assert_eq!(
            timestamp(MORNING + 120_000, Some(0)),
            "2024-01-01 10:00:15.12+00"
        );
        assert_eq!(
            timestamp(MORNING, Some(19_800)),
            "2024-01-01 15:30:15+05:30"
        );
        assert_eq!(timestamp(MORNING, Some(-3600)), "2024-01-01 09:00:15-01");
        assert_eq!(timestamp(0, None), "1970-01-01 00:00:00");
        assert_eq!(timestamp(-1, None), "1969-12-31 23:59:59.999999");
        assert_eq!(
            timestamp(951_782_400 * MICROS_PER_SECOND, None),
            "2000-02-29 00:00:00"
        );
        // The day before 0001-01-01 is in 1 BC; 10000-01-01 has five digits.
        assert_eq!(
            timestamp(-719_163 * MICROS_PER_DAY, None),
            "0001-12-31 00:00:00 BC"
        );
        assert_eq!(
            timestamp(-719_163 * MICROS_PER_DAY, Some(0)),
            "0001-12-31 00:00:00+00 BC"
        );
        assert_eq!(
            timestamp(253_402_300_800 * MICROS_PER_SECOND, None),
            "10000-01-01 00:00:00"
        );
    }

    #[test]
    fn fixed_offsets() {
        assert_eq!(fixed_offset("+00:00"), Some(0));
        assert_eq!(fixed_offset("UTC"), Some(0));
        assert_eq!(fixed_offset("-05:30"), Some(-19_800));
        assert_eq!(fixed_offset("+0200"), Some(7200));
        assert_eq!(fixed_offset("+02"), Some(7200));
        assert_eq!(fixed_offset("Europe/Paris"), None);
        assert_eq!(fixed_offset("+25:00"), None);
    }

    #[test]
    fn named_zones_follow_daylight_saving_time() {
        let new_york = TimestampZone::new("America/New_York").unwrap();
        // 2024-06-01 12:00 UTC is summer time (-04), 2024-01-01 10:00:15 UTC winter (-05).
        let june = 1_717_243_200 * MICROS_PER_SECOND;
        assert_eq!(new_york.offset_at(june), -4 * 3600);
        assert_eq!(new_york.offset_at(MORNING), -5 * 3600);
        assert_eq!(
            timestamp(june, Some(new_york.offset_at(june))),
            "2024-06-01 08:00:00-04"
        );
        assert!(matches!(
            TimestampZone::new("+05:30"),
            Some(TimestampZone::Fixed(19_800))
        ));
        assert!(TimestampZone::new("Nowhere/Bad").is_none());
    }
}
