//! Which team a conversation goes to (routing rules, the AI agent's handoff team, the default
//! team) and which member of that team gets it (manual, round robin or least busy).

use serde::{Deserialize, Serialize};
use tandem_core::{ChannelId, ChannelKind, TeamId, Timestamp, UserId, ValidationError};

use crate::working_hours::WorkingHours;

/// How a team hands out its conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Conversations wait in the team's queue until someone takes or assigns them.
    #[default]
    Manual,
    /// Members in turn.
    RoundRobin,
    /// The member with the fewest open conversations (ties in turn).
    LeastBusy,
}

/// A member who can take a conversation, with how many open conversations they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub user_id: UserId,
    pub open: i64,
}

/// The member `strategy` picks among `candidates`; `last` is who the team's previous automatic
/// assignment went to (the turn continues after them). None for manual teams or empty teams.
pub fn pick(strategy: Strategy, candidates: &[Candidate], last: Option<UserId>) -> Option<UserId> {
    let mut in_turn: Vec<Candidate> = candidates.to_vec();
    in_turn.sort_by_key(|c| c.user_id);
    in_turn.dedup_by_key(|c| c.user_id);
    // Rotate so that the member after `last` comes first.
    if let Some(last) = last {
        let next = in_turn.iter().position(|c| c.user_id > last).unwrap_or(0);
        in_turn.rotate_left(next);
    }
    match strategy {
        Strategy::Manual => None,
        Strategy::RoundRobin => in_turn.first().map(|c| c.user_id),
        // `min_by_key` keeps the first of equals, i.e. the next in turn.
        Strategy::LeastBusy => in_turn.iter().min_by_key(|c| c.open).map(|c| c.user_id),
    }
}

/// Whether automatic strategies hand work out at `now`: only while the business is open (always,
/// without working hours). Outside them a conversation waits in its team's queue, so it does not
/// land on someone who has gone home, and is handed out at the next opening.
pub fn hands_out_at(hours: Option<&WorkingHours>, now: Timestamp) -> bool {
    hours.is_none_or(|h| h.is_open_at(now))
}

/// What a routing rule looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The contact carries this label (case-insensitive), e.g. `VIP`.
    ContactLabel { label: String },
    /// The conversation is on this channel.
    Channel { channel_id: ChannelId },
    /// The conversation is on a channel of this kind.
    ChannelKind { kind: ChannelKind },
}

/// When `when` holds, the conversation goes to `team_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub when: Condition,
    pub team_id: TeamId,
}

/// A team's assignment strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamStrategy {
    pub team_id: TeamId,
    pub strategy: Strategy,
}

/// A workspace's routing: rules in order (the first that holds wins), the team for everything
/// else, and each team's strategy (manual when not listed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
    #[serde(default)]
    pub default_team_id: Option<TeamId>,
    #[serde(default)]
    pub strategies: Vec<TeamStrategy>,
}

/// What is known of a conversation when it is routed.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub labels: &'a [String],
    pub channel_id: ChannelId,
    pub channel_kind: ChannelKind,
    /// The team the AI agent named when it handed off, when it named one that exists.
    pub handoff_team: Option<TeamId>,
}

