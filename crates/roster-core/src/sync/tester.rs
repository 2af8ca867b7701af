//! The mapping tester: what syncing one SCIM user would make of it, with the stored settings or
//! proposed ones, written nowhere.
//!
//! [`evaluate`] is pure: it runs [`sync_user`](super::sync_user) and folds the change set into
//! the directory user and memberships the user would end up with. [`mapping_test`] gathers
//! what the engine needs through the store's read methods, exactly as the SCIM write path does
//! for one user (see the module docs of [`crate::sync`], "Integration"), then evaluates.
//!
//! The subject is either a user of the connector's IdP view ([`TestSubject::Provisioned`]:
//! its stored body and its IdP groups) or a SCIM user an admin pasted
//! ([`TestSubject::Pasted`]): its body is normalised as a SCIM `POST` would be, and its groups
//! are those its `groups` attribute names — a group of the IdP view when an entry's `value` is
//! one's id, else a group of that `display` name — and none without the attribute. A pasted
//! user with the `id` of a provisioned one is tested as that user with new data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    CopySource, GroupIndex, IdpGroup, MembershipChange, UserChange, UserInput, UserResult,
    UserState, sync_user,
};
use crate::directory::{DirectoryGroup, DirectoryUser, Membership, UserData, fold_name};
use crate::settings::CompiledSettings;
use crate::store::{GroupQuery, Load, ResourceKind, Store, StoreError, UserMembership};

/// The SCIM id a pasted user without one is tested under: no directory user is linked to it.
pub const PASTED_ID: &str = "(pasted)";

/// Who the tester runs on.
#[derive(Debug, Clone, PartialEq)]
pub enum TestSubject {
    /// A user of the connector's IdP view, by SCIM id.
    Provisioned(String),
    /// A SCIM user as JSON (see the module docs).
    Pasted(Value),
}

/// What syncing the user would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingTest {
    /// The SCIM id the user was tested under.
    pub scim_id: String,
    /// The directory username it would have (else the mapped one, else the IdP's
    /// `userName`).
    pub username: Option<String>,
    /// The directory user it would be; `None` when it would not be in the directory (filtered,
    /// failed as a new user, deleted).
    pub user: Option<UserData>,
    /// The memberships it would have, by group name.
    pub memberships: Vec<Membership>,
    /// The engine's result: outcome, change set and warnings.
    pub result: UserResult,
    /// The user's IdP groups and what the settings make of them.
    pub groups: Vec<IdpGroup>,
}

/// Runs the engine for one user and folds its change set into the user and memberships it
/// would end up with. Pure.
#[must_use]
pub fn evaluate(
    settings: &CompiledSettings,
    input: &UserInput,
    state: &UserState<'_>,
    groups: Vec<IdpGroup>,
) -> MappingTest {
    let result = sync_user(settings, input, state);
    // The user the engine acts on when it changes nothing: the linked one. (Adopting a
    // username holder is always an update, so it never gets here.)
    let (user, base): (Option<UserData>, &[Membership]) = match &result.user {
        Some(UserChange::Create { data, .. }) => (Some(data.clone()), &[]),
        Some(UserChange::Update { after, .. }) => (Some(after.clone()), state.memberships),
        Some(UserChange::Delete { .. }) => (None, &[]),
        None => (
            state.linked.map(|u| u.data.clone()),
            if state.linked.is_some() {
                state.memberships
            } else {
                &[]
            },
        ),
    };
    let memberships = if user.is_some() {
        fold_memberships(base, &result.memberships)
    } else {
        Vec::new()
    };
    let username = user
        .as_ref()
        .map(|u| u.username.clone())
        .or_else(|| input.username().map(str::to_owned));
    MappingTest {
        scim_id: input.scim_id.clone(),
        username,
        user,
        memberships,
        result,
        groups,
    }
}

