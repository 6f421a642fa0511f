//! Who is acting: a logged-in user or an API key, always inside one workspace, with a role.

use crate::{ApiKeyId, Role, UserId, WorkspaceId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub workspace_id: WorkspaceId,
    pub role: Role,
    pub kind: ActorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    User(UserId),
    ApiKey(ApiKeyId),
    /// The operator at the command line (`tandem` CLI) or the server's own workers.
    System,
}

impl Actor {
    pub fn system(workspace_id: WorkspaceId) -> Self {
        Self { workspace_id, role: Role::Admin, kind: ActorKind::System }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self.kind {
            ActorKind::User(id) => Some(id),
            _ => None,
        }
    }

    /// How the audit log names this actor: `user:ID`, `api_key:ID` or `system`.
    pub fn label(&self) -> String {
        match self.kind {
            ActorKind::User(id) => format!("user:{id}"),
            ActorKind::ApiKey(id) => format!("api_key:{id}"),
            ActorKind::System => "system".into(),
        }
    }
}
