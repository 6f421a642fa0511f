//! A workspace's working hours (e.g. Monday to Friday, 09:00–18:00 in Europe/Paris) and the
//! arithmetic that routing, SLA timers and response-time metrics need: how much working time lies
//! between two instants, and which instant comes a given amount of working time after another.
//!
//! Holidays (dates in the workspace's zone, e.g. 2024-12-25) are closed all day, whatever their
//! weekday.
//!
//! Each day's opening is turned into instants in the workspace's IANA zone separately, so a
//! daylight-saving change moves the opening with the wall clock (09:00 stays 09:00 local), and a
//! day's length follows the clock people read.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tandem_core::{Timestamp, ValidationError};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, Weekday};
use time_tz::{OffsetDateTimeExt, PrimitiveDateTimeExt, TimeZone, Tz};

const MINUTES_PER_DAY: u16 = 24 * 60;
const MS_PER_MINUTE: i64 = 60_000;
/// How many days a deadline search may walk: ten years covers any target a policy accepts.
const MAX_DAYS: i64 = 3_660;
/// Enough for decades of public holidays, few enough that every lookup stays cheap.
pub const MAX_HOLIDAYS: usize = 1_000;

/// A day of the week as the API writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    const ALL: [Day; 7] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun];

    fn index(self) -> usize {
        self as usize
    }

    fn of(weekday: Weekday) -> Self {
        Self::ALL[weekday.number_days_from_monday() as usize]
    }
}

/// Working hours as the API reads and writes them. Parsed into [`WorkingHours`], which is always
/// valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkingHoursSpec {
    /// IANA zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Opening time, `HH:MM`, local.
    pub start: String,
    /// Closing time, `HH:MM` (`24:00` for midnight), after `start`.
    pub end: String,
    /// Working days, e.g. `["mon", "tue", "wed", "thu", "fri"]`.
    pub days: Vec<Day>,
    /// Days closed whatever their weekday, `YYYY-MM-DD` in the workspace's zone (public
    /// holidays, the office's closing days).
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Valid working hours: a known zone, an opening before the closing on the same day, at least one
/// working day. Shifts across midnight are not accepted: the opening and closing of one day must
/// fall on that day, which is what makes "the working time of a date" well defined.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "WorkingHoursSpec", into = "WorkingHoursSpec")]
pub struct WorkingHours {
    zone: &'static Tz,
    /// Minutes after local midnight.
    start: u16,
    end: u16,
    days: [bool; 7],
    holidays: BTreeSet<Date>,
}

impl std::fmt::Debug for WorkingHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkingHours({:?})", WorkingHoursSpec::from(self.clone()))
    }
}

impl PartialEq for WorkingHours {
    fn eq(&self, other: &Self) -> bool {
        self.zone.name() == other.zone.name()
            && self.start == other.start
            && self.end == other.end
            && self.days == other.days
            && self.holidays == other.holidays
    }
}

impl utoipa::PartialSchema for WorkingHours {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <WorkingHoursSpec as utoipa::PartialSchema>::schema()
    }
}
impl utoipa::ToSchema for WorkingHours {}

fn parse_clock(field: &str, raw: &str) -> Result<u16, ValidationError> {
    let bad = || ValidationError::new(field, "invalid_time", format!("`{raw}` is not a time of day (expected HH:MM, 00:00 to 24:00)"));
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let minutes = h * 60 + m;
    if m >= 60 || minutes > MINUTES_PER_DAY {
        return Err(bad());
    }
    Ok(minutes)
}

