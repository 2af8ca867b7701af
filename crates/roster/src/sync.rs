//! `roster connector settings|preview|apply|results`: steering a connector's sync.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use roster_core::settings::Settings;
use roster_core::store::{
    Actor, OutcomeQuery, ReportedUser, StoreError, SyncOptions, SyncReport, WriteContext,
};
use roster_core::sync::{MembershipChange, UserChange, UserEvent};
use roster_core::{Clock, Store, SystemClock};

use crate::cli::{ConnectorCommand, SettingsCommand};

/// Runs a sync-steering connector command.
pub(crate) async fn run(
    command: ConnectorCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let dir = store.directory();
    let ctx = || WriteContext::new(SystemClock.now(), Actor::Cli);
    match command {
        ConnectorCommand::Settings(SettingsCommand::Template) => {
            write!(out, "{}", Settings::TEMPLATE)?;
        }
        ConnectorCommand::Settings(SettingsCommand::Show { id, json }) => {
            let stored = dir.settings(&id).await.map_err(|e| not_found(e, &id))?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&stored)?)?;
            } else {
                let origin = match stored.updated_at {
                    Some(t) => format!(
                        "version {}, set {}",
                        stored.version,
                        roster_core::clock::rfc3339(t)
                    ),
                    None => "the defaults: never set".to_owned(),
                };
                writeln!(out, "# Settings of connector '{id}' ({origin})")?;
                write!(out, "{}", stored.settings.to_toml())?;
            }
        }
        ConnectorCommand::Settings(SettingsCommand::Set { id, file }) => {
            let settings = read_settings(file.as_deref())?;
            let stored = dir
                .set_settings(&id, &settings, None, &ctx())
                .await
                .map_err(|e| match e {
                    StoreError::InvalidSettings(errors) => {
                        let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
                        anyhow::anyhow!("the settings were not saved:\n{}", list.join("\n"))
                    }
                    other => not_found(other, &id),
                })?;
            writeln!(
                out,
                "Saved settings version {} of connector '{id}'. They apply to the IdP's next writes;\n\
                 `roster connector preview {id}` shows what re-syncing everyone now would change,\n\
                 `roster connector apply {id}` does it.",
                stored.version
            )?;
        }
        ConnectorCommand::Preview { id, file, json } => {
            let proposed = file
                .as_deref()
                .map(|f| read_settings(Some(f)))
                .transpose()?;
            let options = SyncOptions {
                proposed,
                ..SyncOptions::default()
            };
            let report = dir
                .preview(&id, &options)
                .await
                .map_err(|e| not_found(e, &id))?;
            print_report(&report, json, "would", out)?;
        }
        ConnectorCommand::Apply { id, json } => {
            let report = dir
                .apply(&id, &SyncOptions::default(), &ctx())
                .await
                .map_err(|e| not_found(e, &id))?;
            print_report(&report, json, "did", out)?;
        }
        ConnectorCommand::Results { id, outcome, json } => {
            let runs = dir
                .sync_runs(&id, None, 24)
                .await
                .map_err(|e| not_found(e, &id))?;
            let outcomes = dir
                .sync_outcomes(&OutcomeQuery {
                    connector_id: id.clone(),
                    outcome,
                    limit: 100,
                })
                .await?;
            if json {
                let v = serde_json::json!({"runs": runs, "outcomes": outcomes});
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "Runs (newest first):")?;
                writeln!(
                    out,
                    "  {:<8} {:<26} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7}",
                    "SOURCE",
                    "STARTED",
                    "CREATED",
                    "UPDATED",
                    "UNCHANGED",
                    "DISABLED",
                    "DELETED",
                    "FILTERED",
                    "FAILED"
                )?;
                for r in &runs {
                    let c = &r.counters;
                    writeln!(
                        out,
                        "  {:<8} {:<26} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7}",
                        r.source.as_str(),
                        roster_core::clock::rfc3339(r.started_at),
                        c.created,
                        c.updated,
                        c.unchanged,
                        c.disabled,
                        c.deleted,
                        c.filtered,
                        c.failed
                    )?;
                }
                writeln!(out, "\nLatest outcomes (newest first):")?;
                for o in &outcomes {
                    let reason = match &o.outcome {
                        roster_core::sync::Outcome::Failed { reason } => format!(": {reason}"),
                        _ => String::new(),
                    };
                    writeln!(
                        out,
                        "  {:<10} {:<40} {}{reason}",
                        o.outcome.as_str(),
                        o.name.as_deref().unwrap_or(&o.scim_id),
                        roster_core::clock::rfc3339(o.at)
                    )?;
                }
            }
        }
        other => bail!("not a sync command: {other:?}"),
    }
    Ok(())
}