impl Routing {
    /// Refuses rules that cannot work: an empty label, a team listed twice in strategies.
    pub fn check(&self) -> Result<(), ValidationError> {
        for (i, r) in self.rules.iter().enumerate() {
            if let Condition::ContactLabel { label } = &r.when {
                if label.trim().is_empty() {
                    return Err(ValidationError::new(format!("rules[{i}].when.label"), "invalid_rule", "a label rule needs a label"));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.strategies {
            if !seen.insert(s.team_id) {
                return Err(ValidationError::new("strategies", "duplicate_team", format!("team {} has two strategies", s.team_id)));
            }
        }
        Ok(())
    }

    /// Every team the routing names (the store checks they exist in the workspace).
    pub fn teams(&self) -> Vec<TeamId> {
        let mut t: Vec<TeamId> =
            self.rules.iter().map(|r| r.team_id).chain(self.default_team_id).chain(self.strategies.iter().map(|s| s.team_id)).collect();
        t.sort();
        t.dedup();
        t
    }

    /// The team a conversation goes to: the first rule that holds, else the agent's handoff team,
    /// else the default team. Rules come first because they say who the customer is (a VIP goes
    /// to the VIP desk whatever the agent thought the topic was).
    pub fn route(&self, facts: &Facts<'_>) -> Option<TeamId> {
        self.rules
            .iter()
            .find(|r| match &r.when {
                Condition::ContactLabel { label } => facts.labels.iter().any(|l| l.trim().eq_ignore_ascii_case(label.trim())),
                Condition::Channel { channel_id } => *channel_id == facts.channel_id,
                Condition::ChannelKind { kind } => *kind == facts.channel_kind,
            })
            .map(|r| r.team_id)
            .or(facts.handoff_team)
            .or(self.default_team_id)
    }

    pub fn strategy(&self, team: TeamId) -> Strategy {
        self.strategies.iter().find(|s| s.team_id == team).map(|s| s.strategy).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: usize) -> Vec<UserId> {
        let mut u: Vec<UserId> = (0..n).map(|_| UserId::new()).collect();
        u.sort();
        u
    }

    #[test]
    fn round_robin_takes_turns() {
        let u = users(3);
        let c: Vec<Candidate> = u.iter().rev().map(|&user_id| Candidate { user_id, open: 0 }).collect();
        assert_eq!(pick(Strategy::RoundRobin, &c, None), Some(u[0]));
        assert_eq!(pick(Strategy::RoundRobin, &c, Some(u[0])), Some(u[1]));
        assert_eq!(pick(Strategy::RoundRobin, &c, Some(u[2])), Some(u[0]), "wraps around");
        // The previous assignee left the team: the turn continues after where they were.
        let gone = UserId(uuid_between(u[0], u[1]));
        assert_eq!(pick(Strategy::RoundRobin, &c, Some(gone)), Some(u[1]));
        assert_eq!(pick(Strategy::Manual, &c, None), None);
        assert_eq!(pick(Strategy::RoundRobin, &[], None), None);
    }

    fn uuid_between(a: UserId, b: UserId) -> uuid::Uuid {
        // a < b; a's successor lies between them unless they are adjacent (never for random ids).
        let n = a.0.as_u128() + 1;
        assert!(n < b.0.as_u128());
        uuid::Uuid::from_u128(n)
    }

    #[test]
    fn automatic_strategies_wait_for_working_hours() {
        use crate::working_hours::{Day, WorkingHoursSpec};
        let h: WorkingHours = WorkingHoursSpec {
            time_zone: "UTC".into(),
            start: "09:00".into(),
            end: "18:00".into(),
            days: vec![Day::Mon],
            holidays: vec![],
        }
        .try_into()
        .unwrap();
        // Monday 2024-01-15 10:00 UTC, then the same Monday at 20:00.
        assert!(hands_out_at(Some(&h), Timestamp::from_millis(1_705_312_800_000)));
        assert!(!hands_out_at(Some(&h), Timestamp::from_millis(1_705_312_800_000 + 10 * 3_600_000)));
        assert!(hands_out_at(None, Timestamp::from_millis(0)));
    }

    #[test]
    fn least_busy_picks_the_lightest_then_takes_turns() {
        let u = users(3);
        let c = [Candidate { user_id: u[0], open: 4 }, Candidate { user_id: u[1], open: 1 }, Candidate { user_id: u[2], open: 2 }];
        assert_eq!(pick(Strategy::LeastBusy, &c, None), Some(u[1]));
        let tied = [Candidate { user_id: u[0], open: 1 }, Candidate { user_id: u[1], open: 1 }, Candidate { user_id: u[2], open: 3 }];
        assert_eq!(pick(Strategy::LeastBusy, &tied, Some(u[0])), Some(u[1]));
        assert_eq!(pick(Strategy::LeastBusy, &tied, Some(u[1])), Some(u[0]));
    }

    #[test]
    fn rules_route_first_then_handoff_then_default() {
        let (vip, sales, support) = (TeamId::new(), TeamId::new(), TeamId::new());
        let whatsapp = ChannelId::new();
        let routing = Routing {
            rules: vec![
                RoutingRule { when: Condition::ContactLabel { label: "VIP".into() }, team_id: vip },
                RoutingRule { when: Condition::Channel { channel_id: whatsapp }, team_id: sales },
            ],
            default_team_id: Some(support),
            strategies: vec![TeamStrategy { team_id: vip, strategy: Strategy::RoundRobin }],
        };
        routing.check().unwrap();
        let vip_labels = ["vip".to_string()];
        let facts = |labels: &'static [String], channel_id, handoff_team| Facts {
            labels,
            channel_id,
            channel_kind: ChannelKind::Whatsapp,
            handoff_team,
        };
        assert_eq!(
            routing.route(&Facts { labels: &vip_labels, channel_id: whatsapp, channel_kind: ChannelKind::Whatsapp, handoff_team: None }),
            Some(vip),
            "label beats channel: first rule wins"
        );
        assert_eq!(routing.route(&facts(&[], whatsapp, None)), Some(sales));
        let other = ChannelId::new();
        let agent_team = TeamId::new();
        assert_eq!(routing.route(&facts(&[], other, Some(agent_team))), Some(agent_team));
        assert_eq!(routing.route(&facts(&[], other, None)), Some(support));
        assert_eq!(routing.strategy(vip), Strategy::RoundRobin);
        assert_eq!(routing.strategy(sales), Strategy::Manual);
        assert_eq!(routing.teams().len(), 3);
        let kind = Routing {
            rules: vec![RoutingRule { when: Condition::ChannelKind { kind: ChannelKind::Sms }, team_id: sales }],
            ..Routing::default()
        };
        assert_eq!(kind.route(&Facts { labels: &[], channel_id: other, channel_kind: ChannelKind::Sms, handoff_team: None }), Some(sales));
        assert_eq!(kind.route(&Facts { labels: &[], channel_id: other, channel_kind: ChannelKind::Line, handoff_team: None }), None);
    }

    #[test]
    fn bad_routing_is_refused() {
        let t = TeamId::new();
        let empty =
            Routing { rules: vec![RoutingRule { when: Condition::ContactLabel { label: " ".into() }, team_id: t }], ..Routing::default() };
        assert_eq!(empty.check().unwrap_err().code, "invalid_rule");
        let twice = Routing {
            strategies: vec![
                TeamStrategy { team_id: t, strategy: Strategy::Manual },
                TeamStrategy { team_id: t, strategy: Strategy::LeastBusy },
            ],
            ..Routing::default()
        };
        assert_eq!(twice.check().unwrap_err().code, "duplicate_team");
        assert!(serde_json::from_value::<Routing>(serde_json::json!({"rules": [{"when": {"type": "moon_phase"}, "team_id": t}]})).is_err());
    }
}
