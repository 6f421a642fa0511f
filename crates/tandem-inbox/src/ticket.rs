//! Tickets' vocabulary and rules: statuses and the moves between them, types (built-in and the
//! workspace's own) with their custom fields, and who may see, create and assign what.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tandem_core::{PropertyDefinition, Role, TeamId, UserId, ValidationError};

/// A ticket's id: a UUIDv7 like every other id (time-ordered), of its own type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub uuid::Uuid);

impl TicketId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl Default for TicketId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for TicketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for TicketId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

impl utoipa::PartialSchema for TicketId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
            .into()
    }
}
impl utoipa::ToSchema for TicketId {}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    ToDo,
    InProgress,
    Waiting,
    Reopened,
    Resolved,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 5] = [Self::ToDo, Self::InProgress, Self::Waiting, Self::Reopened, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToDo => "to_do",
            Self::InProgress => "in_progress",
            Self::Waiting => "waiting",
            Self::Reopened => "reopened",
            Self::Resolved => "resolved",
        }
    }

    /// Whether moving from `self` to `to` is allowed. A resolved ticket only comes back as
    /// `reopened` (so reopenings can be counted), and only a resolved ticket can be reopened.
    pub fn check_move(self, to: TicketStatus) -> Result<(), ValidationError> {
        let ok = match (self, to) {
            (a, b) if a == b => true,
            (Self::Resolved, Self::Reopened) => true,
            (Self::Resolved, _) => false,
            (_, Self::Reopened) => false,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(ValidationError::new(
                "status",
                "invalid_transition",
                format!(
                    "a ticket cannot go from {} to {}{}",
                    self.as_str(),
                    to.as_str(),
                    match self {
                        Self::Resolved => "; reopen it first",
                        _ => "",
                    }
                ),
            ))
        }
    }
}

impl std::str::FromStr for TicketStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            ValidationError::new(
                "status",
                "invalid_status",
                format!("unknown status `{s}`; expected to_do, in_progress, waiting, reopened or resolved"),
            )
        })
    }
}

/// Types every workspace has.
pub const BUILTIN_TYPES: [&str; 5] = ["bug_report", "feature_request", "billing", "refund", "general"];

/// A ticket type's key: 1-40 lower-case letters, digits or `_`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketTypeKey(String);

impl TicketTypeKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_builtin(&self) -> bool {
        BUILTIN_TYPES.contains(&self.0.as_str())
    }
    /// The built-in types, as keys.
    pub fn builtins() -> Vec<TicketTypeKey> {
        BUILTIN_TYPES.iter().map(|k| Self((*k).to_string())).collect()
    }
    /// The type of a ticket created without one.
    pub fn general() -> Self {
        Self("general".into())
    }
}

impl TryFrom<String> for TicketTypeKey {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok = (1..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(s))
        } else {
            Err(ValidationError::new(
                "type",
                "invalid_type",
                format!("`{s}` is not a ticket type key: use 1-40 lower-case letters, digits or _, starting with a letter"),
            ))
        }
    }
}

impl std::str::FromStr for TicketTypeKey {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_string())
    }
}

impl From<TicketTypeKey> for String {
    fn from(k: TicketTypeKey) -> String {
        k.0
    }
}

impl std::fmt::Display for TicketTypeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for TicketTypeKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("bug_report, feature_request, billing, refund, general, or a key the workspace defined"))
            .into()
    }
}
impl utoipa::ToSchema for TicketTypeKey {}

