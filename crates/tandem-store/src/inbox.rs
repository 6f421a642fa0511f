//! The shared inbox around conversations: each workspace's settings (working hours, SLA policy,
//! routing), routing and assignment of conversations to teams and their members, the inbox's
//! views and search, and what response-time metrics are computed from.
//!
//! Settings are stored as JSON in the shapes `tandem-inbox` defines and are checked on write, so
//! what is read back is always valid; a workspace that never saved settings gets the defaults
//! (no working hours: calendar time; the default SLA policy; manual routing).

use serde::{Deserialize, Serialize};
use tandem_core::{ChannelId, ContactId, ConversationId, ConversationStatus, TeamId, Timestamp, UserId, WorkspaceId};
use tandem_inbox::{
    assignment::{hands_out_at, pick, Candidate, Facts, Routing, Strategy},
    csat::CsatSettings,
    metrics::Item,
    sla::{EscalationAction, SlaPolicy},
    ticket::Visibility,
    ticket_rules::{TicketRule, MAX_RULES},
    working_hours::WorkingHours,
};

use crate::{
    agent_runtime::AgentStatus,
    conversations::{Conversation, Row as ConversationRow},
    error::corrupt,
    sql::{run, Sql},
    tickets::push_visibility,
    Backend, Page, Paged, Result, Store, StoreError,
};

/// Job kind of the periodic inbox sweep of one workspace (route waiting conversations, escalate
/// overdue tickets); payload `{}`. Each run schedules the next.
pub const SWEEP_JOB: &str = "inbox.sweep";
/// How often the sweep runs: SLA targets are minutes at the finest, so a minute is precise enough.
pub const SWEEP_INTERVAL_MS: i64 = 60_000;

/// A workspace's inbox settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxSettings {
    /// `null`: always open (times are counted in calendar time).
    #[serde(default)]
    pub working_hours: Option<WorkingHours>,
    #[serde(default)]
    pub sla: SlaPolicy,
    #[serde(default)]
    pub routing: Routing,
    /// The survey sent when a ticket with a conversation is resolved; `null`: none.
    #[serde(default)]
    pub csat: Option<CsatSettings>,
    /// Keyword rules that open a ticket when a customer's message says one of their keywords
    /// (the first rule that matches; none while the conversation has an open ticket).
    #[serde(default)]
    pub ticket_rules: Vec<TicketRule>,
}

/// The inbox's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboxView {
    /// Assigned to the caller.
    Mine,
    /// In one of the caller's teams.
    Team,
    /// Everything the caller may see.
    #[default]
    All,
    /// Not resolved and assigned to nobody (team queues and unrouted conversations).
    Unassigned,
    /// Answered by an AI agent that has not handed off.
    Ai,
    /// Handed off by the AI agent to people.
    HandedOff,
}

#[derive(Debug, Clone, Default)]
pub struct InboxQuery {
    pub view: InboxView,
    pub status: Option<ConversationStatus>,
    pub channel_id: Option<ChannelId>,
    /// A contact label's name (case-insensitive).
    pub label: Option<String>,
    pub assignee_user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// Contact name, phone number or message text.
    pub search: Option<String>,
}

/// A conversation as the inbox lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    /// The AI agent's state, when an agent took part.
    pub agent_status: Option<AgentStatus>,
    /// The latest message, for the list's preview line.
    pub last_message: Option<MessagePreview>,
}

/// The start of a conversation's latest message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessagePreview {
    /// `inbound` (the customer) or `outbound`.
    pub direction: String,
    /// Who wrote an outbound message: `agent` (an AI agent), `csat` (a survey), a user's id.
    pub author: Option<String>,
    /// The first 160 characters of its text (empty for media without a caption).
    pub body: String,
}

