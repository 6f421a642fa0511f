//! Workspace roles (PRODUCT.md §8): Admin manages everything, Team Admin manages teams and their
//! members' work, Staff works conversations and contacts.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Staff,
    TeamAdmin,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::TeamAdmin => "team_admin",
            Role::Staff => "staff",
        }
    }

    /// True when this role is at least `required` (Admin > Team Admin > Staff).
    pub fn at_least(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace([' ', '-'], "_").as_str() {
            "admin" => Ok(Role::Admin),
            "team_admin" => Ok(Role::TeamAdmin),
            "staff" => Ok(Role::Staff),
            other => {
                Err(ValidationError::new("role", "invalid_role", format!("unknown role `{other}`; expected admin, team_admin or staff")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_parse() {
        assert!(Role::Admin.at_least(Role::TeamAdmin));
        assert!(!Role::Staff.at_least(Role::TeamAdmin));
        assert_eq!("Team Admin".parse::<Role>().unwrap(), Role::TeamAdmin);
        assert_eq!("invalid_role", "owner".parse::<Role>().unwrap_err().code);
    }
}