/// Reads and parses a settings document from a file or standard input.
fn read_settings(file: Option<&Path>) -> anyhow::Result<Settings> {
    let (text, name) = match file {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("could not read standard input")?;
            (text, "standard input".to_owned())
        }
    };
    Settings::from_toml(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

fn not_found(e: StoreError, id: &str) -> anyhow::Error {
    match e {
        StoreError::NotFound => {
            anyhow::anyhow!("no connector '{id}' (see `roster connector list`)")
        }
        other => anyhow::Error::new(other),
    }
}

fn print_report(
    report: &SyncReport,
    json: bool,
    verb: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
        return Ok(());
    }
    let s = &report.summary;
    if verb == "would" {
        writeln!(
            out,
            "Preview of connector '{}' (nothing was written):",
            report.connector_id
        )?;
    } else {
        writeln!(out, "Applied to connector '{}':", report.connector_id)?;
    }
    writeln!(
        out,
        "  users:       {} created, {} updated, {} renamed, {} disabled, {} re-enabled, {} deleted, {} anonymized, {} filtered, {} failed, {} unchanged",
        s.created,
        s.updated,
        s.renamed,
        s.disabled,
        s.enabled,
        s.deleted,
        s.anonymized,
        s.filtered,
        s.failed,
        s.unchanged
    )?;
    writeln!(
        out,
        "  memberships: {} added, {} removed",
        s.memberships_added, s.memberships_removed
    )?;
    writeln!(
        out,
        "  groups:      {} created, {} renamed, {} deleted",
        s.groups_created, s.groups_renamed, s.groups_deleted
    )?;
    if !report.users.is_empty() {
        writeln!(out)?;
    }
    for u in &report.users {
        print_user(u, out)?;
    }
    if report.truncated {
        writeln!(
            out,
            "  … more users; --json lists them all up to the report's limit"
        )?;
    }
    Ok(())
}

fn print_user(u: &ReportedUser, out: &mut impl Write) -> anyhow::Result<()> {
    let r = &u.result;
    let name = u.username.as_deref().unwrap_or(&r.scim_id);
    let mut line = format!("  {:<10} {name}", r.outcome.as_str());
    if let roster_core::sync::Outcome::Failed { reason } = &r.outcome {
        line.push_str(&format!(": {reason}"));
    }
    let events = match &r.user {
        Some(UserChange::Create { events, .. } | UserChange::Update { events, .. }) => {
            events.as_slice()
        }
        _ => &[],
    };
    for e in events {
        match e {
            UserEvent::Renamed { from, to } => line.push_str(&format!(" (renamed {from} → {to})")),
            UserEvent::Anonymized => line.push_str(" (anonymized)"),
            UserEvent::Deanonymized => line.push_str(" (de-anonymized)"),
            UserEvent::Copied { from_directory } => {
                line.push_str(&format!(" (copied from {from_directory})"))
            }
            _ => {}
        }
    }
    for m in &r.memberships {
        match m {
            MembershipChange::Add { group, origin, .. } => {
                line.push_str(&format!(" +{group}[{}]", origin.as_str()))
            }
            MembershipChange::Remove { group, .. } => line.push_str(&format!(" -{group}")),
            MembershipChange::SetOrigin { .. } => {}
        }
    }
    writeln!(out, "{line}")?;
    for w in &r.warnings {
        writeln!(out, "             warning: {w}")?;
    }
    Ok(())
}
