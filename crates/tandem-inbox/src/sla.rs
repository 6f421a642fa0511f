//! Service-level targets per priority (first response, resolution), counted in working time, and
//! what happens when one is missed. The store keeps the instants (created, first response,
//! resolved, the periods spent waiting on the customer); this module says when each target falls
//! due and whether it was breached.
//!
//! The resolution clock stops while a ticket is Waiting (the customer has the ball): the working
//! time spent waiting moves the resolution due time later. Waiting that begins after the due time
//! has passed changes nothing: a breach stays a breach. The first-response clock never stops
//! (moving a ticket out of To do is its first response).

use serde::{Deserialize, Serialize};
use tandem_core::{TeamId, Timestamp, UserId, ValidationError};

use crate::working_hours::{deadline, elapsed_millis, minutes, WorkingHours};

/// A ticket's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Urgent,
    High,
    Medium,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Urgent, Priority::High, Priority::Medium, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Urgent => "urgent",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            ValidationError::new("priority", "invalid_priority", format!("unknown priority `{s}`; expected urgent, high, medium or low"))
        })
    }
}

/// A target in working minutes: 1 minute to 365 days, so that every deadline can be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TargetMinutes(i64);

impl TargetMinutes {
    pub const MAX: i64 = 365 * 24 * 60;

    pub fn millis(self) -> i64 {
        minutes(self.0)
    }
}

impl TryFrom<i64> for TargetMinutes {
    type Error = ValidationError;
    fn try_from(m: i64) -> Result<Self, Self::Error> {
        if (1..=Self::MAX).contains(&m) {
            Ok(Self(m))
        } else {
            Err(ValidationError::new("minutes", "invalid_target", format!("an SLA target is 1 to {} minutes, not {m}", Self::MAX)))
        }
    }
}

impl From<TargetMinutes> for i64 {
    fn from(t: TargetMinutes) -> i64 {
        t.0
    }
}

impl utoipa::PartialSchema for TargetMinutes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(Self::MAX))
            .description(Some("working minutes"))
            .into()
    }
}
impl utoipa::ToSchema for TargetMinutes {}

/// The targets of one priority; a missing target never falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub first_response_minutes: Option<TargetMinutes>,
    pub resolution_minutes: Option<TargetMinutes>,
}

/// Which target a breach is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Breach {
    FirstResponse,
    Resolution,
}

impl Breach {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::Resolution => "resolution",
        }
    }
}

/// What an escalation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EscalationAction {
    /// Gives the ticket to this user.
    ReassignUser { user_id: UserId },
    /// Moves the ticket to this team's queue (unassigned).
    ReassignTeam { team_id: TeamId },
    /// Only records a notification on the ticket.
    Notify,
}

/// When a breach of `breach` happens on a ticket of one of `priorities` (all when empty), do
/// `action`. The first matching rule wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRule {
    pub breach: Breach,
    #[serde(default)]
    pub priorities: Vec<Priority>,
    pub action: EscalationAction,
}

/// A workspace's SLA policy. Every field is valid by type, so any value of it can be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    pub urgent: Target,
    pub high: Target,
    pub medium: Target,
    pub low: Target,
    #[serde(default)]
    pub escalations: Vec<EscalationRule>,
}

impl Default for SlaPolicy {
    /// Targets a support desk commonly starts from (in working time): urgent 1 h / 4 h, high
    /// 4 h / 1 day, medium 1 day / 3 days, low 3 days / 5 days (a day being 8 hours), and a
    /// notification on every breach.
    fn default() -> Self {
        let t = |f: i64, r: i64| Target { first_response_minutes: Some(TargetMinutes(f)), resolution_minutes: Some(TargetMinutes(r)) };
        Self {
            urgent: t(60, 240),
            high: t(240, 480),
            medium: t(480, 1440),
            low: t(1440, 2400),
            escalations: vec![
                EscalationRule { breach: Breach::FirstResponse, priorities: vec![], action: EscalationAction::Notify },
                EscalationRule { breach: Breach::Resolution, priorities: vec![], action: EscalationAction::Notify },
            ],
        }
    }
}

impl SlaPolicy {
    pub fn target(&self, p: Priority) -> Target {
        match p {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Medium => self.medium,
            Priority::Low => self.low,
        }
    }

    /// The escalation for a breach of a ticket of priority `p`, if a rule covers it.
    pub fn escalation(&self, p: Priority, breach: Breach) -> Option<EscalationAction> {
        self.escalations.iter().find(|r| r.breach == breach && (r.priorities.is_empty() || r.priorities.contains(&p))).map(|r| r.action)
    }
}

/// A period a ticket spent in Waiting; `until` is None while it still waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitingPeriod {
    pub from: Timestamp,
    pub until: Option<Timestamp>,
}

/// The instants an SLA is computed from.
#[derive(Debug, Clone)]
pub struct SlaClock {
    pub priority: Priority,
    pub created_at: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// Oldest first; only the last one may be open.
    pub waiting: Vec<WaitingPeriod>,
}

