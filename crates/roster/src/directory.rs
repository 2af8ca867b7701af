//! `roster users|groups|directories|audit`: the application's directory, as admins see it.

use std::io::Write;

use anyhow::bail;
use roster_core::directory::DirectoryKind;
use roster_core::store::{
    Actor, AuditQuery, GroupQuery, NewGroup, NewUser, StoreError, UserQuery, WriteContext,
};
use roster_core::{Clock, Store, SystemClock};

use crate::cli::{AuditArgs, DirectoriesCommand, GroupsCommand, UsersCommand};

fn ctx() -> WriteContext {
    WriteContext::new(SystemClock.now(), Actor::Cli)
}

/// Turns the store's refusals into messages that say what to do.
fn explain(e: StoreError, what: &str) -> anyhow::Error {
    match e {
        StoreError::NotFound => anyhow::anyhow!("{what} not found"),
        StoreError::Conflict(m) | StoreError::Invalid(m) => anyhow::anyhow!(m),
        other => anyhow::Error::new(other),
    }
}

/// `roster users …`.
pub(crate) async fn users(
    command: UsersCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let dir = store.directory();
    match command {
        UsersCommand::List {
            directory,
            limit,
            json,
        } => {
            let page = dir
                .users(&UserQuery {
                    directory,
                    limit,
                    ..UserQuery::default()
                })
                .await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&page)?)?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<36} {:<14} {:<7} {:<9} {:<28} EMAIL",
                "USERNAME", "DIRECTORY", "ACTIVE", "EFFECTIVE", "DISPLAY NAME"
            )?;
            for u in &page.users {
                let d = &u.user.data;
                writeln!(
                    out,
                    "{:<36} {:<14} {:<7} {:<9} {:<28} {}",
                    d.username,
                    u.user.directory,
                    yes_no(d.active),
                    yes_no(u.effective),
                    d.display_name,
                    d.email.as_deref().unwrap_or("")
                )?;
            }
            if page.total as usize > page.users.len() {
                writeln!(
                    out,
                    "({} of {} users; use --limit)",
                    page.users.len(),
                    page.total
                )?;
            }
        }
        UsersCommand::Show { username, json } => {
            let Some(detail) = dir.user(&username).await? else {
                bail!("no directory holds a user named '{username}'");
            };
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&detail)?)?;
                return Ok(());
            }
            writeln!(
                out,
                "Effective user from directory '{}'.",
                detail.effective_directory
            )?;
            for u in &detail.users {
                let d = &u.user.data;
                writeln!(
                    out,
                    "\n[{}]{}",
                    u.user.directory,
                    if u.effective { " (effective)" } else { "" }
                )?;
                writeln!(out, "  username:     {}", d.username)?;
                writeln!(out, "  display name: {}", d.display_name)?;
                writeln!(out, "  email:        {}", d.email.as_deref().unwrap_or("-"))?;
                writeln!(
                    out,
                    "  name:         {} {}",
                    d.first_name.as_deref().unwrap_or(""),
                    d.last_name.as_deref().unwrap_or("")
                )?;
                writeln!(out, "  active:       {}", yes_no(d.active))?;
                if let Some(c) = &d.cleanup {
                    writeln!(out, "  cleanup:      {c:?}")?;
                }
                if let Some(idp) = &d.idp_id {
                    writeln!(out, "  IdP id:       {idp}")?;
                }
                for (k, v) in &d.attributes {
                    writeln!(out, "  {k}: {v}")?;
                }
                writeln!(out, "  memberships:")?;
                for m in &u.memberships {
                    writeln!(out, "    {:<32} {}", m.group, m.origin.as_str())?;
                }
            }
        }
        UsersCommand::Create {
            username,
            directory,
            display_name,
            email,
            first_name,
            last_name,
            inactive,
            json,
        } => {
            let new = NewUser {
                display_name,
                email,
                first_name,
                last_name,
                active: !inactive,
                ..NewUser::named(username)
            };
            let user = dir
                .create_user(&directory, &new, &ctx())
                .await
                .map_err(|e| explain(e, &format!("directory '{directory}'")))?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&user)?)?;
            } else {
                writeln!(
                    out,
                    "Created user '{}' in directory '{}'.",
                    user.data.username, user.directory
                )?;
            }
        }
    }
    Ok(())
}

