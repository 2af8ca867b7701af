//! Cleanup: what happens to a user deleted in the IdP, in no required group, or dropped.
//!
//! Rules:
//!
//! - the reason is, in this order: deleted in the IdP; `drop` true; required groups set and
//!   none of them among the user's imported IdP groups;
//! - the action is the one `[cleanup]` gives for that reason: `disable` (inactive), `delete`
//!   (removed with its memberships), `anonymize` (inactive, pseudonymised, link kept) or `keep`
//!   (left as it is); the user records the reason and action ([`CleanupState`]) so that it can
//!   come back, except after `delete`;
//! - while a reason holds the user is frozen: its data is not refreshed from the IdP and its
//!   memberships are not synced, only the action is (re)applied. With `remove_memberships`,
//!   every membership is removed, whatever its origin;
//! - a user who would be cleaned up when it first arrives is not created (outcome `filtered`);
//! - when the reason goes away the user is rebuilt from the IdP data (see the engine), which
//!   re-enables and de-anonymizes it.
//!
//! The pseudonym is `anon-` and 16 hex digits of the SHA-256 of the SCIM id: stable (applying
//! it twice changes nothing), unique in practice (64 bits), and telling nothing about the
//! person. The email becomes `{pseudonym}@anonymized.invalid` (RFC 2606 reserves `.invalid`),
//! for apps that require one.

use sha2::{Digest, Sha256};

use super::groups::{MembershipChange, remove_all};
use super::{Outcome, UserChange, UserEvent, UserResult, UserState};
use crate::directory::{CleanupAction, CleanupReason, CleanupState, DirectoryUser, UserData};
use crate::settings::CompiledSettings;

/// The stable pseudonym of the user linked to `scim_id`.
#[must_use]
pub fn pseudonym(scim_id: &str) -> String {
    let digest = Sha256::digest(scim_id.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("anon-{hex}")
}

/// `data` with its personal fields replaced by the pseudonym.
pub(crate) fn anonymized(data: &UserData, scim_id: &str) -> UserData {
    let name = pseudonym(scim_id);
    UserData {
        email: Some(format!("{name}@anonymized.invalid")),
        display_name: name.clone(),
        username: name,
        first_name: None,
        last_name: None,
        attributes: std::collections::BTreeMap::new(),
        active: false,
        anonymized: true,
        ..data.clone()
    }
}

/// Applies the cleanup for `reason` to an existing directory user.
pub(crate) fn clean_up(
    settings: &CompiledSettings,
    scim_id: &str,
    user: &DirectoryUser,
    reason: CleanupReason,
    state: &UserState<'_>,
    result: &mut UserResult,
) {
    let rules = settings.cleanup();
    let action = rules.action(reason);
    let before = &user.data;
    if action == CleanupAction::Delete {
        result.outcome = Outcome::Deleted;
        result.user = Some(UserChange::Delete {
            user_id: user.id.clone(),
            before: before.clone(),
        });
        return;
    }
    let cleanup = CleanupState { reason, action };
    let mut after = match action {
        CleanupAction::Disable => UserData {
            active: false,
            ..before.clone()
        },
        CleanupAction::Anonymize => anonymized(before, before.idp_id.as_deref().unwrap_or(scim_id)),
        CleanupAction::Keep | CleanupAction::Delete => before.clone(),
    };
    after.cleanup = Some(cleanup);

    let memberships: Vec<MembershipChange> = if rules.remove_memberships {
        remove_all(state.memberships)
    } else {
        Vec::new()
    };

    let mut events = Vec::new();
    if before.cleanup != Some(cleanup) {
        events.push(UserEvent::CleanedUp(cleanup));
    }
    if !before.anonymized && after.anonymized {
        events.push(UserEvent::Anonymized);
    }
    if before.active && !after.active {
        events.push(UserEvent::Disabled);
    }
    let changed = *before != after;
    result.outcome = if before.active && !after.active {
        Outcome::Disabled
    } else if changed || !memberships.is_empty() {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    };
    if changed {
        result.user = Some(UserChange::Update {
            user_id: user.id.clone(),
            before: before.clone(),
            after,
            events,
        });
    }
    result.memberships = memberships;
}
