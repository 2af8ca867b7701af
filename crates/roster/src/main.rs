//! `roster`: the binary. Parses the command line, loads the configuration, sets up logging,
//! opens the store and runs the command. Errors are printed with their chain of causes.

mod admin;
mod cli;
mod config;
mod connector;
mod directory;
mod serve;
mod sync;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ConnectorCommand};
use crate::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // reqwest and axum-server use rustls without a built-in provider: install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let serve_args = match &cli.command {
        Command::Serve(args) => Some(args),
        _ => None,
    };
    let config = Config::load(&cli.global, serve_args)?;
    telemetry::init(config.log_format);
    let store = roster_store::open(&config.database_url)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .map_err(|e| {
            e.context(format!(
                "could not open the database {}",
                config.database_url
            ))
        })?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Serve(_) => serve::run(&config, store).await,
        Command::Connector(
            command @ (ConnectorCommand::Settings(_)
            | ConnectorCommand::Preview { .. }
            | ConnectorCommand::Apply { .. }
            | ConnectorCommand::Results { .. }),
        ) => sync::run(command, &*store, &mut out).await,
        Command::Connector(command) => connector::run(command, &config, store, &mut out).await,
        Command::Users(command) => directory::users(command, &*store, &mut out).await,
        Command::Groups(command) => directory::groups(command, &*store, &mut out).await,
        Command::Directories(command) => directory::directories(command, &*store, &mut out).await,
        Command::Audit(args) => directory::audit(args, &*store, &mut out).await,
        Command::Admin(command) => admin::run(command, &config, &*store, &mut out).await,
    }
}
