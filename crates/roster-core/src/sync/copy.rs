//! Copy behaviour: a user's first arrival takes over what the same-named user of another
//! directory had.
//!
//! Rules:
//!
//! - only when `copy.from_directory` is set, the user is new in the connector's directory (no
//!   linked user, no user adopted by username), and the source is a user of that directory with
//!   the same username (case-insensitively);
//! - the source's custom attributes are copied, then the mapping's attributes are applied on
//!   top (a mapped value replaces a copied one; an attribute the mapping leaves empty is removed,
//!   as it would be at the next sync);
//! - its last login is copied;
//! - its memberships are copied with origin `copied` (see [`super::groups`]); afterwards they
//!   follow the membership rules like any other;
//! - the source user itself is not changed.

use std::collections::BTreeMap;

use super::CopySource;
use super::mapping::MappedUser;
use crate::directory::{Membership, fold_name};
use crate::settings::CompiledSettings;

/// What a new user takes from its copy source.
pub(crate) struct Copied<'a> {
    pub(crate) from_directory: &'a str,
    pub(crate) attributes: BTreeMap<String, String>,
    pub(crate) last_login: Option<time::OffsetDateTime>,
    pub(crate) memberships: &'a [Membership],
}

/// The copy for a new user, if copying applies.
pub(crate) fn copy_for<'a>(
    settings: &'a CompiledSettings,
    mapped: &MappedUser,
    source: Option<&CopySource<'a>>,
) -> Option<Copied<'a>> {
    let from = settings.copy_from()?;
    let source = source?;
    if source.user.directory != from
        || fold_name(&source.user.data.username) != fold_name(&mapped.username)
    {
        return None;
    }
    Some(Copied {
        from_directory: from,
        attributes: source.user.data.attributes.clone(),
        last_login: source.user.data.last_login,
        memberships: source.memberships,
    })
}

/// `base` with the mapped attributes applied: a value sets, an empty mapping removes.
pub(crate) fn apply_attributes(
    mut base: BTreeMap<String, String>,
    mapped: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, String> {
    for (name, value) in mapped {
        match value {
            Some(v) => {
                base.insert(name.clone(), v.clone());
            }
            None => {
                base.remove(name);
            }
        }
    }
    base
}