/// What an automatic assignment did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Assignment {
    pub conversation: Conversation,
    pub team_id: Option<TeamId>,
    pub strategy: Strategy,
    /// Who got it; None when the team works manually (it waits in the team's queue) or has no
    /// members.
    pub assignee_user_id: Option<UserId>,
    /// `rule`, `handoff_team`, `default_team`, `requested`, `queue` (handed out from the team's
    /// queue) or `no_team`.
    pub routed_by: String,
    /// The team hands out automatically but the business is closed: the conversation waits in
    /// the team's queue until the next opening.
    pub deferred: bool,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    agent_status: Option<String>,
    last_direction: Option<String>,
    last_author: Option<String>,
    last_body: Option<String>,
}

const ITEM_SELECT: &str = "SELECT c.id, c.channel_id, c.contact_id, c.status, c.assignee_user_id, c.team_id, c.last_message_at, \
     c.last_inbound_at, c.created_at, c.updated_at, c.resolved_at, c.snoozed_until, ct.first_name, ct.last_name, ct.phone, ca.status AS agent_status, \
     (SELECT m.direction FROM messages m WHERE m.conversation_id = c.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_direction, \
     (SELECT m.author FROM messages m WHERE m.conversation_id = c.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_author, \
     (SELECT substr(m.body, 1, 160) FROM messages m WHERE m.conversation_id = c.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_body \
     FROM conversations c JOIN contacts ct ON ct.id = c.contact_id LEFT JOIN conversation_agents ca ON ca.conversation_id = c.id";

/// The words of a search, lower-cased, for a word-prefix full-text query: letters and digits
/// only, so that nothing in them is query syntax (a quote, `*`, `&`, `:`). At most eight.
fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(8).map(str::to_lowercase).collect()
}

impl Store {
    // ---- settings ----