/// `existing` memberships after `changes`, by folded group name.
fn fold_memberships(existing: &[Membership], changes: &[MembershipChange]) -> Vec<Membership> {
    let mut by_name: BTreeMap<String, Membership> = existing
        .iter()
        .map(|m| (fold_name(&m.group), m.clone()))
        .collect();
    for change in changes {
        match change {
            MembershipChange::Add {
                group,
                idp_group,
                origin,
            } => {
                by_name.insert(
                    fold_name(group),
                    Membership {
                        group: group.clone(),
                        idp_group: idp_group.clone(),
                        origin: *origin,
                    },
                );
            }
            MembershipChange::Remove { group, .. } => {
                by_name.remove(&fold_name(group));
            }
            MembershipChange::SetOrigin { group, to, .. } => {
                if let Some(m) = by_name.get_mut(&fold_name(group)) {
                    m.origin = *to;
                }
            }
        }
    }
    by_name.into_values().collect()
}

/// Groups read per page when the tester indexes the connector's directory.
const GROUP_PAGE: u32 = 1_000;

/// Tests `subject` against connector `connector_id`'s directory with `settings` (see the
/// module docs). Reads only.
///
/// # Errors
///
/// [`StoreError::NotFound`] if a provisioned user does not exist in the connector's IdP view;
/// [`StoreError::Scim`] if a pasted user is not a valid SCIM user; the store's errors.
pub async fn mapping_test(
    store: &dyn Store,
    connector_id: &str,
    settings: &CompiledSettings,
    subject: TestSubject,
) -> Result<MappingTest, StoreError> {
    let (scim_id, body, groups) = match subject {
        TestSubject::Provisioned(id) => provisioned(store, connector_id, settings, &id).await?,
        TestSubject::Pasted(value) => pasted(store, connector_id, settings, value).await?,
    };
    let input = UserInput::present(settings, &scim_id, &body, groups.clone());
    let dir = store.directory();

    let linked = dir.linked_user(connector_id, &scim_id).await?;
    let mapped = input.username().map(str::to_owned);
    let named = match &mapped {
        Some(name) => dir.user(name).await?.map(|d| d.users).unwrap_or_default(),
        None => Vec::new(),
    };
    let holder = named
        .iter()
        .find(|u| u.user.directory == connector_id)
        .filter(|u| linked.as_ref().is_none_or(|l| l.id != u.user.id));
    let memberships: Vec<Membership> = match &linked {
        Some(l) => dir
            .user(&l.data.username)
            .await?
            .and_then(|d| d.users.into_iter().find(|u| u.user.id == l.id))
            .map(|u| to_memberships(&u.memberships))
            .unwrap_or_default(),
        None => holder
            .map(|h| to_memberships(&h.memberships))
            .unwrap_or_default(),
    };
    let copy = match (&linked, settings.copy_from()) {
        (None, Some(from)) => named
            .iter()
            .find(|u| u.user.directory == from)
            .map(|u| (u.user.clone(), to_memberships(&u.memberships))),
        _ => None,
    };
    let index = GroupIndex::new(&directory_groups(store, connector_id).await?);

    let holder_user: Option<&DirectoryUser> = holder.map(|h| &h.user);
    let state = UserState {
        linked: linked.as_ref(),
        username_holder: holder_user,
        memberships: &memberships,
        groups: &index,
        copy_source: copy
            .as_ref()
            .map(|(user, memberships)| CopySource { user, memberships }),
    };
    let mut test = evaluate(settings, &input, &state, groups);
    if test.username.is_none() {
        test.username = body
            .get("userName")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    Ok(test)
}

type Gathered = (String, Map<String, Value>, Vec<IdpGroup>);

async fn provisioned(
    store: &dyn Store,
    connector_id: &str,
    settings: &CompiledSettings,
    id: &str,
) -> Result<Gathered, StoreError> {
    let load = Load {
        members: false,
        groups: true,
    };
    let user = store
        .get_resource(connector_id, ResourceKind::User, id, load)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut groups = Vec::new();
    for g in user.groups.unwrap_or_default() {
        if let Some(group) = idp_group(store, connector_id, settings, &g.id).await? {
            groups.push(group);
        }
    }
    Ok((user.id, user.body, groups))
}

async fn pasted(
    store: &dyn Store,
    connector_id: &str,
    settings: &CompiledSettings,
    value: Value,
) -> Result<Gathered, StoreError> {
    let scim_id = value
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .unwrap_or(PASTED_ID)
        .to_owned();
    let entries = value
        .get("groups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // As a SCIM POST would store it (this also drops `id`, `meta` and `groups`).
    let body = scim::dialect::normalize_resource(value, ResourceKind::User.schema())?;
    let mut groups = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let (id, display) = match entry {
            Value::String(name) => (None, Some(name.as_str())),
            other => (
                other.get("value").and_then(Value::as_str),
                other.get("display").and_then(Value::as_str),
            ),
        };
        if let Some(id) = id
            && let Some(group) = idp_group(store, connector_id, settings, id).await?
        {
            groups.push(group);
            continue;
        }
        // Not a group of the IdP view: a group of that name, as the IdP would create it.
        let Some(name) = display.or(id) else {
            continue;
        };
        let scim_id = id.map_or_else(|| format!("(pasted group {})", i + 1), str::to_owned);
        let mut body = Map::new();
        body.insert("displayName".into(), Value::String(name.to_owned()));
        groups.push(settings.map_group(&scim_id, &body));
    }
    Ok((scim_id, body, groups))
}

/// A group of the IdP view through the settings, if it exists.
async fn idp_group(
    store: &dyn Store,
    connector_id: &str,
    settings: &CompiledSettings,
    id: &str,
) -> Result<Option<IdpGroup>, StoreError> {
    Ok(store
        .get_resource(connector_id, ResourceKind::Group, id, Load::default())
        .await?
        .map(|g| settings.map_group(&g.id, &g.body)))
}

/// Every group of the connector's directory: the engine's view of it.
async fn directory_groups(
    store: &dyn Store,
    connector_id: &str,
) -> Result<Vec<DirectoryGroup>, StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .directory()
            .groups(&GroupQuery {
                directory: Some(connector_id.to_owned()),
                after,
                limit: GROUP_PAGE,
                ..GroupQuery::default()
            })
            .await?;
        out.extend(page.groups.into_iter().map(|g| g.group));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

fn to_memberships(memberships: &[UserMembership]) -> Vec<Membership> {
    memberships
        .iter()
        .map(|m| Membership {
            group: m.group.clone(),
            idp_group: m.idp_group.clone(),
            origin: m.origin,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::MembershipOrigin;
    use crate::settings::Settings;
    use crate::sync::{GroupMapping, Outcome};
    use serde_json::json;

    fn compiled(settings: Settings) -> CompiledSettings {
        settings.compile().expect("valid settings")
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().expect("an object").clone()
    }

    fn directory_user(id: &str, username: &str, idp_id: Option<&str>) -> DirectoryUser {
        DirectoryUser {
            id: id.to_owned(),
            directory: "entra".to_owned(),
            data: UserData {
                username: username.to_owned(),
                display_name: username.to_owned(),
                email: None,
                first_name: None,
                last_name: None,
                active: true,
                attributes: BTreeMap::new(),
                last_login: None,
                idp_id: idp_id.map(str::to_owned),
                cleanup: None,
                anonymized: false,
            },
        }
    }

    fn membership(group: &str, idp_group: Option<&str>, origin: MembershipOrigin) -> Membership {
        Membership {
            group: group.to_owned(),
            idp_group: idp_group.map(str::to_owned),
            origin,
        }
    }

    /// The state of a user the directory does not know yet.
    fn unknown_user(groups: &GroupIndex) -> UserState<'_> {
        UserState {
            linked: None,
            username_holder: None,
            memberships: &[],
            groups,
            copy_source: None,
        }
    }

    #[test]
    fn a_new_user_shows_what_it_would_be_created_as() {
        let mut s = Settings::default();
        s.mapping.username = "user.userName.lowerAscii()".into();
        s.groups.always_assign = vec!["jira-users".into()];
        let settings = compiled(s);
        let groups = vec![settings.map_group("g1", &body(json!({"displayName": "Sales"})))];
        let input = UserInput::present(
            &settings,
            "u1",
            &body(json!({"userName": "Adele@Contoso.com", "displayName": "Adele V"})),
            groups.clone(),
        );
        let index = GroupIndex::default();
        let state = unknown_user(&index);
        let test = evaluate(&settings, &input, &state, groups);
        assert_eq!(test.result.outcome, Outcome::Created);
        assert_eq!(test.username.as_deref(), Some("adele@contoso.com"));
        let user = test.user.expect("a user");
        assert_eq!(user.display_name, "Adele V");
        assert_eq!(user.idp_id.as_deref(), Some("u1"));
        assert_eq!(
            test.memberships,
            [
                membership("jira-users", None, MembershipOrigin::Rule),
                membership("Sales", Some("g1"), MembershipOrigin::Idp),
            ]
        );
    }

    #[test]
    fn an_existing_user_keeps_protected_memberships_and_loses_the_others() {
        let mut s = Settings::default();
        s.groups.never_remove = vec!["local-.*".into()];
        let settings = compiled(s);
        let linked = directory_user("7", "adele", Some("u1"));
        let existing = [
            membership("local-admins", None, MembershipOrigin::Local),
            membership("old", Some("g0"), MembershipOrigin::Idp),
        ];
        let index = GroupIndex::new(&[
            DirectoryGroup {
                id: "1".into(),
                directory: "entra".into(),
                name: "local-admins".into(),
                description: None,
                idp_id: None,
            },
            DirectoryGroup {
                id: "2".into(),
                directory: "entra".into(),
                name: "old".into(),
                description: None,
                idp_id: Some("g0".into()),
            },
        ]);
        let input = UserInput::present(
            &settings,
            "u1",
            &body(json!({"userName": "adele"})),
            Vec::new(),
        );
        let state = UserState {
            linked: Some(&linked),
            username_holder: None,
            memberships: &existing,
            groups: &index,
            copy_source: None,
        };
        let test = evaluate(&settings, &input, &state, Vec::new());
        assert_eq!(test.result.outcome, Outcome::Updated);
        assert_eq!(test.user.map(|u| u.username).as_deref(), Some("adele"));
        assert_eq!(
            test.memberships,
            [membership("local-admins", None, MembershipOrigin::Local)]
        );
    }

    #[test]
    fn a_filtered_or_failed_new_user_is_not_in_the_directory() {
        let mut s = Settings::default();
        s.mapping.drop = "user.userName.endsWith('#EXT#')".into();
        let settings = compiled(s);
        let index = GroupIndex::default();
        let state = unknown_user(&index);
        let input = UserInput::present(
            &settings,
            "u1",
            &body(json!({"userName": "guest#EXT#"})),
            Vec::new(),
        );
        let test = evaluate(&settings, &input, &state, Vec::new());
        assert_eq!(test.result.outcome, Outcome::Filtered);
        assert!(test.user.is_none() && test.memberships.is_empty());
        assert_eq!(test.username.as_deref(), Some("guest#EXT#"));

        // No userName: the mapping fails, naming the field.
        let input = UserInput::present(&settings, "u2", &Map::new(), Vec::new());
        let test = evaluate(&settings, &input, &state, Vec::new());
        match &test.result.outcome {
            Outcome::Failed { reason } => assert!(reason.contains("mapping.username"), "{reason}"),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(test.user.is_none() && test.username.is_none());
    }

    #[test]
    fn a_filtered_idp_group_brings_no_membership() {
        let mut s = Settings::default();
        s.groups.never_assign = vec!["secret-.*".into()];
        let settings = compiled(s);
        let groups = vec![
            settings.map_group("g1", &body(json!({"displayName": "secret-ops"}))),
            settings.map_group("g2", &body(json!({"displayName": "ops"}))),
        ];
        assert!(matches!(groups[0].mapping, GroupMapping::Filtered { .. }));
        let index = GroupIndex::default();
        let state = unknown_user(&index);
        let input = UserInput::present(
            &settings,
            "u1",
            &body(json!({"userName": "adele"})),
            groups.clone(),
        );
        let test = evaluate(&settings, &input, &state, groups);
        let names: Vec<&str> = test.memberships.iter().map(|m| m.group.as_str()).collect();
        assert_eq!(names, ["ops"]);
        assert_eq!(test.groups.len(), 2);
    }
}