/// Checks a ticket's custom fields against its type's definitions (the contact-property kinds:
/// text, number, date, boolean, single and multi select) and returns them normalised. Unknown
/// keys are refused (a typo must not pass silently); required fields must be present (an update
/// merges its changes into the stored fields before calling this).
pub fn check_fields(defs: &[PropertyDefinition], values: &Map<String, Value>) -> Result<Map<String, Value>, Vec<ValidationError>> {
    let mut errors = vec![];
    let mut out = Map::new();
    for key in values.keys() {
        if !defs.iter().any(|d| d.key.as_str() == key) {
            errors.push(ValidationError::new(format!("fields.{key}"), "unknown_field", format!("this ticket type has no field `{key}`")));
        }
    }
    for def in defs {
        let value = values.get(def.key.as_str()).unwrap_or(&Value::Null);
        match def.parse_json(value) {
            Ok(Some(v)) => {
                out.insert(def.key.to_string(), def.to_json(&v));
            }
            Ok(None) => {}
            Err(mut e) => {
                e.field = format!("fields.{}", def.key);
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Who is looking, for access decisions: the role, the user behind the request (API keys have
/// none) and the teams that user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub role: Role,
    pub user: Option<UserId>,
    pub teams: Vec<TeamId>,
}

/// Which tickets (or conversations) a viewer sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Visibility {
    #[default]
    All,
    /// Tickets created by or assigned to `user`, and those of `teams`.
    Limited { user: Option<UserId>, teams: Vec<TeamId> },
}

/// A refused action, with what to tell the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// What access rules need to know of a ticket.
#[derive(Debug, Clone, Copy)]
pub struct TicketFacts {
    pub created_by: Option<UserId>,
    pub assignee: Option<UserId>,
    pub team: Option<TeamId>,
}

impl Viewer {
    /// Admin sees every ticket; Team Admin the tickets of their teams and their own; Staff only
    /// the tickets they created or are assigned.
    pub fn visibility(&self) -> Visibility {
        match self.role {
            Role::Admin => Visibility::All,
            Role::TeamAdmin => Visibility::Limited { user: self.user, teams: self.teams.clone() },
            Role::Staff => Visibility::Limited { user: self.user, teams: vec![] },
        }
    }

    /// Conversations: Staff see those of their teams and those assigned to them; Team Admin and
    /// Admin see the whole inbox (they supervise it and hand work out). An API key is no person:
    /// an integration an Admin created (a CRM sync, a bot) works on the whole inbox with what its
    /// role allows.
    pub fn conversation_visibility(&self) -> Visibility {
        match (self.role, self.user) {
            (Role::Staff, Some(user)) => Visibility::Limited { user: Some(user), teams: self.teams.clone() },
            _ => Visibility::All,
        }
    }

    /// Whether a conversation with this assignee and team is visible (see
    /// [`Viewer::conversation_visibility`]).
    pub fn sees_conversation(&self, assignee: Option<UserId>, team: Option<TeamId>) -> bool {
        match self.conversation_visibility() {
            Visibility::All => true,
            Visibility::Limited { user, teams } => (user.is_some() && assignee == user) || team.is_some_and(|t| teams.contains(&t)),
        }
    }

    pub fn sees(&self, t: &TicketFacts) -> bool {
        match self.visibility() {
            Visibility::All => true,
            Visibility::Limited { user, teams } => {
                (user.is_some() && (t.created_by == user || t.assignee == user)) || t.team.is_some_and(|team| teams.contains(&team))
            }
        }
    }

    /// Whether the viewer may give a ticket to `user` (member of `user_teams`) in `team`.
    /// Admin: anyone. Team Admin: their teams, and users of their teams (or themselves). Staff:
    /// themselves or nobody, in one of their teams or none: Staff take work, they do not hand
    /// it out.
    pub fn may_assign(&self, user: Option<UserId>, user_teams: &[TeamId], team: Option<TeamId>) -> Result<(), Denied> {
        if self.role == Role::Admin {
            return Ok(());
        }
        if let Some(t) = team {
            if !self.teams.contains(&t) {
                return Err(Denied("you can only put tickets in a team you belong to".into()));
            }
        }
        let Some(u) = user else { return Ok(()) };
        if Some(u) == self.user {
            return Ok(());
        }
        match self.role {
            Role::TeamAdmin if user_teams.iter().any(|t| self.teams.contains(t)) => Ok(()),
            Role::TeamAdmin => Err(Denied("you can only assign tickets to members of your teams".into())),
            _ => Err(Denied("staff can assign tickets to themselves only".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_core::{PropertyKey, PropertyKind};

    #[test]
    fn status_moves() {
        use TicketStatus::*;
        assert!(ToDo.check_move(InProgress).is_ok());
        assert!(Waiting.check_move(Resolved).is_ok());
        assert!(Resolved.check_move(Reopened).is_ok());
        assert!(Reopened.check_move(InProgress).is_ok());
        assert_eq!(Resolved.check_move(InProgress).unwrap_err().code, "invalid_transition");
        assert_eq!(ToDo.check_move(Reopened).unwrap_err().code, "invalid_transition");
        assert_eq!("done".parse::<TicketStatus>().unwrap_err().code, "invalid_status");
        assert_eq!("in_progress".parse::<TicketStatus>().unwrap(), InProgress);
    }

    #[test]
    fn type_keys() {
        for k in TicketTypeKey::builtins() {
            assert_eq!(k.as_str().parse::<TicketTypeKey>().unwrap(), k);
        }
        assert!("refund".parse::<TicketTypeKey>().unwrap().is_builtin());
        assert!(!"complaint".parse::<TicketTypeKey>().unwrap().is_builtin());
        assert_eq!("Bug Report".parse::<TicketTypeKey>().unwrap_err().code, "invalid_type");
    }

    fn def(key: &str, kind: PropertyKind, options: &[&str], required: bool) -> PropertyDefinition {
        PropertyDefinition {
            key: key.parse::<PropertyKey>().unwrap(),
            label: key.into(),
            kind,
            options: options.iter().map(|s| s.to_string()).collect(),
            required,
        }
    }

    #[test]
    fn custom_fields_are_checked() {
        let defs = [
            def("order_ref", PropertyKind::Text, &[], true),
            def("amount", PropertyKind::Number, &[], false),
            def("reason", PropertyKind::SingleSelect, &["damaged", "late"], false),
        ];
        let ok =
            check_fields(&defs, serde_json::json!({"order_ref": "A-1", "amount": "12.5", "reason": "late"}).as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(ok), serde_json::json!({"order_ref": "A-1", "amount": 12.5, "reason": "late"}));
        let errs = check_fields(&defs, serde_json::json!({"amount": "lots", "reason": "bored", "colour": "red"}).as_object().unwrap())
            .unwrap_err();
        let codes: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(codes.contains(&("fields.colour", "unknown_field")), "{codes:?}");
        assert!(codes.contains(&("fields.amount", "invalid_number")), "{codes:?}");
        assert!(codes.contains(&("fields.order_ref", "required")) || codes.iter().any(|(f, _)| *f == "fields.order_ref"), "{codes:?}");
        assert!(codes.iter().any(|(f, _)| *f == "fields.reason"), "{codes:?}");
    }

    #[test]
    fn who_sees_and_assigns() {
        let (me, colleague, stranger) = (UserId::new(), UserId::new(), UserId::new());
        let (mine, other) = (TeamId::new(), TeamId::new());
        let admin = Viewer { role: Role::Admin, user: None, teams: vec![] };
        let lead = Viewer { role: Role::TeamAdmin, user: Some(me), teams: vec![mine] };
        let staff = Viewer { role: Role::Staff, user: Some(me), teams: vec![mine] };
        let key = Viewer { role: Role::Staff, user: None, teams: vec![] };
        let in_team = TicketFacts { created_by: Some(colleague), assignee: None, team: Some(mine) };
        let assigned = TicketFacts { created_by: Some(stranger), assignee: Some(me), team: Some(other) };
        let elsewhere = TicketFacts { created_by: Some(stranger), assignee: None, team: Some(other) };
        assert!(admin.sees(&elsewhere));
        assert!(lead.sees(&in_team) && lead.sees(&assigned) && !lead.sees(&elsewhere));
        assert!(!staff.sees(&in_team) && staff.sees(&assigned) && !staff.sees(&elsewhere));
        assert!(!key.sees(&TicketFacts { created_by: None, assignee: None, team: None }));
        assert_eq!(staff.conversation_visibility(), Visibility::Limited { user: Some(me), teams: vec![mine] });
        assert_eq!(lead.conversation_visibility(), Visibility::All);
        assert_eq!(key.conversation_visibility(), Visibility::All, "an integration's key works on the whole inbox");

        assert!(admin.may_assign(Some(stranger), &[], Some(other)).is_ok());
        assert!(lead.may_assign(Some(colleague), &[mine], Some(mine)).is_ok());
        assert!(lead.may_assign(Some(stranger), &[other], None).is_err());
        assert!(lead.may_assign(None, &[], Some(other)).is_err());
        assert!(staff.may_assign(Some(me), &[mine], Some(mine)).is_ok());
        assert!(staff.may_assign(None, &[], None).is_ok());
        assert!(staff.may_assign(Some(colleague), &[mine], None).is_err());
    }
}
