//! Administrators' roles and what each may do. One table, read by the server
//! (every server function and admin route asks it) and by the browser (the
//! admin pages show only what the role allows).

use serde::{Deserialize, Serialize};
use std::fmt;

/// What an administrator is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including people, receiving accounts and the audit log.
    Owner,
    /// Orders, refunds, statistics, reconciliation and their exports.
    Finance,
    /// Forms and their submissions (with the payers' personal data).
    Editor,
    /// Reads forms, submissions (masked), orders and statistics; changes nothing.
    Viewer,
}

/// One thing an administrator may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ViewOrders,
    /// Refund, close, accept a payment under review, ask the provider.
    ManageOrders,
    ViewStats,
    /// The orders' and refunds' CSV exports.
    ExportOrders,
    ViewForms,
    /// Create, edit, publish and close forms.
    EditForms,
    ViewSubmissions,
    /// The payers' personal data in full: reveal a masked number, export
    /// submissions, export everything about one payer, erase on request.
    PersonalData,
    /// Receiving accounts (merchant keys) and which form uses which.
    ManageAccounts,
    /// The audit log and the security events.
    ViewAudit,
    /// Invite, disable and change the role of administrators.
    ManagePeople,
}

impl Permission {
    pub const ALL: [Permission; 11] = [
        Permission::ViewOrders,
        Permission::ManageOrders,
        Permission::ViewStats,
        Permission::ExportOrders,
        Permission::ViewForms,
        Permission::EditForms,
        Permission::ViewSubmissions,
        Permission::PersonalData,
        Permission::ManageAccounts,
        Permission::ViewAudit,
        Permission::ManagePeople,
    ];
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Finance, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Finance => "finance",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may do `p`: the one table of who may do what.
    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Finance => matches!(p, ViewOrders | ManageOrders | ViewStats | ExportOrders),
            Role::Editor => matches!(p, ViewForms | EditForms | ViewSubmissions | PersonalData),
            Role::Viewer => matches!(p, ViewOrders | ViewStats | ViewForms | ViewSubmissions),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_only_the_owner_manages_people_and_keys() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(
                r.can(Permission::ManagePeople) || r.can(Permission::ManageAccounts),
                r == Role::Owner
            );
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Permission::ALL.iter().all(|p| Role::Owner.can(*p)));
    }

    #[test]
    fn a_viewer_changes_nothing() {
        use Permission::*;
        for p in [
            ManageOrders,
            ExportOrders,
            EditForms,
            PersonalData,
            ManageAccounts,
            ManagePeople,
        ] {
            assert!(!Role::Viewer.can(p), "{p:?}");
        }
    }
}
