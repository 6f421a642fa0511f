//! Teams and their members (conversations and handoffs are routed to teams).

use serde::Serialize;
use tandem_core::{TeamId, Timestamp, UserId, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub member_ids: Vec<UserId>,
    pub created_at: Timestamp,
}

impl Store {
    pub async fn create_team(&self, ws: WorkspaceId, name: &str) -> Result<Team> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::invalid("name", "invalid_name", "a team needs a name of 1 to 100 characters"));
        }
        let team = Team { id: TeamId::new(), name: name.into(), member_ids: vec![], created_at: Timestamp::now() };
        let mut sql = self.sql("INSERT INTO teams (id, workspace_id, name, created_at) VALUES (");
        sql.bind(team.id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(team.name.clone())
            .push(", ")
            .bind(team.created_at.millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))
            .map_err(StoreError::on_conflict("name_taken", format!("a team named {name} already exists")))?;
        Ok(team)
    }

    pub async fn list_teams(&self, ws: WorkspaceId) -> Result<Vec<Team>> {
        let mut sql = self.sql("SELECT t.id, t.name, t.created_at, m.user_id FROM teams t LEFT JOIN team_members m ON m.team_id = t.id WHERE t.workspace_id = ");
        sql.bind(ws.to_string()).push(" ORDER BY t.created_at, t.id");
        let rows = run!(sql, as (String, String, i64, Option<String>), fetch_all(&self.pool))?;
        let mut teams: Vec<Team> = Vec::new();
        for (id, name, created_at, member) in rows {
            let id: TeamId = id.parse().map_err(corrupt("team id"))?;
            if teams.last().is_none_or(|t| t.id != id) {
                teams.push(Team { id, name, member_ids: vec![], created_at: Timestamp::from_millis(created_at) });
            }
            if let (Some(m), Some(team)) = (member, teams.last_mut()) {
                team.member_ids.push(m.parse().map_err(corrupt("user id"))?);
            }
        }
        Ok(teams)
    }

    pub async fn get_team(&self, ws: WorkspaceId, id: TeamId) -> Result<Team> {
        self.list_teams(ws).await?.into_iter().find(|t| t.id == id).ok_or(StoreError::NotFound("team"))
    }

    pub async fn delete_team(&self, ws: WorkspaceId, id: TeamId) -> Result<()> {
        self.delete_scoped("teams", ws, &id.to_string(), "team").await
    }

    /// Adds a user of the same workspace to a team (idempotent).
    pub async fn add_team_member(&self, ws: WorkspaceId, team: TeamId, user: UserId) -> Result<Team> {
        self.get_user(ws, user).await?;
        self.get_team(ws, team).await?;
        let mut sql = self.sql("INSERT INTO team_members (team_id, user_id, workspace_id) VALUES (");
        sql.bind(team.to_string()).push(", ").bind(user.to_string()).push(", ").bind(ws.to_string()).push(") ON CONFLICT DO NOTHING");
        run!(sql, execute(&*self.writes().await?))?;
        self.get_team(ws, team).await
    }

    pub async fn remove_team_member(&self, ws: WorkspaceId, team: TeamId, user: UserId) -> Result<Team> {
        let mut sql = self.sql("DELETE FROM team_members WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND team_id = ").bind(team.to_string()).push(" AND user_id = ").bind(user.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        self.get_team(ws, team).await
    }
}