    pub async fn inbox_settings(&self, ws: WorkspaceId) -> Result<InboxSettings> {
        let mut sql = self.sql("SELECT working_hours, sla_policy, routing, csat, ticket_rules FROM inbox_settings WHERE workspace_id = ");
        sql.bind(ws.to_string());
        // A named type: `run!` cannot take a tuple type that starts with a generic one.
        type Stored = (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
        let Some((hours, sla, routing, csat, rules)) = run!(sql, as Stored, fetch_optional(&self.pool))? else {
            return Ok(InboxSettings::default());
        };
        Ok(InboxSettings {
            working_hours: hours.map(|h| serde_json::from_str::<WorkingHours>(&h)).transpose().map_err(corrupt("working hours"))?,
            sla: sla.map(|s| serde_json::from_str::<SlaPolicy>(&s)).transpose().map_err(corrupt("sla policy"))?.unwrap_or_default(),
            routing: routing.map(|r| serde_json::from_str::<Routing>(&r)).transpose().map_err(corrupt("routing"))?.unwrap_or_default(),
            csat: csat.map(|c| serde_json::from_str::<CsatSettings>(&c)).transpose().map_err(corrupt("csat settings"))?,
            ticket_rules: rules
                .map(|r| serde_json::from_str::<Vec<TicketRule>>(&r))
                .transpose()
                .map_err(corrupt("ticket rules"))?
                .unwrap_or_default(),
        })
    }

    /// Saves settings after checking that every team and user they name is in the workspace.
    pub async fn put_inbox_settings(&self, ws: WorkspaceId, s: &InboxSettings) -> Result<InboxSettings> {
        s.routing.check()?;
        if let Some(c) = &s.csat {
            c.check()?;
        }
        let teams = self.list_teams(ws).await?;
        for t in s.routing.teams() {
            if !teams.iter().any(|x| x.id == t) {
                return Err(StoreError::invalid("routing", "unknown_team", format!("team {t} is not in this workspace")));
            }
        }
        for rule in &s.sla.escalations {
            match rule.action {
                EscalationAction::ReassignUser { user_id } => {
                    self.get_user(ws, user_id).await.map_err(|_| {
                        StoreError::invalid("sla.escalations", "unknown_user", format!("user {user_id} is not in this workspace"))
                    })?;
                }
                EscalationAction::ReassignTeam { team_id } if !teams.iter().any(|x| x.id == team_id) => {
                    return Err(StoreError::invalid("sla.escalations", "unknown_team", format!("team {team_id} is not in this workspace")));
                }
                _ => {}
            }
        }
        if s.ticket_rules.len() > MAX_RULES {
            return Err(StoreError::invalid("ticket_rules", "invalid_rule", format!("at most {MAX_RULES} ticket rules")));
        }
        for rule in &s.ticket_rules {
            if let Some(t) = rule.team_id().filter(|t| !teams.iter().any(|x| x.id == *t)) {
                return Err(StoreError::invalid("ticket_rules", "unknown_team", format!("team {t} is not in this workspace")));
            }
            self.get_ticket_type(ws, rule.kind()).await.map_err(|_| {
                StoreError::invalid("ticket_rules", "unknown_ticket_type", format!("ticket type `{}` does not exist", rule.kind()))
            })?;
        }
        let mut sql = self
            .sql("INSERT INTO inbox_settings (workspace_id, working_hours, sla_policy, routing, csat, ticket_rules, updated_at) VALUES (");
        sql.bind(ws.to_string()).push(", ").bind(s.working_hours.as_ref().map(to_json)).push(", ");
        sql.bind(to_json(&s.sla)).push(", ").bind(to_json(&s.routing)).push(", ").bind(s.csat.as_ref().map(to_json)).push(", ");
        sql.bind(to_json(&s.ticket_rules)).push(", ").bind(Timestamp::now().millis());
        sql.push(
            ") ON CONFLICT (workspace_id) DO UPDATE SET working_hours = excluded.working_hours, sla_policy = excluded.sla_policy, \
             routing = excluded.routing, csat = excluded.csat, ticket_rules = excluded.ticket_rules, updated_at = excluded.updated_at",
        );
        run!(sql, execute(&*self.writes().await?))?;
        self.schedule_inbox_sweep(ws, SWEEP_INTERVAL_MS).await?;
        self.inbox_settings(ws).await
    }

    /// Queues the workspace's next sweep in `delay_ms`, unless one is already queued (the
    /// running sweep schedules its successor this way, so a workspace has one chain).
    pub async fn schedule_inbox_sweep(&self, ws: WorkspaceId, delay_ms: i64) -> Result<bool> {
        let mut sql = self.sql("SELECT COUNT(*) FROM jobs WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND kind = ").bind(SWEEP_JOB).push(" AND status = 'queued'");
        if run!(sql, as (i64,), fetch_one(&self.pool))?.0 > 0 {
            return Ok(false);
        }
        let now = Timestamp::now().millis();
        let mut sql =
            self.sql("INSERT INTO jobs (id, workspace_id, kind, payload, status, max_attempts, run_at, created_at, updated_at) VALUES (");
        sql.bind(tandem_core::JobId::new().to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(SWEEP_JOB)
            .push(", '{}', 'queued', 3, ");
        sql.bind(now + delay_ms.max(0)).push(", ").bind(now).push(", ").bind(now).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(true)
    }

    /// Deletes the workspace's finished sweeps (a chain leaves one row a minute otherwise).
    pub async fn prune_inbox_sweeps(&self, ws: WorkspaceId) -> Result<u64> {
        let mut sql = self.sql("DELETE FROM jobs WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND kind = ").bind(SWEEP_JOB).push(" AND status = 'succeeded'");
        Ok(run!(sql, execute(&*self.writes().await?))?.rows_affected())
    }

    /// The teams a user belongs to.
    pub async fn user_teams(&self, ws: WorkspaceId, user: UserId) -> Result<Vec<TeamId>> {
        let mut sql = self.sql("SELECT team_id FROM team_members WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND user_id = ").bind(user.to_string()).push(" ORDER BY team_id");
        run!(sql, as (String,), fetch_all(&self.pool))?.into_iter().map(|(t,)| t.parse().map_err(corrupt("team id"))).collect()
    }

    // ---- routing and assignment ----

    /// Routes a conversation and assigns it by its team's strategy. With `team`, the conversation
    /// goes to that team; without, the workspace's routing decides (rules, the AI agent's
    /// handoff team, the default team). A team working manually keeps it in its queue.
    pub async fn auto_assign(&self, ws: WorkspaceId, id: ConversationId, team: Option<TeamId>) -> Result<Assignment> {
        let conv = self.get_conversation(ws, id).await?;
        let settings = self.inbox_settings(ws).await?;
        let teams = self.list_teams(ws).await?;
        let (team, routed_by) = match team {
            Some(t) => {
                self.get_team(ws, t).await?;
                (Some(t), "requested")
            }
            None => {
                let labels = self.contact_label_names(ws, conv.contact_id).await?;
                let channel = self.get_channel(ws, conv.channel_id).await?;
                let handoff_team = self.conversation_agent(ws, id).await?.and_then(|a| a.handoff_team).and_then(|name| {
                    teams.iter().find(|t| t.name.eq_ignore_ascii_case(name.trim()) || t.id.to_string() == name.trim()).map(|t| t.id)
                });
                let facts = Facts { labels: &labels, channel_id: conv.channel_id, channel_kind: channel.kind, handoff_team };
                let by_rules = Routing { default_team_id: None, ..settings.routing.clone() }.route(&Facts { handoff_team: None, ..facts });
                match (by_rules, handoff_team, settings.routing.default_team_id) {
                    (Some(t), _, _) => (Some(t), "rule"),
                    (None, Some(t), _) => (Some(t), "handoff_team"),
                    (None, None, Some(t)) => (Some(t), "default_team"),
                    (None, None, None) => (None, "no_team"),
                }
            }
        };
        self.mark_routed(ws, id).await?;
        let Some(team) = team.filter(|t| teams.iter().any(|x| x.id == *t)) else {
            return Ok(Assignment {
                conversation: conv,
                team_id: None,
                strategy: Strategy::Manual,
                assignee_user_id: None,
                routed_by: "no_team".into(),
                deferred: false,
            });
        };
        let strategy = settings.routing.strategy(team);
        let members = teams.iter().find(|t| t.id == team).map(|t| t.member_ids.clone()).unwrap_or_default();
        let deferred = strategy != Strategy::Manual && !hands_out_at(settings.working_hours.as_ref(), Timestamp::now());
        let user = match strategy {
            Strategy::Manual => None,
            _ if deferred => None,
            _ => {
                let loads = self.open_loads(ws, &members).await?;
                let candidates: Vec<Candidate> =
                    members.iter().map(|&user_id| Candidate { user_id, open: *loads.get(&user_id).unwrap_or(&0) }).collect();
                let last = self.last_assigned(ws, team).await?;
                pick(strategy, &candidates, last)
            }
        };
        let conversation = self.update_conversation(ws, id, None, Some(user), Some(Some(team))).await?;
        if let Some(u) = user {
            let mut sql = self.sql("UPDATE teams SET last_assigned_user_id = ");
            sql.bind(u.to_string()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(team.to_string());
            run!(sql, execute(&*self.writes().await?))?;
        }
        Ok(Assignment { conversation, team_id: Some(team), strategy, assignee_user_id: user, routed_by: routed_by.into(), deferred })
    }

    async fn mark_routed(&self, ws: WorkspaceId, id: ConversationId) -> Result<()> {
        let mut sql = self.sql("UPDATE conversations SET routed_at = ");
        sql.bind(Timestamp::now().millis()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    async fn last_assigned(&self, ws: WorkspaceId, team: TeamId) -> Result<Option<UserId>> {
        let mut sql = self.sql("SELECT last_assigned_user_id FROM teams WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(team.to_string());
        type Last = (Option<String>,);
        let last = run!(sql, as Last, fetch_optional(&self.pool))?.and_then(|(u,)| u);
        last.map(|u| u.parse()).transpose().map_err(corrupt("user id"))
    }

    /// Open (not resolved) conversations per user.
    async fn open_loads(&self, ws: WorkspaceId, users: &[UserId]) -> Result<std::collections::HashMap<UserId, i64>> {
        if users.is_empty() {
            return Ok(Default::default());
        }
        let mut sql = self.sql("SELECT assignee_user_id, COUNT(*) FROM conversations WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND status <> 'resolved' AND assignee_user_id IN (");
        sql.bind_list(users.iter().map(|u| u.to_string())).push(") GROUP BY assignee_user_id");
        run!(sql, as (String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(u, n)| Ok((u.parse().map_err(corrupt("user id"))?, n)))
            .collect()
    }

    async fn contact_label_names(&self, ws: WorkspaceId, contact: ContactId) -> Result<Vec<String>> {
        let mut sql = self.sql("SELECT l.name FROM contact_labels cl JOIN labels l ON l.id = cl.label_id WHERE cl.workspace_id = ");
        sql.bind(ws.to_string()).push(" AND cl.contact_id = ").bind(contact.to_string());
        Ok(run!(sql, as (String,), fetch_all(&self.pool))?.into_iter().map(|(n,)| n).collect())
    }

    /// Routes every conversation that waits for people and has no team nor assignee: those the
    /// AI agent handed off, and those on channels without an agent. Conversations an agent is
    /// answering stay with it ("AI first"). While the business is open, it also hands out the
    /// conversations waiting unassigned in the queue of a team that assigns automatically (those
    /// that came in after hours). Returns what changed.
    pub async fn route_waiting(&self, ws: WorkspaceId) -> Result<Vec<Assignment>> {
        let settings = self.inbox_settings(ws).await?;
        if settings.routing == Routing::default() {
            return Ok(vec![]);
        }
        let auto_teams: Vec<String> =
            settings.routing.strategies.iter().filter(|s| s.strategy != Strategy::Manual).map(|s| s.team_id.to_string()).collect();
        let open = hands_out_at(settings.working_hours.as_ref(), Timestamp::now());
        let mut sql = self.sql(
            "SELECT c.id, c.team_id FROM conversations c JOIN channels ch ON ch.id = c.channel_id \
             LEFT JOIN conversation_agents ca ON ca.conversation_id = c.id WHERE c.workspace_id = ",
        );
        sql.bind(ws.to_string());
        sql.push(
            " AND c.status <> 'resolved' AND c.assignee_user_id IS NULL AND ((c.team_id IS NULL \
             AND (ca.status = 'handed_off' OR (ca.status IS NULL AND ch.agent_id IS NULL))",
        );
        // Not routed in the last minute, unless the agent handed it off since.
        sql.push(" AND (c.routed_at IS NULL OR c.routed_at < ").bind(Timestamp::now().millis() - SWEEP_INTERVAL_MS);
        sql.push(" OR ca.updated_at > c.routed_at))");
        if open && !auto_teams.is_empty() {
            sql.push(" OR (c.team_id IN (").bind_list(auto_teams).push(") AND (ca.status IS NULL OR ca.status = 'handed_off')");
            sql.push(" AND EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = c.team_id))");
        }
        sql.push(") ORDER BY c.created_at, c.id LIMIT 200");
        type Waiting = (String, Option<String>);
        let rows = run!(sql, as Waiting, fetch_all(&self.pool))?;
        let mut out = vec![];
        for (id, queued_in) in rows {
            let id = id.parse().map_err(corrupt("conversation id"))?;
            let team = queued_in.map(|t| t.parse()).transpose().map_err(corrupt("team id"))?;
            let mut a = self.auto_assign(ws, id, team).await?;
            if team.is_some() {
                a.routed_by = "queue".into();
            }
            let changed = if team.is_some() { a.assignee_user_id.is_some() } else { a.team_id.is_some() };
            if changed {
                out.push(a);
            }
        }
        Ok(out)
    }

    // ---- views ----

    /// The inbox: a view, filters and search, within what `visibility` lets the caller see.
    /// `me` and `my_teams` give the `mine` and `team` views their meaning.
    pub async fn inbox(
        &self,
        ws: WorkspaceId,
        visibility: &Visibility,
        me: Option<UserId>,
        my_teams: &[TeamId],
        q: &InboxQuery,
        page: Page,
    ) -> Result<Paged<InboxItem>> {
        let mut sql = self.sql(&format!("{ITEM_SELECT} WHERE c.workspace_id = "));
        sql.bind(ws.to_string());
        push_visibility(&mut sql, visibility, &["c.assignee_user_id"], "c.team_id");
        match q.view {
            InboxView::Mine => match me {
                Some(u) => sql.push(" AND c.assignee_user_id = ").bind(u.to_string()),
                None => sql.push(" AND 1 = 0"),
            },
            InboxView::Team if my_teams.is_empty() => sql.push(" AND 1 = 0"),
            InboxView::Team => sql.push(" AND c.team_id IN (").bind_list(my_teams.iter().map(|t| t.to_string())).push(")"),
            InboxView::All => &mut sql,
            InboxView::Unassigned => sql.push(" AND c.assignee_user_id IS NULL AND c.status <> 'resolved'"),
            InboxView::Ai => sql.push(" AND ca.status = 'active'"),
            InboxView::HandedOff => sql.push(" AND ca.status = 'handed_off'"),
        };
        if let Some(s) = q.status {
            sql.push(" AND c.status = ").bind(s.as_str());
        }
        if let Some(c) = q.channel_id {
            sql.push(" AND c.channel_id = ").bind(c.to_string());
        }
        if let Some(u) = q.assignee_user_id {
            sql.push(" AND c.assignee_user_id = ").bind(u.to_string());
        }
        if let Some(t) = q.team_id {
            sql.push(" AND c.team_id = ").bind(t.to_string());
        }
        if let Some(label) = q.label.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            sql.push(
                " AND EXISTS (SELECT 1 FROM contact_labels cl JOIN labels l ON l.id = cl.label_id \
                 WHERE cl.contact_id = c.contact_id AND LOWER(l.name) = ",
            )
            .bind(label.to_lowercase())
            .push(")");
        }
        if let Some(text) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            self.push_search(&mut sql, ws, text);
        }
        sql.push(" ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT ")
            .bind(page.limit + 1)
            .push(" OFFSET ")
            .bind(page.offset);
        let rows = run!(sql, as ItemRow, fetch_all(&self.pool))?;
        let items = rows
            .into_iter()
            .map(|r| {
                let name = [r.first_name, r.last_name].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
                Ok(InboxItem {
                    conversation: r.conversation.try_into()?,
                    contact_name: (!name.is_empty()).then_some(name),
                    contact_phone: r.phone,
                    agent_status: match r.agent_status.as_deref() {
                        None => None,
                        Some("active") => Some(AgentStatus::Active),
                        Some("handed_off") => Some(AgentStatus::HandedOff),
                        Some(other) => return Err(StoreError::Corrupt(format!("agent status {other}"))),
                    },
                    last_message: r.last_direction.map(|direction| MessagePreview {
                        direction,
                        author: r.last_author,
                        body: r.last_body.unwrap_or_default(),
                    }),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(items))
    }

    /// Appends the search: conversations whose contact's name has the words (by their start),
    /// whose contact's phone has the digits or e-mail is the address, or whose messages have the
    /// words. Names and messages go through full-text indexes (FTS5 on SQLite, GIN on PostgreSQL),
    /// so a search reads the few matching rows, not the whole inbox.
    fn push_search(&self, sql: &mut Sql, ws: WorkspaceId, text: &str) {
        let words = search_words(text);
        let sqlite = self.backend() == Backend::Sqlite;
        let (fts_query, ts_query) = (
            words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
            words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
        );
        sql.push(" AND c.id IN (SELECT x.id FROM conversations x JOIN contacts k ON k.id = x.contact_id WHERE x.workspace_id = ")
            .bind(ws.to_string());
        sql.push(" AND (1 = 0");
        if !words.is_empty() {
            if sqlite {
                sql.push(" OR k.rowid IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ").bind(fts_query.clone()).push(")");
            } else {
                sql.push(
                    " OR to_tsvector('simple', COALESCE(k.first_name, '') || ' ' || COALESCE(k.last_name, '')) @@ to_tsquery('simple', ",
                )
                .bind(ts_query.clone())
                .push(")");
            }
        }
        // Phone numbers are stored in E.164: match on digits, without a national leading 0.
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches('0');
        if digits.len() >= 3 && text.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c)) {
            sql.push(" OR k.phone LIKE ").bind(format!("%{digits}%"));
        }
        if let Ok(email) = text.parse::<tandem_core::Email>() {
            sql.push(" OR k.email = ").bind(email.to_string());
        }
        sql.push(")");
        if !words.is_empty() {
            sql.push(" UNION SELECT m.conversation_id FROM ");
            if sqlite {
                sql.push("messages_fts JOIN messages m ON m.rowid = messages_fts.rowid WHERE messages_fts MATCH ").bind(fts_query);
            } else {
                sql.push("messages m WHERE to_tsvector('simple', m.body) @@ to_tsquery('simple', ").bind(ts_query).push(")");
            }
            sql.push(" AND m.workspace_id = ").bind(ws.to_string());
        }
        sql.push(")");
    }

    // ---- metrics ----

    /// Conversations created in `[from, to)` as metric items: measured from the customer's first
    /// message to the first reply (by a person or an AI agent); resolved when they were marked
    /// resolved (conversations resolved before that was recorded: their last update). `kind` is
    /// the channel.
    /// A conversation needed a follow-up when the customer wrote again after the first reply.
    pub async fn conversation_metric_items(&self, ws: WorkspaceId, from: Timestamp, to: Timestamp) -> Result<Vec<Item>> {
        let mut sql = self.sql(
            "SELECT ch.kind, c.assignee_user_id, c.status, COALESCE(c.resolved_at, c.updated_at), c.created_at, \
             (SELECT MIN(i.created_at) FROM messages i WHERE i.conversation_id = c.id AND i.direction = 'inbound'), \
             (SELECT MIN(o.created_at) FROM messages o WHERE o.conversation_id = c.id AND o.direction = 'outbound' AND o.created_at >= \
               COALESCE((SELECT MIN(i2.created_at) FROM messages i2 WHERE i2.conversation_id = c.id AND i2.direction = 'inbound'), c.created_at)), \
             (SELECT COUNT(*) FROM messages n WHERE n.conversation_id = c.id AND n.direction = 'inbound' AND n.created_at > \
               (SELECT MIN(o2.created_at) FROM messages o2 WHERE o2.conversation_id = c.id AND o2.direction = 'outbound')) \
             FROM conversations c JOIN channels ch ON ch.id = c.channel_id WHERE c.workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND c.created_at >= ").bind(from.millis()).push(" AND c.created_at < ").bind(to.millis());
        sql.push(" ORDER BY c.created_at LIMIT 100000");
        type R = (String, Option<String>, String, i64, i64, Option<i64>, Option<i64>, i64);
        run!(sql, as R, fetch_all(&self.pool))?
            .into_iter()
            .map(|(kind, assignee, status, updated, created, first_in, first_out, inbound)| {
                Ok(Item {
                    kind,
                    assignee: assignee.map(|u| u.parse()).transpose().map_err(corrupt("user id"))?,
                    created_at: Timestamp::from_millis(first_in.unwrap_or(created)),
                    first_response_at: first_out.map(Timestamp::from_millis),
                    resolved_at: (status == ConversationStatus::Resolved.as_str()).then(|| Timestamp::from_millis(updated)),
                    needed_follow_up: inbound > 0,
                })
            })
            .collect()
    }
}

/// Settings parts in their stored JSON (plain data: serialising cannot fail).
fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
