//! The `roster` binary, driven as a user drives it: commands on a fresh database, `serve`
//! on an ephemeral port, TLS, and graceful shutdown.

mod admin;
mod cli;
mod serve;
mod sync;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A fresh database in a temp dir, and a way to run `roster` on it.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("roster.db").display())
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `roster` command with this database and no `ROSTER_*` variables from outside.
    pub(crate) fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_roster"));
        for (k, _) in std::env::vars() {
            if k.starts_with("ROSTER_") {
                c.env_remove(k);
            }
        }
        c.env("ROSTER_DATABASE_URL", self.database_url())
            .env("ROSTER_PUBLIC_URL", "https://scim.example.com")
            .env("RUST_LOG", "warn")
            .current_dir(self.dir.path());
        c
    }

    /// Runs `roster ARGS` and returns its output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run roster")
    }

    /// Runs `roster ARGS`, asserts success, returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "roster {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `roster ARGS --json`-style commands and parses stdout.
    pub(crate) fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("JSON on stdout")
    }
}

pub(crate) fn exists(p: &Path) -> bool {
    p.exists()
}

/// A running `roster serve`, stopped with SIGTERM when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(env: &Env, extra: &[&str]) -> Self {
        Self::spawn(env.command(), extra)
    }

    /// `roster serve --listen 127.0.0.1:0 EXTRA…` from `command` (an [`Env::command`]).
    fn spawn(mut command: std::process::Command, extra: &[&str]) -> Self {
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn roster serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("roster listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self { child, url }
    }

    /// Sends SIGTERM and waits: the exit status of a graceful stop.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}
