//! `roster connector …`: connectors and their tokens, on the same database the server uses.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use roster_core::connector::{self, Connector};
use roster_core::store::{Actor, WriteContext};
use roster_core::token::{self, TokenRecord};
use roster_core::{Clock, Store, StoreError, SystemClock};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{ConnectorCommand, TokenCommand};
use crate::config::Config;

/// Runs one connector command, writing what it reports to `out`.
pub(crate) async fn run(
    command: ConnectorCommand,
    config: &Config,
    store: Arc<dyn Store>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let clock = SystemClock;
    let public_url = config.public_url();
    match command {
        ConnectorCommand::Create { name, id, json } => {
            let name = name.trim().to_owned();
            anyhow::ensure!(!name.is_empty(), "the connector needs a name");
            connector::validate_name(&name).map_err(|e| anyhow::anyhow!(e.detail))?;
            let id = id.unwrap_or_else(|| connector::slugify(&name));
            connector::validate_id(&id).map_err(|e| anyhow::anyhow!(e.detail))?;
            let now = clock.now();
            let c = Connector {
                id: id.clone(),
                name,
                enabled: true,
                created_at: now,
            };
            store.create_connector(&c).await.map_err(|e| match e {
                StoreError::Conflict(_) => anyhow::anyhow!(
                    "a connector with id '{id}' already exists; choose another with --id"
                ),
                other => anyhow::Error::new(other).context("could not create the connector"),
            })?;
            let (secret, record) = token::generate(&id, "created with the connector", now, None)?;
            store
                .add_token(&record)
                .await
                .context("could not store the token")?;
            let url = c.scim_base_url(&public_url);
            if json {
                let mut v = connector_json(&c, &public_url);
                v["token"] = json!(secret.expose());
                v["token_id"] = json!(record.id);
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "Created connector \"{}\" ({}).\n", c.name, c.id)?;
                writeln!(out, "  SCIM base URL:  {url}")?;
                writeln!(out, "  Secret token:   {}\n", secret.expose())?;
                writeln!(
                    out,
                    "The token is shown only this once: Roster keeps only a hash of it.\n\
                     In Entra ID, paste the URL as \"Tenant URL\" and the token as \"Secret Token\";\n\
                     in Okta, the URL as \"SCIM connector base URL\" and the token as the HTTP Header\n\
                     authorization bearer token. Then press Test Connection (Entra) or Test Connector\n\
                     Configuration (Okta)."
                )?;
                if url.starts_with("http://") {
                    writeln!(
                        out,
                        "\nNote: Entra ID only talks HTTPS. Serve with --tls-cert/--tls-key or behind a\n\
                         TLS-terminating proxy, and set --public-url to the https:// address."
                    )?;
                }
            }
        }
        ConnectorCommand::List { json } => {
            let list = store.connectors().await?;
            if json {
                let v: Vec<_> = list
                    .iter()
                    .map(|c| connector_json(c, &public_url))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else if list.is_empty() {
                writeln!(
                    out,
                    "No connectors yet. Create one with: roster connector create NAME"
                )?;
            } else {
                writeln!(
                    out,
                    "{:<24} {:<8} {:<24} SCIM BASE URL",
                    "ID", "ENABLED", "NAME"
                )?;
                for c in &list {
                    writeln!(
                        out,
                        "{:<24} {:<8} {:<24} {}",
                        c.id,
                        if c.enabled { "yes" } else { "no" },
                        c.name,
                        c.scim_base_url(&public_url)
                    )?;
                }
            }
        }
        ConnectorCommand::Show { id, json } => {
            let c = find(&*store, &id).await?;
            let tokens = store.tokens(&id).await?;
            if json {
                let mut v = connector_json(&c, &public_url);
                v["tokens"] = tokens.iter().map(token_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "Connector:      {} ({})", c.name, c.id)?;
                writeln!(
                    out,
                    "Enabled:        {}",
                    if c.enabled { "yes" } else { "no" }
                )?;
                writeln!(out, "SCIM base URL:  {}", c.scim_base_url(&public_url))?;
                writeln!(out, "Created:        {}", rfc3339(c.created_at))?;
                writeln!(out, "Tokens:         {}", tokens.len())?;
                print_tokens(&tokens, clock.now(), out)?;
            }
        }
        ConnectorCommand::Enable { id } => {
            set_enabled(&*store, &id, true).await?;
            writeln!(out, "Connector '{id}' is enabled.")?;
        }
        ConnectorCommand::Disable { id } => {
            set_enabled(&*store, &id, false).await?;
            writeln!(
                out,
                "Connector '{id}' is disabled: its tokens are refused until it is enabled."
            )?;
        }
        ConnectorCommand::Delete { id } => {
            let ctx = WriteContext::new(clock.now(), Actor::Cli);
            match store.delete_connector(&id, &ctx).await {
                Err(StoreError::NotFound) => bail!("no connector '{id}'"),
                other => other?,
            }
            writeln!(
                out,
                "Connector '{id}' is deleted, with its tokens and everything provisioned to it."
            )?;
        }
        ConnectorCommand::Token(command) => token_command(command, &*store, &clock, out).await?,
        // `main` sends these to `crate::sync`.
        ConnectorCommand::Settings(_)
        | ConnectorCommand::Preview { .. }
        | ConnectorCommand::Apply { .. }
        | ConnectorCommand::Results { .. } => bail!("not a connector management command"),
    }
    Ok(())
}