fn format_clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_date(raw: &str) -> Result<Date, ValidationError> {
    let bad = || ValidationError::new("holidays", "invalid_date", format!("`{raw}` is not a date (expected YYYY-MM-DD)"));
    let mut parts = raw.trim().splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (i32, u8, u8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    Date::from_calendar_date(y, Month::try_from(m).map_err(|_| bad())?, d).map_err(|_| bad())
}

fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl TryFrom<WorkingHoursSpec> for WorkingHours {
    type Error = ValidationError;
    fn try_from(spec: WorkingHoursSpec) -> Result<Self, Self::Error> {
        let zone = time_tz::timezones::get_by_name(spec.time_zone.trim()).ok_or_else(|| {
            ValidationError::new(
                "time_zone",
                "invalid_time_zone",
                format!("`{}` is not an IANA time zone (e.g. Europe/Paris)", spec.time_zone),
            )
        })?;
        let start = parse_clock("start", &spec.start)?;
        let end = parse_clock("end", &spec.end)?;
        if start >= end {
            return Err(ValidationError::new(
                "end",
                "invalid_hours",
                format!("closing time {} must come after opening time {} on the same day", spec.end, spec.start),
            ));
        }
        let mut days = [false; 7];
        for d in &spec.days {
            days[d.index()] = true;
        }
        if !days.contains(&true) {
            return Err(ValidationError::new("days", "no_working_days", "working hours need at least one working day"));
        }
        if spec.holidays.len() > MAX_HOLIDAYS {
            return Err(ValidationError::new("holidays", "too_many_holidays", format!("at most {MAX_HOLIDAYS} holidays")));
        }
        let holidays = spec.holidays.iter().map(|d| parse_date(d)).collect::<Result<BTreeSet<_>, _>>()?;
        Ok(Self { zone, start, end, days, holidays })
    }
}

impl From<WorkingHours> for WorkingHoursSpec {
    fn from(h: WorkingHours) -> Self {
        Self {
            time_zone: h.zone.name().to_string(),
            start: format_clock(h.start),
            end: format_clock(h.end),
            days: Day::ALL.into_iter().filter(|d| h.days[d.index()]).collect(),
            holidays: h.holidays.iter().copied().map(format_date).collect(),
        }
    }
}

fn to_datetime(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(t.millis() as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

impl WorkingHours {
    /// The canonical IANA name of the zone.
    pub fn time_zone(&self) -> &str {
        self.zone.name()
    }

    /// The local date an instant falls on in the workspace's zone.
    fn local_date(&self, t: Timestamp) -> Date {
        to_datetime(t).to_timezone(self.zone).date()
    }

    /// The instant a local wall-clock time of `date` names. A time skipped by a daylight-saving
    /// change moves to the first valid quarter hour after it; a repeated one takes its first
    /// occurrence.
    fn instant(&self, date: Date, minutes: u16) -> i64 {
        let (date, minutes) = if minutes >= MINUTES_PER_DAY { (date.next_day().unwrap_or(date), 0) } else { (date, minutes) };
        let mut local = PrimitiveDateTime::new(date, Time::MIDNIGHT) + Duration::minutes(minutes.into());
        for _ in 0..16 {
            if let Some(t) = local.assume_timezone(self.zone).take_first() {
                return to_millis(t);
            }
            local += Duration::minutes(15);
        }
        // No zone skips four hours; fall back to the zone's offset at that moment in UTC.
        to_millis(local.assume_timezone_utc(self.zone))
    }

    /// The working window of a local date, as Unix milliseconds, or None on a day off or a
    /// holiday.
    fn window(&self, date: Date) -> Option<(i64, i64)> {
        (self.days[Day::of(date.weekday()).index()] && !self.holidays.contains(&date))
            .then(|| (self.instant(date, self.start), self.instant(date, self.end)))
    }

    /// Whether the business is open at `t`.
    pub fn is_open_at(&self, t: Timestamp) -> bool {
        self.window(self.local_date(t)).is_some_and(|(s, e)| (s..e).contains(&t.millis()))
    }

    /// Working milliseconds in `[from, to)`; zero when `to` is not after `from`.
    pub fn working_millis_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        let (from, to) = (from.millis(), to.millis());
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = self.local_date(Timestamp::from_millis(from));
        loop {
            if let Some((s, e)) = self.window(date) {
                if s >= to {
                    break;
                }
                total += (e.min(to) - s.max(from)).max(0);
            } else if self.instant(date, 0) >= to {
                break;
            }
            match date.next_day() {
                Some(d) => date = d,
                None => break,
            }
        }
        total
    }

    /// The instant `millis` of working time after `from`. A start outside working hours counts
    /// from the next opening; zero working time from a closed moment is that next opening.
    pub fn add_working_millis(&self, from: Timestamp, millis: i64) -> Timestamp {
        let mut left = millis.max(0);
        let from = from.millis();
        let mut date = self.local_date(Timestamp::from_millis(from));
        let mut last = from;
        for _ in 0..MAX_DAYS {
            if let Some((s, e)) = self.window(date) {
                let begin = s.max(from);
                if begin < e {
                    if left <= e - begin {
                        return Timestamp::from_millis(begin + left);
                    }
                    left -= e - begin;
                    last = e;
                }
            }
            match date.next_day() {
                Some(d) => date = d,
                None => break,
            }
        }
        Timestamp::from_millis(last + left)
    }

    /// Working minutes in a full working day (the length of the opening).
    pub fn minutes_per_day(&self) -> i64 {
        i64::from(self.end - self.start)
    }
}

/// Working time between two instants: calendar time when the workspace has no working hours.
pub fn elapsed_millis(hours: Option<&WorkingHours>, from: Timestamp, to: Timestamp) -> i64 {
    match hours {
        Some(h) => h.working_millis_between(from, to),
        None => (to.millis() - from.millis()).max(0),
    }
}

/// The instant `millis` of working time after `from`: calendar time without working hours.
pub fn deadline(hours: Option<&WorkingHours>, from: Timestamp, millis: i64) -> Timestamp {
    match hours {
        Some(h) => h.add_working_millis(from, millis),
        None => from.plus_millis(millis.max(0)),
    }
}

/// Minutes to milliseconds, for callers that configure in minutes.
pub fn minutes(m: i64) -> i64 {
    m * MS_PER_MINUTE
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn hours(zone: &str, start: &str, end: &str, days: &[Day]) -> WorkingHours {
        WorkingHoursSpec { time_zone: zone.into(), start: start.into(), end: end.into(), days: days.to_vec(), holidays: vec![] }
            .try_into()
            .unwrap()
    }

    fn weekdays(zone: &str) -> WorkingHours {
        use Day::*;
        hours(zone, "09:00", "18:00", &[Mon, Tue, Wed, Thu, Fri])
    }

    fn at(t: OffsetDateTime) -> Timestamp {
        Timestamp::from_millis(to_millis(t))
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn refuses_bad_specs() {
        let spec = |zone: &str, start: &str, end: &str, days: Vec<Day>| WorkingHoursSpec {
            time_zone: zone.into(),
            start: start.into(),
            end: end.into(),
            days,
            holidays: vec![],
        };
        let err = |s: WorkingHoursSpec| WorkingHours::try_from(s).unwrap_err().code;
        assert_eq!(err(spec("Mars/Olympus", "09:00", "18:00", vec![Day::Mon])), "invalid_time_zone");
        assert_eq!(err(spec("Europe/Paris", "9h", "18:00", vec![Day::Mon])), "invalid_time");
        assert_eq!(err(spec("Europe/Paris", "09:00", "24:30", vec![Day::Mon])), "invalid_time");
        assert_eq!(err(spec("Europe/Paris", "18:00", "09:00", vec![Day::Mon])), "invalid_hours");
        assert_eq!(err(spec("Europe/Paris", "09:00", "18:00", vec![])), "no_working_days");
        for bad in ["2024-02-30", "2024-13-01", "25/12/2024", "2024-1-05", ""] {
            let with = WorkingHoursSpec { holidays: vec![bad.into()], ..spec("UTC", "09:00", "18:00", vec![Day::Mon]) };
            assert_eq!(err(with), "invalid_date", "{bad:?}");
        }
        let ok: WorkingHours = spec("Europe/Paris", "00:00", "24:00", vec![Day::Sun]).try_into().unwrap();
        assert_eq!(ok.minutes_per_day(), 1440);
    }

    #[test]
    fn round_trips_through_json() {
        let h = weekdays("Europe/Paris");
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"time_zone": "Europe/Paris", "start": "09:00", "end": "18:00", "days": ["mon", "tue", "wed", "thu", "fri"], "holidays": []})
        );
        let back: WorkingHours = serde_json::from_value(json).unwrap();
        assert_eq!(back, h);
        assert!(serde_json::from_value::<WorkingHours>(
            serde_json::json!({"time_zone": "Nowhere", "start": "09:00", "end": "18:00", "days": ["mon"]})
        )
        .is_err());
    }

    #[test]
    fn open_or_closed_in_the_local_zone() {
        let h = weekdays("Europe/Paris");
        // Wednesday 2024-01-10: Paris is UTC+1 in winter.
        assert!(h.is_open_at(at(datetime!(2024-01-10 08:00 UTC))));
        assert!(!h.is_open_at(at(datetime!(2024-01-10 07:59 UTC))));
        assert!(!h.is_open_at(at(datetime!(2024-01-10 17:00 UTC))), "18:00 local is closing time");
        assert!(!h.is_open_at(at(datetime!(2024-01-13 10:00 UTC))), "Saturday");
    }

    #[test]
    fn within_one_day() {
        let h = weekdays("UTC");
        let from = at(datetime!(2024-01-10 10:00 UTC));
        assert_eq!(h.working_millis_between(from, at(datetime!(2024-01-10 12:30 UTC))), 2 * HOUR + HOUR / 2);
        assert_eq!(h.add_working_millis(from, 2 * HOUR), at(datetime!(2024-01-10 12:00 UTC)));
        assert_eq!(h.working_millis_between(from, from), 0);
        assert_eq!(h.working_millis_between(at(datetime!(2024-01-10 12:00 UTC)), from), 0, "backwards is zero");
    }

    #[test]
    fn across_a_day_boundary() {
        let h = weekdays("UTC");
        // Wednesday 16:00 + 4 working hours: 2 h on Wednesday, 2 h from Thursday's opening.
        let from = at(datetime!(2024-01-10 16:00 UTC));
        let due = h.add_working_millis(from, 4 * HOUR);
        assert_eq!(due, at(datetime!(2024-01-11 11:00 UTC)));
        assert_eq!(h.working_millis_between(from, due), 4 * HOUR);
        // The night does not count.
        assert_eq!(h.working_millis_between(at(datetime!(2024-01-10 18:00 UTC)), at(datetime!(2024-01-11 09:00 UTC))), 0);
    }

    #[test]
    fn across_a_weekend() {
        let h = weekdays("UTC");
        // Friday 17:00 + 3 working hours: 1 h on Friday, then Monday 09:00 + 2 h.
        let from = at(datetime!(2024-01-12 17:00 UTC));
        let due = h.add_working_millis(from, 3 * HOUR);
        assert_eq!(due, at(datetime!(2024-01-15 11:00 UTC)));
        assert_eq!(h.working_millis_between(from, due), 3 * HOUR);
        // A message on Saturday is answered Monday at 09:30: thirty working minutes.
        assert_eq!(h.working_millis_between(at(datetime!(2024-01-13 11:00 UTC)), at(datetime!(2024-01-15 09:30 UTC))), HOUR / 2);
        // From a closed moment, zero working time is the next opening.
        assert_eq!(h.add_working_millis(at(datetime!(2024-01-13 11:00 UTC)), 0), at(datetime!(2024-01-15 09:00 UTC)));
        // A whole week is five working days.
        assert_eq!(h.working_millis_between(at(datetime!(2024-01-15 00:00 UTC)), at(datetime!(2024-01-22 00:00 UTC))), 45 * HOUR);
    }

    #[test]
    fn in_other_time_zones() {
        // Tokyo (UTC+9, no DST): Monday 09:00 local is Sunday 24:00 UTC.
        let tokyo = weekdays("Asia/Tokyo");
        assert!(tokyo.is_open_at(at(datetime!(2024-01-15 00:30 UTC))));
        assert_eq!(tokyo.add_working_millis(at(datetime!(2024-01-14 12:00 UTC)), HOUR), at(datetime!(2024-01-15 01:00 UTC)));
        // New York (UTC-5 in winter): Friday 17:30 local + 1 h lands Monday 09:30 local.
        let ny = weekdays("America/New_York");
        let from = at(datetime!(2024-01-12 22:30 UTC));
        assert_eq!(ny.add_working_millis(from, HOUR), at(datetime!(2024-01-15 14:30 UTC)));
        // Friday 23:00 UTC is still Friday 18:00 in New York (closed) but Saturday in Paris.
        assert!(!ny.is_open_at(at(datetime!(2024-01-12 23:00 UTC))));
    }

    #[test]
    fn daylight_saving_keeps_the_wall_clock() {
        let h = weekdays("Europe/Paris");
        // Paris moves to UTC+2 on Sunday 2024-03-31: Friday opens 08:00 UTC, Monday 07:00 UTC.
        let friday = at(datetime!(2024-03-29 16:00 UTC)); // 17:00 local
        assert_eq!(h.add_working_millis(friday, 2 * HOUR), at(datetime!(2024-04-01 08:00 UTC))); // Monday 10:00 local
        assert_eq!(h.working_millis_between(friday, at(datetime!(2024-04-01 08:00 UTC))), 2 * HOUR);
        // A 24-hour shift on the day the clocks go forward lasts 23 hours.
        let always = hours("Europe/Paris", "00:00", "24:00", &[Day::Sun]);
        assert_eq!(always.working_millis_between(at(datetime!(2024-03-30 00:00 UTC)), at(datetime!(2024-04-01 00:00 UTC))), 23 * HOUR);
    }

    #[test]
    fn calendar_time_without_working_hours() {
        let from = at(datetime!(2024-01-12 17:00 UTC));
        assert_eq!(deadline(None, from, 3 * HOUR), at(datetime!(2024-01-12 20:00 UTC)));
        assert_eq!(elapsed_millis(None, from, at(datetime!(2024-01-13 17:00 UTC))), 24 * HOUR);
        let h = weekdays("UTC");
        assert_eq!(deadline(Some(&h), from, 3 * HOUR), at(datetime!(2024-01-15 11:00 UTC)));
    }

    #[test]
    fn holidays_are_closed_all_day() {
        use Day::*;
        let spec = WorkingHoursSpec {
            time_zone: "Europe/Paris".into(),
            start: "09:00".into(),
            end: "18:00".into(),
            days: vec![Mon, Tue, Wed, Thu, Fri],
            // Christmas (Wednesday) twice and Boxing Day: duplicates collapse, order does not matter.
            holidays: vec!["2024-12-26".into(), "2024-12-25".into(), "2024-12-25".into()],
        };
        let h: WorkingHours = spec.try_into().unwrap();
        assert_eq!(serde_json::to_value(&h).unwrap()["holidays"], serde_json::json!(["2024-12-25", "2024-12-26"]));
        assert!(!h.is_open_at(at(datetime!(2024-12-25 10:00 UTC))), "Christmas is closed");
        assert!(h.is_open_at(at(datetime!(2024-12-24 10:00 UTC))));
        // Tuesday 17:00 local (16:00 UTC) + 2 working hours: 1 h on Tuesday, Wednesday and
        // Thursday are holidays, Friday 10:00 local.
        let from = at(datetime!(2024-12-24 16:00 UTC));
        assert_eq!(h.add_working_millis(from, 2 * HOUR), at(datetime!(2024-12-27 09:00 UTC)));
        assert_eq!(h.working_millis_between(from, at(datetime!(2024-12-27 09:00 UTC))), 2 * HOUR);
        // The holiday is a local date: in Auckland (UTC+13 in December) Christmas morning is the
        // evening of the 24th in UTC.
        let auckland: WorkingHours = WorkingHoursSpec {
            time_zone: "Pacific/Auckland".into(),
            holidays: vec!["2024-12-25".into()],
            ..WorkingHoursSpec::from(weekdays("UTC"))
        }
        .try_into()
        .unwrap();
        assert!(!auckland.is_open_at(at(datetime!(2024-12-24 21:00 UTC))), "10:00 on Christmas Day in Auckland");
        assert!(auckland.is_open_at(at(datetime!(2024-12-25 21:00 UTC))), "10:00 on the 26th in Auckland");
    }

    #[test]
    fn long_targets_terminate() {
        let h = hours("UTC", "09:00", "10:00", &[Day::Wed]);
        let due = h.add_working_millis(at(datetime!(2024-01-10 09:00 UTC)), 52 * HOUR);
        assert_eq!(h.working_millis_between(at(datetime!(2024-01-10 09:00 UTC)), due), 52 * HOUR);
    }
}
