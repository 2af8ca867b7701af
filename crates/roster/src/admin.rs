//! `roster admin …`: admin accounts and API tokens, on the same database the server uses.
//!
//! Passwords are never command-line arguments (those end up in shell histories and in `ps`):
//! they are asked for on the terminal, twice and without echo, or read from the first line of
//! standard input with `--password-stdin`. There is no default account and no default
//! password. API tokens are printed once, when made; listings never show them.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use roster_core::admin::{self, AdminAccount, ApiScope, ApiTokenRecord, KdfStrength};
use roster_core::{Clock, Store, StoreError, SystemClock};
use serde_json::json;
use time::OffsetDateTime;

use crate::cli::{AdminCommand, ApiScopeArg, ApiTokenCommand};
use crate::config::Config;
use crate::connector::token_times;

/// Runs one admin command, writing what it reports to `out`.
pub(crate) async fn run(
    command: AdminCommand,
    config: &Config,
    store: &dyn Store,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let clock = SystemClock;
    match command {
        AdminCommand::Create {
            username,
            password_stdin,
        } => {
            admin::validate_username(&username)?;
            // Checked before asking for a password, so nobody types one for nothing; the
            // store's Conflict below still decides if another process wins a race.
            if store.admin().admin_account(&username).await?.is_some() {
                bail!(taken(&username));
            }
            let password_hash = hash(new_password(password_stdin)?).await?;
            let account = AdminAccount {
                username: username.clone(),
                password_hash,
                created_at: clock.now(),
                last_login_at: None,
            };
            match store.admin().create_admin(&account).await {
                Err(StoreError::Conflict(_)) => bail!(taken(&username)),
                other => other.context("could not create the admin account")?,
            }
            writeln!(
                out,
                "Created admin account '{username}'. The console is at {}/console/",
                config.public_url()
            )?;
        }
        AdminCommand::List { json } => {
            let accounts = store.admin().admin_accounts().await?;
            if json {
                let v: Vec<_> = accounts.iter().map(account_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else if accounts.is_empty() {
                writeln!(
                    out,
                    "No admin accounts yet. Create one with: roster admin create USERNAME"
                )?;
            } else {
                writeln!(out, "{:<32} {:<26} LAST LOGIN", "USERNAME", "CREATED")?;
                for a in &accounts {
                    writeln!(
                        out,
                        "{:<32} {:<26} {}",
                        a.username,
                        rfc3339(a.created_at),
                        a.last_login_at.map_or_else(|| "never".into(), rfc3339)
                    )?;
                }
            }
        }
        AdminCommand::Delete { username } => {
            match store.admin().delete_admin(&username).await {
                Err(StoreError::NotFound) => bail!(no_account(&username)),
                other => other?,
            }
            writeln!(
                out,
                "Admin account '{username}' is deleted; its console sessions have ended."
            )?;
            if store.admin().admin_accounts().await?.is_empty() {
                writeln!(
                    out,
                    "No admin accounts are left: create one with `roster admin create USERNAME`."
                )?;
            }
        }
        AdminCommand::Password {
            username,
            password_stdin,
        } => {
            if store.admin().admin_account(&username).await?.is_none() {
                bail!(no_account(&username));
            }
            let password_hash = hash(new_password(password_stdin)?).await?;
            match store
                .admin()
                .set_admin_password(&username, &password_hash)
                .await
            {
                Err(StoreError::NotFound) => bail!(no_account(&username)),
                other => other?,
            }
            writeln!(
                out,
                "The password of '{username}' is changed; its console sessions have ended."
            )?;
        }
        AdminCommand::Token(command) => token(command, store, &clock, out).await?,
    }
    Ok(())
}

async fn token(
    command: ApiTokenCommand,
    store: &dyn Store,
    clock: &dyn Clock,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        ApiTokenCommand::Create {
            scope,
            description,
            expires_in_days,
            json,
        } => {
            let scope = match scope {
                ApiScopeArg::Admin => ApiScope::Admin,
                ApiScopeArg::App => ApiScope::App,
            };
            let now = clock.now();
            let expires_at = expires_in_days.map(|d| now + time::Duration::days(i64::from(d)));
            let (secret, record) =
                admin::generate_api_token(scope, &description, "cli", now, expires_at)?;
            store
                .admin()
                .add_api_token(&record)
                .await
                .context("could not store the API token")?;
            if json {
                let v = json!({
                    "id": record.id,
                    "scope": scope.as_str(),
                    "token": secret.expose(),
                    "expires_at": record.expires_at.map(rfc3339),
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                let api = match scope {
                    ApiScope::Admin => "the admin API (everything the console can do)",
                    ApiScope::App => "the application API (read-only)",
                };
                writeln!(out, "Created {} API token {}.\n", scope.as_str(), record.id)?;
                writeln!(out, "  Token:  {}\n", secret.expose())?;
                writeln!(
                    out,
                    "The token is shown only this once: Roster keeps only a hash of it.\n\
                     It opens {api} as a bearer token (Authorization: Bearer TOKEN).\n\
                     Revoke it with `roster admin token revoke {}`.",
                    record.id
                )?;
            }
        }
        ApiTokenCommand::List { json } => {
            let tokens = store.admin().api_tokens().await?;
            if json {
                let v: Vec<_> = tokens.iter().map(token_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                print_tokens(&tokens, clock.now(), out)?;
            }
        }
        ApiTokenCommand::Revoke { id } => {
            match store.admin().revoke_api_token(&id).await {
                Err(StoreError::NotFound) => {
                    bail!("no API token '{id}' (see `roster admin token list`)")
                }
                other => other?,
            }
            writeln!(out, "API token {id} is revoked.")?;
        }
    }
    Ok(())
}

fn taken(username: &str) -> String {
    format!("an admin account named '{username}' already exists (names are case-insensitive)")
}

fn no_account(username: &str) -> String {
    format!("no admin account '{username}' (see `roster admin list`)")
}

/// A new password: from the first line of standard input, or asked for twice on the
/// terminal without echo. Checked against the password rules before it is returned.
fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("could not read the password from standard input")?;
        // Only the line break goes: spaces may be part of a password.
        let p = line.strip_suffix('\n').unwrap_or(&line);
        p.strip_suffix('\r').unwrap_or(p).to_owned()
    } else {
        anyhow::ensure!(
            std::io::stdin().is_terminal(),
            "standard input is not a terminal: to give the password on it, use --password-stdin"
        );
        let first = rpassword::prompt_password("Password: ")
            .context("could not read the password from the terminal")?;
        // Said now rather than after the repetition.
        admin::validate_password(&first)?;
        let again = rpassword::prompt_password("Password again: ")
            .context("could not read the password from the terminal")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        first
    };
    admin::validate_password(&password)?;
    Ok(password)
}

/// The argon2id hash of a password, made off the async runtime's threads (it takes a
/// noticeable fraction of a second by design).
async fn hash(password: String) -> anyhow::Result<String> {
    let phc =
        tokio::task::spawn_blocking(move || admin::hash_password(&password, KdfStrength::Default))
            .await
            .context("the password hashing task failed")??;
    Ok(phc)
}

fn rfc3339(t: OffsetDateTime) -> String {
    roster_core::clock::rfc3339(t)
}

fn account_json(a: &AdminAccount) -> serde_json::Value {
    json!({
        "username": a.username,
        "created_at": rfc3339(a.created_at),
        "last_login_at": a.last_login_at.map(rfc3339),
    })
}

fn token_json(t: &ApiTokenRecord) -> serde_json::Value {
    json!({
        "id": t.id,
        "scope": t.scope.as_str(),
        "description": t.description,
        "created_by": t.created_by,
        "created_at": rfc3339(t.created_at),
        "expires_at": t.expires_at.map(rfc3339),
        "last_used_at": t.last_used_at.map(rfc3339),
    })
}

fn print_tokens(
    tokens: &[ApiTokenRecord],
    now: OffsetDateTime,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if tokens.is_empty() {
        writeln!(
            out,
            "No API tokens: create one with `roster admin token create --scope admin|app`."
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<18} {:<6} {:<26} {:<26} {:<26} DESCRIPTION",
        "TOKEN ID", "SCOPE", "CREATED", "EXPIRES", "LAST USED"
    )?;
    for t in tokens {
        let [created, expires, last_used] =
            token_times(t.created_at, t.expires_at, t.last_used_at, t.expired(now));
        writeln!(
            out,
            "{:<18} {:<6} {created:<26} {expires:<26} {last_used:<26} {}",
            t.id,
            t.scope.as_str(),
            t.description
        )?;
    }
    Ok(())
}
