//! Configuration, layered: defaults < TOML file < `ROSTER_*` environment < flags.
//!
//! clap reads each flag's environment variable itself, so the figment here only has to put
//! the file under what clap collected. Keys without a flag ([`ENV_ONLY`]) are read from their
//! `ROSTER_*` variable here, between the file and the flags.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::cli::{Global, LogFormat, ServeArgs};

/// The keys read from a `ROSTER_*` variable by the configuration rather than by clap (they
/// have no flag): `ROSTER_METRICS`, `ROSTER_REQUEST_LOG_DAYS`, `ROSTER_TRUSTED_PROXIES`.
const ENV_ONLY: &[&str] = &["metrics", "request_log_days", "trusted_proxies"];

/// The longest request-log retention accepted, in days (ten years).
const MAX_REQUEST_LOG_DAYS: u32 = 3650;

/// Everything the binary can be configured with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// `sqlite://roster.db` by default.
    pub(crate) database_url: String,
    /// Where IdPs reach Roster; `http://{listen}` when unset.
    pub(crate) public_url: Option<String>,
    /// The address `serve` listens on.
    pub(crate) listen: SocketAddr,
    /// TLS certificate chain (PEM).
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub(crate) tls_key: Option<PathBuf>,
    /// Log format.
    pub(crate) log_format: LogFormat,
    /// `metrics = true` (env `ROSTER_METRICS`): serve Prometheus metrics at `/metrics`
    /// (requests by connector, route and status, latencies, sync outcomes). Unauthenticated,
    /// as Prometheus scrapes without credentials, and free of user data; set `false` where
    /// the port is reachable by people who should not see connector ids and traffic figures.
    pub(crate) metrics: bool,
    /// `request_log_days = 14` (env `ROSTER_REQUEST_LOG_DAYS`): how many days the SCIM
    /// request log keeps each connector's requests (older ones are pruned hourly); `0` turns
    /// the request log off.
    pub(crate) request_log_days: u32,
    /// `trusted_proxies = ["10.0.0.1"]` (env `ROSTER_TRUSTED_PROXIES='["10.0.0.1"]'`): the
    /// addresses of reverse proxies in front of Roster, whose `X-Forwarded-For` says who the
    /// client is. The console limits failed logins per client address; behind a proxy that is
    /// not listed, every client has the proxy's address and shares one limit.
    pub(crate) trusted_proxies: Vec<IpAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://roster.db".into(),
            public_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Text,
            metrics: true,
            request_log_days: 14,
            trusted_proxies: Vec::new(),
        }
    }
}

/// What the command line set, as a partial config (unset options are absent).
#[derive(Debug, Default, Serialize)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<LogFormat>,
}

impl Config {
    /// Loads the configuration for a command.
    pub(crate) fn load(global: &Global, serve: Option<&ServeArgs>) -> anyhow::Result<Self> {
        Self::load_with(global, serve, Env::prefixed("ROSTER_").only(ENV_ONLY))
    }

