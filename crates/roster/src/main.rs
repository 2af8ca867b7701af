//! `roster`: the binary. Parses the command line, loads the configuration, sets up logging,
//! opens the store and runs the command. Errors are printed with their chain of causes.

mod cli;
mod config;
mod connector;
mod serve;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
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
        Command::Connector(_) => None,
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
    match cli.command {
        Command::Serve(_) => serve::run(&config, store).await,
        Command::Connector(command) => {
            let mut out = std::io::stdout().lock();
            connector::run(command, &config, store, &mut out).await
        }
    }
}
