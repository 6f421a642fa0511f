//! The shared inbox's rules, without I/O: working hours and the arithmetic of working time
//! ([`working_hours`]), SLA targets, due times, breaches and escalations ([`sla`]), tickets'
//! statuses, types, custom fields and access rules ([`ticket`]), the keyword rules that open
//! tickets by themselves ([`ticket_rules`]), routing and assignment
//! strategies ([`assignment`]), satisfaction surveys ([`csat`]), and the response-time metrics
//! ([`metrics`]).
//!
//! The store keeps instants and the server checks roles; what those instants and roles mean is
//! decided here, where it can be tested without a database.

pub mod assignment;
pub mod csat;
pub mod metrics;
pub mod sla;
pub mod ticket;
pub mod ticket_rules;
pub mod working_hours;

pub use assignment::{Candidate, Condition, Facts, Routing, RoutingRule, Strategy, TeamStrategy};
pub use sla::{
    evaluate, Breach, EscalationAction, EscalationRule, Priority, SlaClock, SlaPolicy, SlaStatus, Target, TargetMinutes, WaitingPeriod,
};
pub use ticket::{check_fields, Denied, TicketFacts, TicketId, TicketStatus, TicketTypeKey, Viewer, Visibility, BUILTIN_TYPES};
pub use ticket_rules::{first_match, TicketRule, TicketRuleSpec};
pub use working_hours::{Day, WorkingHours, WorkingHoursSpec};
