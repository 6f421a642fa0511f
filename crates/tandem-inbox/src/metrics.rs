//! Support metrics (PRODUCT.md §4 and §7): first response and resolution times counted in working
//! hours when the workspace has them, first-contact resolution, volume per type and per assignee.

use serde::Serialize;
use std::collections::BTreeMap;
use tandem_core::{Timestamp, UserId};

use crate::working_hours::{elapsed_millis, WorkingHours};

/// One ticket (or conversation) as the metrics see it.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: String,
    pub assignee: Option<UserId>,
    pub created_at: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// Reopened after a resolution, or sent back to the customer for more information: either
    /// means the first contact did not settle it.
    pub needed_follow_up: bool,
}

/// An average and a median over the items that have the measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Duration {
    pub count: i64,
    /// Milliseconds of working time (calendar time without working hours).
    pub average_ms: Option<i64>,
    pub median_ms: Option<i64>,
}

fn duration(mut values: Vec<i64>) -> Duration {
    values.sort_unstable();
    let count = values.len() as i64;
    let average_ms = (count > 0).then(|| values.iter().sum::<i64>() / count);
    let median_ms = match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[n / 2]),
        n => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    };
    Duration { count, average_ms, median_ms }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TypeVolume {
    pub kind: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AssigneeStats {
    /// None: the unassigned.
    pub user_id: Option<UserId>,
    pub assigned: i64,
    pub resolved: i64,
    pub first_response: Duration,
    pub resolution: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub total: i64,
    pub resolved: i64,
    pub first_response: Duration,
    pub resolution: Duration,
    /// Share of resolved items settled without a follow-up (0 to 1; None with nothing resolved).
    /// PRODUCT.md sets the target at 70 % or more.
    pub first_contact_resolution_rate: Option<f64>,
    pub by_type: Vec<TypeVolume>,
    pub by_assignee: Vec<AssigneeStats>,
}

fn measures(items: &[&Item], hours: Option<&WorkingHours>) -> (Duration, Duration) {
    let first = items.iter().filter_map(|i| i.first_response_at.map(|f| elapsed_millis(hours, i.created_at, f))).collect();
    let resolution = items.iter().filter_map(|i| i.resolved_at.map(|r| elapsed_millis(hours, i.created_at, r))).collect();
    (duration(first), duration(resolution))
}

/// Summarises `items`, measuring time in `hours` (calendar time when None).
pub fn summarise(items: &[Item], hours: Option<&WorkingHours>) -> Summary {
    let all: Vec<&Item> = items.iter().collect();
    let (first_response, resolution) = measures(&all, hours);
    let resolved: Vec<&&Item> = all.iter().filter(|i| i.resolved_at.is_some()).collect();
    let settled = resolved.iter().filter(|i| !i.needed_follow_up).count();
    let mut by_type: BTreeMap<&str, i64> = BTreeMap::new();
    let mut by_assignee: BTreeMap<Option<UserId>, Vec<&Item>> = BTreeMap::new();
    for i in items {
        *by_type.entry(i.kind.as_str()).or_default() += 1;
        by_assignee.entry(i.assignee).or_default().push(i);
    }
    let mut by_type: Vec<TypeVolume> = by_type.into_iter().map(|(kind, count)| TypeVolume { kind: kind.into(), count }).collect();
    by_type.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    let by_assignee = by_assignee
        .into_iter()
        .map(|(user_id, list)| {
            let (first_response, resolution) = measures(&list, hours);
            AssigneeStats {
                user_id,
                assigned: list.len() as i64,
                resolved: list.iter().filter(|i| i.resolved_at.is_some()).count() as i64,
                first_response,
                resolution,
            }
        })
        .collect();
    Summary {
        total: items.len() as i64,
        resolved: resolved.len() as i64,
        first_response,
        resolution,
        first_contact_resolution_rate: (!resolved.is_empty()).then(|| settled as f64 / resolved.len() as f64),
        by_type,
        by_assignee,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::working_hours::{Day, WorkingHoursSpec};

    const HOUR: i64 = 3_600_000;
    /// Friday 2024-01-12 17:00 UTC.
    const FRI_17H: i64 = 1_705_078_800_000;

    fn item(kind: &str, assignee: Option<UserId>, first: Option<i64>, resolved: Option<i64>, follow_up: bool) -> Item {
        Item {
            kind: kind.into(),
            assignee,
            created_at: Timestamp::from_millis(FRI_17H),
            first_response_at: first.map(|h| Timestamp::from_millis(FRI_17H + h * HOUR)),
            resolved_at: resolved.map(|h| Timestamp::from_millis(FRI_17H + h * HOUR)),
            needed_follow_up: follow_up,
        }
    }

    #[test]
    fn summarises_in_working_hours() {
        use Day::*;
        let hours: WorkingHours = WorkingHoursSpec {
            time_zone: "UTC".into(),
            start: "09:00".into(),
            end: "18:00".into(),
            days: vec![Mon, Tue, Wed, Thu, Fri],
            holidays: vec![],
        }
        .try_into()
        .unwrap();
        let (a, b) = (UserId::new(), UserId::new());
        // Created Friday 17:00; answered Monday 10:00 (65 h later: 2 working hours).
        let items = vec![
            item("refund", Some(a), Some(65), Some(66), false),
            item("refund", Some(a), Some(1), None, false),
            item("bug_report", Some(b), None, Some(65), true),
            item("general", None, None, None, false),
        ];
        let s = summarise(&items, Some(&hours));
        assert_eq!((s.total, s.resolved), (4, 2));
        assert_eq!(s.first_response.count, 2);
        assert_eq!(s.first_response.average_ms, Some((2 * HOUR + HOUR) / 2));
        assert_eq!(s.resolution.median_ms, Some((3 * HOUR + 2 * HOUR) / 2));
        assert_eq!(s.first_contact_resolution_rate, Some(0.5));
        assert_eq!(s.by_type[0], TypeVolume { kind: "refund".into(), count: 2 });
        let of_a = s.by_assignee.iter().find(|x| x.user_id == Some(a)).unwrap();
        assert_eq!((of_a.assigned, of_a.resolved, of_a.first_response.count), (2, 1, 2));
        assert!(s.by_assignee.iter().any(|x| x.user_id.is_none() && x.assigned == 1));
        // In calendar time the weekend counts.
        let s = summarise(&items[..1], None);
        assert_eq!(s.first_response.average_ms, Some(65 * HOUR));
        let empty = summarise(&[], None);
        assert_eq!((empty.first_contact_resolution_rate, empty.first_response.average_ms), (None, None));
    }
}
