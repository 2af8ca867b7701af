//! `roster serve`: the HTTP(S) server with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use roster_core::idp_view::Limits;
use roster_core::{Authenticator, IdpView, Store, SystemClock, UuidIds};
use roster_server::{AppState, HttpLimits, OpsOptions};

use crate::config::Config;

/// How long requests in flight may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(20);

/// Runs the server until SIGTERM or ctrl-c.
pub(crate) async fn run(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let clock = Arc::new(SystemClock);
    let idp = IdpView::new(
        store.clone(),
        clock.clone(),
        Arc::new(UuidIds),
        Limits::default(),
    );
    let auth = Arc::new(Authenticator::new(store.clone(), clock));

    // The certificate is checked before anything listens.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "could not load TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?,
        ),
        _ => None,
    };

    // Bind before building the state: with `--listen …:0` only the bound address says which
    // port the default public URL (and so every `meta.location`) must name.
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config.public_url_at(addr);
    let state = AppState::new(idp, auth, public_url.clone(), HttpLimits::default())
        .with_ops_options(OpsOptions {
            metrics: config.metrics,
            request_log_days: config.request_log_days,
        })
        .with_trusted_proxies(config.trusted_proxies.iter().copied());

    let connectors = store
        .connectors()
        .await
        .context("could not read connectors")?;
    if connectors.is_empty() {
        tracing::warn!("no connectors yet: create one with `roster connector create NAME`");
    }
    // There is no default account: say how to make the first one (on stderr, with the logs;
    // stdout's first line is the listening address scripts read).
    let admins = store
        .admin()
        .admin_accounts()
        .await
        .context("could not read admin accounts")?;
    if admins.is_empty() {
        tracing::warn!(
            "no admin account yet: the console and the admin API open for nobody until one is \
             created with `roster admin create NAME`"
        );
    }
    if public_url.starts_with("http://") {
        tracing::warn!(
            public_url,
            "serving plain HTTP: Entra ID only provisions over HTTPS (use --tls-cert/--tls-key or a TLS proxy)"
        );
    }

    match tls {
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let shutdown = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                shutdown.graceful_shutdown(Some(GRACE));
            });
            announce(addr, "https", &public_url);
            let after = state.clone();
            axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle)
                // With the client's address, as `roster_server::serve` gives it: the console's
                // per-address login limit reads it, and is off for requests without one.
                .serve(
                    roster_server::app(state)
                        .into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .await
                .context("server failed")?;
            // `roster_server::serve` does this itself; axum_server knows nothing of it.
            after.flush().await;
        }
        None => {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            announce(addr, "http", &public_url);
            roster_server::serve(listener, state, shutdown_signal())
                .await
                .context("server failed")?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// One line that says where the server is, also on stdout so scripts can read the port.
fn announce(addr: std::net::SocketAddr, scheme: &str, public_url: &str) {
    println!("roster listening on {scheme}://{addr}");
    tracing::info!(%addr, public_url, "listening; SCIM base URLs are {public_url}/scim/v2/<connector>");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