    /// [`Config::load`] with `env` in place of the `ROSTER_*` variables of [`ENV_ONLY`] (tests
    /// cannot set process variables safely).
    fn load_with(
        global: &Global,
        serve: Option<&ServeArgs>,
        env: impl figment::Provider,
    ) -> anyhow::Result<Self> {
        let overrides = Overrides {
            database_url: global.database_url.clone(),
            public_url: global.public_url.clone(),
            listen: serve.and_then(|s| s.listen),
            tls_cert: serve.and_then(|s| s.tls_cert.clone()),
            tls_key: serve.and_then(|s| s.tls_key.clone()),
            log_format: global.log_format,
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &global.config {
            anyhow::ensure!(
                path.exists(),
                "configuration file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .context("invalid configuration")?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.public_url {
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "public URL '{url}' must start with https:// or http://"
            );
        }
        anyhow::ensure!(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "TLS needs both a certificate and a key"
        );
        anyhow::ensure!(
            self.request_log_days <= MAX_REQUEST_LOG_DAYS,
            "request_log_days must be at most {MAX_REQUEST_LOG_DAYS}"
        );
        for path in [&self.tls_cert, &self.tls_key].into_iter().flatten() {
            anyhow::ensure!(
                Path::new(path).exists(),
                "TLS file {} does not exist",
                path.display()
            );
        }
        Ok(())
    }

    /// The public URL, without a trailing slash.
    pub(crate) fn public_url(&self) -> String {
        self.public_url_at(self.listen)
    }

    /// The public URL of a server bound to `addr`: the configured one, or `http(s)://{addr}`.
    /// `serve` passes the address it actually bound, which differs from `listen` when that
    /// asks for port 0; without it the default would advertise the unusable `…:0`.
    pub(crate) fn public_url_at(&self, addr: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{addr}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn load(args: &[&str]) -> anyhow::Result<Config> {
        load_env(args, "")
    }

    /// Loads with `env` (TOML, as `key = value` lines) standing for the `ROSTER_*` variables.
    fn load_env(args: &[&str], env: &str) -> anyhow::Result<Config> {
        let cli = crate::cli::Cli::try_parse_from(args)?;
        let serve = match &cli.command {
            crate::cli::Command::Serve(s) => Some(s),
            _ => None,
        };
        Config::load_with(&cli.global, serve, Toml::string(env))
    }

    #[test]
    fn metrics_and_request_log_days_from_file_then_environment() {
        let c = load(&["roster", "serve"]).unwrap();
        assert!(c.metrics);
        assert_eq!(c.request_log_days, 14);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "metrics = false\nrequest_log_days = 30\n").unwrap();
        let f = file.to_str().unwrap();
        let c = load(&["roster", "--config", f, "serve"]).unwrap();
        assert!(!c.metrics);
        assert_eq!(c.request_log_days, 30);

        let c = load_env(&["roster", "--config", f, "serve"], "metrics = true").unwrap();
        assert!(c.metrics, "the environment wins over the file");
        assert_eq!(c.request_log_days, 30);
        let c = load_env(&["roster", "serve"], "request_log_days = 0").unwrap();
        assert_eq!(c.request_log_days, 0);

        let e = load_env(&["roster", "serve"], "request_log_days = 5000").unwrap_err();
        assert!(format!("{e:#}").contains("request_log_days"), "{e:#}");
        let e = load_env(&["roster", "serve"], "metrics = \"maybe\"").unwrap_err();
        assert!(format!("{e:#}").contains("metrics"), "{e:#}");
    }

    #[test]
    fn trusted_proxies_are_addresses() {
        assert!(
            load(&["roster", "serve"])
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
        let c = load_env(
            &["roster", "serve"],
            "trusted_proxies = [\"10.0.0.1\", \"::1\"]",
        )
        .unwrap();
        assert_eq!(
            c.trusted_proxies,
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        let e = load_env(&["roster", "serve"], "trusted_proxies = [\"10.0.0.0/8\"]").unwrap_err();
        assert!(format!("{e:#}").contains("trusted_proxies"), "{e:#}");
    }

    #[test]
    fn environment_only_keys_are_config_keys() {
        // A renamed field would otherwise leave its variable silently ignored.
        let value = serde_json::to_value(Config::default()).unwrap();
        for key in ENV_ONLY {
            assert!(value.get(*key).is_some(), "{key} is not a config key");
        }
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            "database_url = \"sqlite:///var/lib/roster/roster.db\"\nlisten = \"0.0.0.0:9000\"\npublic_url = \"https://scim.example.com/\"\n",
        )
        .unwrap();
        let c = load(&["roster", "serve"]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");

        let f = file.to_str().unwrap();
        let c = load(&["roster", "--config", f, "serve"]).unwrap();
        assert_eq!(c.database_url, "sqlite:///var/lib/roster/roster.db");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.public_url(), "https://scim.example.com");

        let c = load(&[
            "roster",
            "--config",
            f,
            "serve",
            "--listen",
            "127.0.0.1:7000",
            "--database",
            "sqlite://x.db",
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.database_url, "sqlite://x.db");
    }

    #[test]
    fn bad_files_and_values_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let e = load(&["roster", "--config", file.to_str().unwrap(), "serve"]).unwrap_err();
        assert!(format!("{e:#}").contains("listn"), "{e:#}");
        assert!(load(&["roster", "--config", "/nonexistent/roster.toml", "serve"]).is_err());
        assert!(load(&["roster", "--public-url", "ftp://x", "serve"]).is_err());
    }
}
