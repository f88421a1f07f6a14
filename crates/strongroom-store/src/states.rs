//! The statuses and roles the database stores as text, typed: a project's status, a role on a
//! project, an invitation's status, a held role change's kind and status. Each is written and
//! read as exactly today's text (`as_str`, `Display`, serde), so the database, the JSON
//! documents and the templates see the same words; a stored text no version of strongroom
//! writes is refused when its row is read ([`UnknownValue`], a [`crate::StoreError`]), never
//! guessed at.

use serde::{Deserialize, Serialize};

/// A stored text that names no value of its column's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column} holds '{value}', which this version does not know")]
pub struct UnknownValue {
    /// `table.column`.
    pub column: &'static str,
    /// The text found.
    pub value: String,
}

impl From<UnknownValue> for sqlx::Error {
    fn from(e: UnknownValue) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}

/// An enum stored as one of a fixed set of texts.
macro_rules! stored_text {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, for tests that walk them all.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The text stored (and shown in JSON and templates).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value stored as `s`; `None` for text no version of strongroom writes.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The value a row of `column` holds, or [`UnknownValue`].
            pub(crate) fn decode(column: &'static str, s: &str) -> Result<$name, UnknownValue> {
                $name::parse(s).ok_or_else(|| UnknownValue { column, value: s.to_owned() })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_text! {
    /// The status of a project row (`projects.status`).
    pub enum ProjectStatus {
        /// The default: uploads accepted, files served.
        Active => "active",
        /// PEP 792: no new uploads, files still served.
        Archived => "archived",
        /// PEP 792: like active, with a marker installers may warn about.
        Deprecated => "deprecated",
        /// Hidden by the index administrators while they investigate.
        Quarantined => "quarantined",
        /// Soft-removed (by an Owner or an administrator); names and filenames stay burned.
        Removed => "removed",
    }
}

stored_text! {
    /// A role on a project (`roles.role`, `role_invitations.role`, `role_changes.new_role`).
    pub enum ProjectRole {
        /// Manages the project: roles, yanks, removals; may upload.
        Owner => "Owner",
        /// May upload; may not manage roles, yank or delete.
        Maintainer => "Maintainer",
    }
}

stored_text! {
    /// Where an invitation to a role stands (`role_invitations.status`).
    pub enum InvitationStatus {
        /// Sent, not yet answered.
        Pending => "pending",
        /// The invitee took the role.
        Accepted => "accepted",
        /// The invitee said no.
        Declined => "declined",
        /// An Owner withdrew it.
        Revoked => "revoked",
        /// Not answered in time.
        Expired => "expired",
        /// Its inviter lost the standing to give it (removed, frozen, deleted).
        Voided => "voided",
    }
}

stored_text! {
    /// What a role change held for the cooling-off period does (`role_changes.kind`).
    pub enum RoleChangeKind {
        /// Takes the member off the project.
        Remove => "remove",
        /// Gives an Owner a lesser role (`new_role`).
        Demote => "demote",
    }
}

stored_text! {
    /// Where a held role change stands (`role_changes.status`).
    pub enum RoleChangeStatus {
        /// Waiting for its cooling-off period to end.
        Pending => "pending",
        /// Carried out when its period ended.
        Applied => "applied",
        /// Refused by its target or another Owner.
        Vetoed => "vetoed",
        /// Carried out early with the target's consent or an administrator's.
        Approved => "approved",
        /// Withdrawn, or made moot (the project or an account changed under it).
        Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T, const N: usize>(
        all: [T; N],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) where
        T: Copy + PartialEq + std::fmt::Debug + Serialize + std::fmt::Display,
    {
        for v in all {
            assert_eq!(parse(as_str(v)), Some(v));
            assert_eq!(v.to_string(), as_str(v));
            assert_eq!(
                serde_json::to_value(v).expect("json"),
                serde_json::json!(as_str(v))
            );
        }
    }

    #[test]
    fn every_value_keeps_its_stored_text() {
        round_trips(
            ProjectStatus::ALL,
            ProjectStatus::as_str,
            ProjectStatus::parse,
        );
        round_trips(ProjectRole::ALL, ProjectRole::as_str, ProjectRole::parse);
        round_trips(
            InvitationStatus::ALL,
            InvitationStatus::as_str,
            InvitationStatus::parse,
        );
        round_trips(
            RoleChangeKind::ALL,
            RoleChangeKind::as_str,
            RoleChangeKind::parse,
        );
        round_trips(
            RoleChangeStatus::ALL,
            RoleChangeStatus::as_str,
            RoleChangeStatus::parse,
        );
        // Today's spellings, which the database, the JSON documents and the templates hold.
        assert_eq!(ProjectRole::Owner.as_str(), "Owner");
        assert_eq!(ProjectStatus::Quarantined.as_str(), "quarantined");
        assert_eq!(
            serde_json::from_str::<ProjectRole>("\"Maintainer\"").expect("json"),
            ProjectRole::Maintainer
        );
    }

    #[test]
    fn unknown_text_is_refused_by_name() {
        assert_eq!(ProjectStatus::parse("Active"), None);
        assert_eq!(ProjectStatus::parse(""), None);
        assert_eq!(ProjectRole::parse("owner"), None);
        let e = ProjectRole::decode("roles.role", "Admin").expect_err("unknown");
        assert_eq!(e.column, "roles.role");
        assert_eq!(e.value, "Admin");
        assert!(serde_json::from_str::<ProjectRole>("\"owner\"").is_err());
    }
}
