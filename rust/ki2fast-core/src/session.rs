//! The session date, and with it the UTC instant of the session's local midnight, which
//! turns ITCH's nanoseconds-since-midnight into absolute `America/New_York` timestamps.
//!
//! The date comes from the caller or from NASDAQ's file names (`MMDDYYYY.NASDAQ_ITCH50`,
//! `YYYYMMDD.BX_ITCH_50` / `.PSX_ITCH_50`, `SMMDDYY-v50.txt`, each optionally `.gz`). The UTC
//! offset comes from the tz database for that date, never from a constant: sessions never
//! contain a DST switch (those happen on Sundays at 02:00), so elapsed time since midnight
//! and wall-clock time agree on every session date.

use std::path::Path;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::America::New_York;

use crate::error::{Error, Result};

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        Error::InvalidArgument(format!(
            "session date {text:?} is not a calendar date YYYY-MM-DD"
        ))
    })
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The session date encoded in a NASDAQ file name, if any (and if it is a real date).
pub fn date_from_file_name(path: &Path) -> Option<NaiveDate> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_suffix(".gz").unwrap_or(name);
    let (stem, suffix) = name.split_once('.').unwrap_or((name, ""));
    let ymd = |y: u32, m: u32, d: u32| NaiveDate::from_ymd_opt(y as i32, m, d);
    match suffix {
        "NASDAQ_ITCH50" if stem.len() == 8 => ymd(
            digits(&stem[4..8])?,
            digits(&stem[0..2])?,
            digits(&stem[2..4])?,
        ),
        "BX_ITCH_50" | "PSX_ITCH_50" if stem.len() == 8 => ymd(
            digits(&stem[0..4])?,
            digits(&stem[4..6])?,
            digits(&stem[6..8])?,
        ),
        "txt" if stem.len() == 11 && stem.starts_with('S') && stem.ends_with("-v50") => ymd(
            2000 + digits(&stem[5..7])?,
            digits(&stem[1..3])?,
            digits(&stem[3..5])?,
        ),
        _ => None,
    }
}

/// UTC nanoseconds since the Unix epoch of 00:00 in New York on `date`.
pub fn midnight_utc_ns(date: NaiveDate) -> Result<i64> {
    let local = date
        .and_hms_opt(0, 0, 0)
        .expect("00:00:00 is a valid time of day");
    New_York
        .from_local_datetime(&local)
        .earliest()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| Error::InvalidArgument(format!("no New York midnight on {date}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_their_dates() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd);
        assert_eq!(
            date_from_file_name(Path::new("/x/01302019.NASDAQ_ITCH50.gz")),
            d(2019, 1, 30)
        );
        assert_eq!(
            date_from_file_name(Path::new("01302019.NASDAQ_ITCH50")),
            d(2019, 1, 30)
        );
        assert_eq!(
            date_from_file_name(Path::new("20190730.BX_ITCH_50.gz")),
            d(2019, 7, 30)
        );
        assert_eq!(
            date_from_file_name(Path::new("S120825-v50.txt")),
            d(2025, 12, 8)
        );
        assert_eq!(
            date_from_file_name(Path::new("13302019.NASDAQ_ITCH50")),
            None
        );
        assert_eq!(date_from_file_name(Path::new("day.itch")), None);
    }

    #[test]
    fn midnight_follows_the_tz_database() {
        // Worked examples from the spec: EST in January, EDT in August.
        assert_eq!(
            midnight_utc_ns(parse_date("2019-01-30").unwrap()).unwrap(),
            1_548_824_400_000_000_000
        );
        assert_eq!(
            midnight_utc_ns(parse_date("2023-08-22").unwrap()).unwrap(),
            1_692_676_800_000_000_000
        );
        assert!(parse_date("2023-02-30").is_err());
    }
}