/// Due times and breaches, as the API shows them on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SlaStatus {
    pub first_response_due: Option<Timestamp>,
    /// None when there is no resolution target, or while the clock is paused.
    pub resolution_due: Option<Timestamp>,
    /// The ticket is Waiting and its resolution clock stopped before it was breached.
    pub resolution_paused: bool,
    /// The first response came after its due time, or has not come and the time has passed.
    pub first_response_breached: bool,
    pub resolution_breached: bool,
}

impl SlaStatus {
    /// No target, nothing due: what a ticket without a policy shows.
    pub const NONE: SlaStatus = SlaStatus {
        first_response_due: None,
        resolution_due: None,
        resolution_paused: false,
        first_response_breached: false,
        resolution_breached: false,
    };

    pub fn breaches(&self) -> Vec<Breach> {
        let mut out = vec![];
        if self.first_response_breached {
            out.push(Breach::FirstResponse);
        }
        if self.resolution_breached {
            out.push(Breach::Resolution);
        }
        out
    }
}

/// Computes due times in working time (`hours`; calendar time without them) and breaches as of
/// `now`. A target met on time stays met; one missed stays breached even once the work is done.
pub fn evaluate(policy: &SlaPolicy, hours: Option<&WorkingHours>, clock: SlaClock, now: Timestamp) -> SlaStatus {
    let target = policy.target(clock.priority);
    let first_response_due = target.first_response_minutes.map(|t| deadline(hours, clock.created_at, t.millis()));
    let resolution = target.resolution_minutes.map(|t| resolution_due(hours, &clock, t.millis()));
    let resolution_due = resolution.flatten();
    let late = |due: Option<Timestamp>, done: Option<Timestamp>| due.is_some_and(|d| done.unwrap_or(now) > d);
    SlaStatus {
        first_response_due,
        resolution_due,
        resolution_paused: resolution.is_some_and(|r| r.is_none()),
        first_response_breached: late(first_response_due, clock.first_response_at.or(clock.resolved_at)),
        resolution_breached: late(resolution_due, clock.resolved_at),
    }
}

