//! Users of a workspace, their passwords (argon2) and login sessions (random tokens stored hashed).

use serde::Serialize;
use tandem_core::{Actor, ActorKind, Email, Role, Timestamp, UserId, WorkspaceId};

use crate::{
    error::corrupt,
    secret::{digest, hash_password, verify_password},
    sql::run,
    Result, Secret, Store, StoreError,
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
}

pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub password: String,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    workspace_id: String,
    email: String,
    name: String,
    role: String,
    created_at: i64,
}

impl TryFrom<Row> for User {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("user id"))?,
            workspace_id: r.workspace_id.parse().map_err(corrupt("workspace id"))?,
            email: r.email,
            name: r.name,
            role: r.role.parse().map_err(corrupt("role"))?,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

const COLUMNS: &str = "id, workspace_id, email, name, role, created_at";
pub const MIN_PASSWORD_LEN: usize = 10;

impl Store {
    pub async fn create_user(&self, ws: WorkspaceId, new: NewUser) -> Result<User> {
        if new.password.chars().count() < MIN_PASSWORD_LEN {
            return Err(StoreError::invalid(
                "password",
                "weak_password",
                format!("a password needs at least {MIN_PASSWORD_LEN} characters"),
            ));
        }
        let name = new.name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("name", "invalid_name", "a user needs a name"));
        }
        let user = User {
            id: UserId::new(),
            workspace_id: ws,
            email: new.email.to_string(),
            name: name.into(),
            role: new.role,
            created_at: Timestamp::now(),
        };
        let hash = hash_password(&new.password)?;
        let mut sql = self.sql("INSERT INTO users (id, workspace_id, email, name, password_hash, role, created_at) VALUES (");
        sql.bind(user.id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(user.email.clone()).push(", ");
        sql.bind(user.name.clone())
            .push(", ")
            .bind(hash)
            .push(", ")
            .bind(user.role.as_str())
            .push(", ")
            .bind(user.created_at.millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))
            .map_err(StoreError::on_conflict("email_taken", format!("a user with e-mail {} already exists", user.email)))?;
        Ok(user)
    }

    pub async fn list_users(&self, ws: WorkspaceId) -> Result<Vec<User>> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM users WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" ORDER BY created_at");
        run!(sql, as Row, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn get_user(&self, ws: WorkspaceId, id: UserId) -> Result<User> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM users WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("user"))?.try_into()
    }

    pub async fn set_user_role(&self, ws: WorkspaceId, id: UserId, role: Role) -> Result<User> {
        let mut sql = self.sql("UPDATE users SET role = ");
        sql.bind(role.as_str()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        self.get_user(ws, id).await
    }

    pub async fn delete_user(&self, ws: WorkspaceId, id: UserId) -> Result<()> {
        self.delete_scoped("users", ws, &id.to_string(), "user").await
    }

    /// Checks e-mail and password and opens a session. The same error answers an unknown e-mail and
    /// a wrong password, so that logins cannot probe which accounts exist. When the e-mail has
    /// accounts in several workspaces, `workspace` picks one.
    pub async fn login(&self, workspace: Option<WorkspaceId>, email: &str, password: &str, ttl_hours: i64) -> Result<(String, User)> {
        let refused = || StoreError::Refused { code: "invalid_credentials", message: "e-mail or password is wrong".into() };
        let email: Email = email.parse().map_err(|_| refused())?;
        let mut sql = self.sql(&format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = "));
        sql.bind(email.to_string());
        if let Some(ws) = workspace {
            sql.push(" AND workspace_id = ").bind(ws.to_string());
        }
        let rows = run!(sql, fetch_all(&self.pool))?;
        if rows.len() > 1 {
            return Err(StoreError::invalid(
                "workspace_id",
                "workspace_required",
                "this e-mail belongs to several workspaces: give workspace_id",
            ));
        }
        let row = rows.into_iter().next().ok_or_else(refused)?;
        use sqlx::Row as _;
        let hash: String = row.try_get("password_hash")?;
        if !verify_password(password, &hash) {
            return Err(refused());
        }
        let user: User = Row {
            id: row.try_get("id")?,
            workspace_id: row.try_get("workspace_id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            created_at: row.try_get("created_at")?,
        }
        .try_into()?;
        let token = Secret::generate("tdm_s_");
        let now = Timestamp::now();
        let mut sql = self.sql("INSERT INTO sessions (token_hash, user_id, workspace_id, created_at, expires_at) VALUES (");
        sql.bind(token.digest).push(", ").bind(user.id.to_string()).push(", ").bind(user.workspace_id.to_string()).push(", ");
        sql.bind(now.millis()).push(", ").bind(now.plus_millis(ttl_hours * 3_600_000).millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok((token.plain, user))
    }

    /// The actor behind a session token, if the session exists and has not expired.
    pub async fn session_actor(&self, token: &str) -> Result<Option<Actor>> {
        let mut sql =
            self.sql("SELECT u.id, u.workspace_id, u.role FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ");
        sql.bind(digest(token)).push(" AND s.expires_at > ").bind(Timestamp::now().millis());
        let row: Option<(String, String, String)> = run!(sql, as (String, String, String), fetch_optional(&self.pool))?;
        row.map(|(id, ws, role)| {
            Ok(Actor {
                workspace_id: ws.parse().map_err(corrupt("workspace id"))?,
                role: role.parse().map_err(corrupt("role"))?,
                kind: ActorKind::User(id.parse().map_err(corrupt("user id"))?),
            })
        })
        .transpose()
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        let mut sql = self.sql("DELETE FROM sessions WHERE token_hash = ");
        sql.bind(digest(token));
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }
}