/// `roster groups …`.
pub(crate) async fn groups(
    command: GroupsCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let dir = store.directory();
    match command {
        GroupsCommand::List {
            directory,
            limit,
            json,
        } => {
            let page = dir
                .groups(&GroupQuery {
                    directory,
                    limit,
                    ..GroupQuery::default()
                })
                .await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&page)?)?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<36} {:<14} {:<8} {:>8}",
                "NAME", "DIRECTORY", "MANAGED", "MEMBERS"
            )?;
            for g in &page.groups {
                writeln!(
                    out,
                    "{:<36} {:<14} {:<8} {:>8}",
                    g.group.name,
                    g.group.directory,
                    if g.group.managed_by_idp() {
                        "idp"
                    } else {
                        "local"
                    },
                    g.members
                )?;
            }
            if page.total as usize > page.groups.len() {
                writeln!(
                    out,
                    "({} of {} groups; use --limit)",
                    page.groups.len(),
                    page.total
                )?;
            }
        }
        GroupsCommand::Create {
            name,
            directory,
            description,
        } => {
            let group = dir
                .create_group(&directory, &NewGroup { name, description }, &ctx())
                .await
                .map_err(|e| explain(e, &format!("directory '{directory}'")))?;
            writeln!(
                out,
                "Created group '{}' in directory '{}'.",
                group.name, group.directory
            )?;
        }
        GroupsCommand::AddMember {
            group,
            username,
            directory,
        } => {
            let added = dir
                .add_member(&directory, &username, &group, &ctx())
                .await
                .map_err(|e| explain(e, &membership(&directory, &username, &group)))?;
            if added {
                writeln!(out, "Added '{username}' to '{group}'.")?;
            } else {
                writeln!(out, "'{username}' already is in '{group}'.")?;
            }
        }
        GroupsCommand::RemoveMember {
            group,
            username,
            directory,
        } => {
            let removed = dir
                .remove_member(&directory, &username, &group, &ctx())
                .await
                .map_err(|e| explain(e, &membership(&directory, &username, &group)))?;
            if removed {
                writeln!(out, "Removed '{username}' from '{group}'.")?;
            } else {
                writeln!(out, "'{username}' was not in '{group}'.")?;
            }
        }
    }
    Ok(())
}

/// `roster directories …`.
pub(crate) async fn directories(
    command: DirectoriesCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let dir = store.directory();
    let list = match command {
        DirectoriesCommand::List { json } => {
            let list = dir.directories().await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
                return Ok(());
            }
            list
        }
        DirectoriesCommand::Order { ids } => dir
            .reorder_directories(&ids, &ctx())
            .await
            .map_err(|e| explain(e, "directory"))?,
    };
    writeln!(out, "{:<4} {:<24} {:<12} NAME", "#", "ID", "KIND")?;
    for d in &list {
        let kind = match &d.kind {
            DirectoryKind::Internal => "internal",
            DirectoryKind::Connector { .. } => "connector",
        };
        writeln!(
            out,
            "{:<4} {:<24} {:<12} {}",
            d.position + 1,
            d.id,
            kind,
            d.name
        )?;
    }
    Ok(())
}

/// `roster audit`.
pub(crate) async fn audit(
    args: AuditArgs,
    store: &dyn Store,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let rows = store
        .directory()
        .audit(&AuditQuery {
            connector_id: args.connector,
            since: args.since,
            limit: args.limit,
            ..AuditQuery::default()
        })
        .await?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    for r in &rows {
        writeln!(
            out,
            "{:>6} {} {:<20} {:<18} {}{}",
            r.seq,
            roster_core::clock::rfc3339(r.at),
            r.actor,
            r.action.as_str(),
            r.subject.name.as_deref().unwrap_or(&r.subject.id),
            r.request_id
                .as_deref()
                .map(|id| format!("  [request {id}]"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// What a membership command names, for "not found" messages.
fn membership(directory: &str, username: &str, group: &str) -> String {
    format!("directory '{directory}', user '{username}' or group '{group}'")
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