/// The resolution due time: `target` of working time after creation, moved later by the working
/// time of each waiting period that began before it fell due. None while such a period is open.
fn resolution_due(hours: Option<&WorkingHours>, clock: &SlaClock, target: i64) -> Option<Timestamp> {
    let mut due = deadline(hours, clock.created_at, target);
    for period in &clock.waiting {
        if period.from >= due {
            break;
        }
        let until = period.until?;
        due = deadline(hours, due, elapsed_millis(hours, period.from, until));
    }
    Some(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::working_hours::{Day, WorkingHoursSpec};

    const HOUR: i64 = 3_600_000;
    /// Wednesday 2024-01-10 16:00 UTC.
    const WED_16H: i64 = 1_704_902_400_000;

    fn office() -> WorkingHours {
        use Day::*;
        WorkingHoursSpec {
            time_zone: "UTC".into(),
            start: "09:00".into(),
            end: "18:00".into(),
            days: vec![Mon, Tue, Wed, Thu, Fri],
            holidays: vec![],
        }
        .try_into()
        .unwrap()
    }

    fn clock(p: Priority, first: Option<i64>, resolved: Option<i64>) -> SlaClock {
        SlaClock {
            priority: p,
            created_at: Timestamp::from_millis(WED_16H),
            first_response_at: first.map(Timestamp::from_millis),
            resolved_at: resolved.map(Timestamp::from_millis),
            waiting: vec![],
        }
    }

    #[test]
    fn targets_are_bounded() {
        assert!(serde_json::from_value::<TargetMinutes>(serde_json::json!(0)).is_err());
        assert!(serde_json::from_value::<TargetMinutes>(serde_json::json!(TargetMinutes::MAX + 1)).is_err());
        let p: SlaPolicy = serde_json::from_value(serde_json::json!({
            "urgent": {"first_response_minutes": 30}, "high": {}, "medium": {}, "low": {},
            "escalations": [{"breach": "first_response", "priorities": ["urgent"], "action": {"type": "notify"}}]
        }))
        .unwrap();
        assert_eq!(p.target(Priority::Urgent).first_response_minutes.map(i64::from), Some(30));
        assert_eq!(p.escalation(Priority::Urgent, Breach::FirstResponse), Some(EscalationAction::Notify));
        assert_eq!(p.escalation(Priority::Low, Breach::FirstResponse), None);
        assert!(
            serde_json::from_value::<SlaPolicy>(serde_json::json!({"urgent": {"first": 3}, "high": {}, "medium": {}, "low": {}})).is_err()
        );
    }

    #[test]
    fn due_times_count_working_hours() {
        let policy = SlaPolicy::default();
        let h = office();
        // Urgent: 1 h first response (17:00 the same day), 4 h resolution (2 h today, 2 h Thursday: 11:00).
        let s = evaluate(&policy, Some(&h), clock(Priority::Urgent, None, None), Timestamp::from_millis(WED_16H + HOUR / 2));
        assert_eq!(s.first_response_due, Some(Timestamp::from_millis(WED_16H + HOUR)));
        assert_eq!(s.resolution_due, Some(Timestamp::from_millis(WED_16H + 19 * HOUR)));
        assert!(!s.first_response_breached && !s.resolution_breached);
        // The same ticket without working hours is due in calendar time.
        let s = evaluate(&policy, None, clock(Priority::Urgent, None, None), Timestamp::from_millis(WED_16H));
        assert_eq!(s.resolution_due, Some(Timestamp::from_millis(WED_16H + 4 * HOUR)));
    }

    #[test]
    fn breaches_are_flagged_and_stay() {
        let policy = SlaPolicy::default();
        let h = office();
        let now = Timestamp::from_millis(WED_16H + 2 * HOUR);
        // No response at 18:00: first response breached, resolution not yet.
        let s = evaluate(&policy, Some(&h), clock(Priority::Urgent, None, None), now);
        assert!(s.first_response_breached && !s.resolution_breached);
        assert_eq!(s.breaches(), vec![Breach::FirstResponse]);
        // Answered after 30 minutes: met, whatever the time now.
        let s = evaluate(&policy, Some(&h), clock(Priority::Urgent, Some(WED_16H + HOUR / 2), None), now.plus_millis(100 * HOUR));
        assert!(!s.first_response_breached && s.resolution_breached);
        // Answered late: breached even though answered.
        let s = evaluate(&policy, Some(&h), clock(Priority::Urgent, Some(WED_16H + 2 * HOUR), None), now);
        assert!(s.first_response_breached);
        // Resolved on time without a separate first response: both met.
        let s = evaluate(&policy, Some(&h), clock(Priority::Urgent, None, Some(WED_16H + HOUR / 4)), now.plus_millis(100 * HOUR));
        assert!(!s.first_response_breached && !s.resolution_breached);
    }

    #[test]
    fn waiting_on_the_customer_stops_the_resolution_clock() {
        let policy = SlaPolicy::default();
        let h = office();
        let period = |from: i64, until: Option<i64>| WaitingPeriod {
            from: Timestamp::from_millis(WED_16H + from * HOUR),
            until: until.map(|u| Timestamp::from_millis(WED_16H + u * HOUR)),
        };
        let with = |waiting: Vec<WaitingPeriod>| SlaClock { waiting, ..clock(Priority::Urgent, Some(WED_16H + HOUR / 2), None) };
        // Urgent resolution is due Thursday 11:00 (19 h after Wednesday 16:00).
        let due = Timestamp::from_millis(WED_16H + 19 * HOUR);
        assert_eq!(evaluate(&policy, Some(&h), with(vec![]), due).resolution_due, Some(due));
        // Waiting from 17:00 Wednesday to 10:00 Thursday: 2 working hours (17-18, 09-10) later.
        let s = evaluate(&policy, Some(&h), with(vec![period(1, Some(18))]), due.plus_millis(HOUR));
        assert_eq!(s.resolution_due, Some(due.plus_millis(2 * HOUR)));
        assert!(!s.resolution_breached && !s.resolution_paused, "an hour after the old due time is within the new one");
        // Still waiting, long after the old due time: paused, not breached.
        let s = evaluate(&policy, Some(&h), with(vec![period(1, None)]), due.plus_millis(100 * HOUR));
        assert_eq!((s.resolution_due, s.resolution_paused, s.resolution_breached), (None, true, false));
        // Two periods add up; the first response is not moved.
        let s = evaluate(&policy, Some(&h), with(vec![period(1, Some(2)), period(17, Some(18))]), due);
        assert_eq!(s.resolution_due, Some(due.plus_millis(2 * HOUR)));
        assert_eq!(s.first_response_due, Some(Timestamp::from_millis(WED_16H + HOUR)));
        // Waiting that begins once the ticket is overdue changes nothing: the breach stays.
        let s = evaluate(&policy, Some(&h), with(vec![period(20, None)]), due.plus_millis(2 * HOUR));
        assert_eq!((s.resolution_due, s.resolution_paused, s.resolution_breached), (Some(due), false, true));
        // Without working hours, waiting counts in calendar time.
        let s = evaluate(&policy, None, with(vec![period(1, Some(3))]), Timestamp::from_millis(WED_16H));
        assert_eq!(s.resolution_due, Some(Timestamp::from_millis(WED_16H + 6 * HOUR)));
    }

    #[test]
    fn missing_targets_never_fall_due() {
        let policy = SlaPolicy { low: Target::default(), ..SlaPolicy::default() };
        let s = evaluate(&policy, None, clock(Priority::Low, None, None), Timestamp::from_millis(WED_16H + 1000 * HOUR));
        assert_eq!((s.first_response_due, s.first_response_breached, s.resolution_breached), (None, false, false));
    }
}