async fn token_command(
    command: TokenCommand,
    store: &dyn Store,
    clock: &dyn Clock,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Add {
            connector,
            description,
            expires_in_days,
            expires_at,
            json,
        } => {
            find(store, &connector).await?;
            let now = clock.now();
            let expires_at = match (expires_in_days, expires_at) {
                (Some(days), _) => Some(now + time::Duration::days(i64::from(days))),
                (None, Some(t)) => {
                    let t = OffsetDateTime::parse(&t, &Rfc3339).with_context(|| {
                        format!("'{t}' is not an RFC 3339 time (2027-01-31T00:00:00Z)")
                    })?;
                    anyhow::ensure!(t > now, "the expiry time is in the past");
                    Some(t)
                }
                (None, None) => None,
            };
            let (secret, record) = token::generate(&connector, &description, now, expires_at)?;
            store.add_token(&record).await?;
            if json {
                let mut v = token_json(&record);
                v["token"] = json!(secret.expose());
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(
                    out,
                    "Added token {} to connector '{connector}'.\n",
                    record.id
                )?;
                writeln!(out, "  Secret token:  {}\n", secret.expose())?;
                writeln!(
                    out,
                    "The token is shown only this once. The connector's other tokens stay valid:\n\
                     revoke the old one with `roster connector token revoke {connector} TOKEN_ID`\n\
                     once the IdP uses this one."
                )?;
            }
        }
        TokenCommand::List { connector, json } => {
            find(store, &connector).await?;
            let tokens = store.tokens(&connector).await?;
            if json {
                let v: Vec<_> = tokens.iter().map(token_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                print_tokens(&tokens, clock.now(), out)?;
            }
        }
        TokenCommand::Revoke {
            connector,
            token_id,
        } => {
            match store.revoke_token(&connector, &token_id).await {
                Err(StoreError::NotFound) => {
                    bail!("connector '{connector}' has no token '{token_id}'")
                }
                other => other?,
            }
            writeln!(out, "Token {token_id} is revoked.")?;
        }
    }
    Ok(())
}

async fn find(store: &dyn Store, id: &str) -> anyhow::Result<Connector> {
    store
        .connector(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no connector '{id}' (see `roster connector list`)"))
}

async fn set_enabled(store: &dyn Store, id: &str, enabled: bool) -> anyhow::Result<()> {
    match store.set_connector_enabled(id, enabled).await {
        Err(StoreError::NotFound) => bail!("no connector '{id}' (see `roster connector list`)"),
        other => Ok(other?),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    roster_core::clock::rfc3339(t)
}

fn connector_json(c: &Connector, public_url: &str) -> serde_json::Value {
    json!({
        "id": c.id,
        "name": c.name,
        "enabled": c.enabled,
        "scim_base_url": c.scim_base_url(public_url),
        "created_at": rfc3339(c.created_at),
    })
}

fn token_json(t: &TokenRecord) -> serde_json::Value {
    json!({
        "id": t.id,
        "connector_id": t.connector_id,
        "description": t.description,
        "created_at": rfc3339(t.created_at),
        "expires_at": t.expires_at.map(rfc3339),
        "last_used_at": t.last_used_at.map(rfc3339),
    })
}

fn print_tokens(
    tokens: &[TokenRecord],
    now: OffsetDateTime,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if tokens.is_empty() {
        writeln!(
            out,
            "No tokens: add one with `roster connector token add CONNECTOR`."
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<18} {:<26} {:<26} {:<26} DESCRIPTION",
        "TOKEN ID", "CREATED", "EXPIRES", "LAST USED"
    )?;
    for t in tokens {
        let [created, expires, last_used] =
            token_times(t.created_at, t.expires_at, t.last_used_at, t.expired(now));
        writeln!(
            out,
            "{:<18} {created:<26} {expires:<26} {last_used:<26} {}",
            t.id, t.description
        )?;
    }
    Ok(())
}

/// The CREATED, EXPIRES and LAST USED cells of a token listing, the same for connector and
/// API tokens; `expired` is the record's own verdict.
pub(crate) fn token_times(
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    expired: bool,
) -> [String; 3] {
    let expires = match expires_at {
        Some(e) if expired => format!("{} (expired)", rfc3339(e)),
        Some(e) => rfc3339(e),
        None => "never".into(),
    };
    [
        rfc3339(created_at),
        expires,
        last_used_at.map_or_else(|| "never".into(), rfc3339),
    ]
}
