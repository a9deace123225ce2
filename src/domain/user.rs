//! Users and roles (SPEC §6). Password hashing lives at the web boundary; here are the rules of
//! who may do what.

use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Watches lines; acknowledges downtime reasons.
    Supervisor,
    /// Traces, places and releases holds.
    Quality,
    /// Reads figures and the ledger; changes nothing.
    Auditor,
    /// Everything, including users and configuration.
    Admin,
}

impl Role {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Supervisor => "supervisor",
            Role::Quality => "quality",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Inverse of [`Role::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Supervisor, Self::Quality, Self::Auditor, Self::Admin].into_iter().find(|r| r.as_str() == value)
    }

    /// Whether the role may place or release holds.
    pub fn may_hold(self) -> bool {
        matches!(self, Role::Quality | Role::Admin)
    }

    /// Whether the role may read the audit ledger (entries, proofs, verification, bundles):
    /// auditors, and admins who answer for the plant's key.
    pub fn may_audit(self) -> bool {
        matches!(self, Role::Auditor | Role::Admin)
    }
}

/// A user account (without its password hash, which never leaves the store and web layers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_quality_and_admin_hold() {
        let may: Vec<_> = [Role::Supervisor, Role::Quality, Role::Auditor, Role::Admin]
            .into_iter()
            .filter(|r| r.may_hold())
            .collect();
        assert_eq!(may, vec![Role::Quality, Role::Admin]);
        assert_eq!(Role::parse("auditor"), Some(Role::Auditor));
    }
}
