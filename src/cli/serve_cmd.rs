//! `iocd serve`: run the appliance.

use super::setup::{ensure_admin_key, load_config, open_store_with_cache};
use crate::certs::{ensure_certificates, reloadable_server_config, CertResolver};
use crate::config::Config;
use crate::http::{server, AppState};
use crate::ops::sdnotify;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs the HTTPS API until SIGTERM/SIGINT. With no config file every
/// setting is the built-in default: data in `./iocd-data`, a generated
/// certificate, an admin key printed once, demo data when the store is empty.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Config file (TOML). Without it, built-in defaults apply.
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address, IP:PORT (overrides the config).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Do not load demo data into an empty store.
    #[arg(long)]
    pub no_demo: bool,
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
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
    sdnotify::stopping();
}

/// SIGHUP: re-reads the config file and loads the certificate and key its
/// `[tls]` section names (so pointing it at the SOC's own CA-signed files
/// and sending SIGHUP switches certificates). New handshakes get the new
/// certificate; open connections are untouched. Bad files keep the current
/// certificate and log why. Other settings apply at the next restart.
fn reload_tls(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    running: &Config,
    resolver: &CertResolver,
) -> bool {
    let cfg = match Config::load(config) {
        Ok(mut c) => {
            if let Some(d) = data_dir {
                c.storage.data_dir = d.to_path_buf();
            }
            c
        }
        Err(errs) => {
            for e in &errs {
                tracing::error!(error = %e, "reload: config error");
            }
            tracing::error!(
                "reload failed: the config has errors; still serving the current certificate"
            );
            return false;
        }
    };
    let (cert, key) = (cfg.data_path(&cfg.tls.cert), cfg.data_path(&cfg.tls.key));
    let ok = match resolver.reload(&cert, &key) {
        Ok(()) => {
            tracing::info!(cert = %cert.display(), "reload: TLS certificate loaded; new connections use it");
            true
        }
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "reload failed; still serving the current certificate"
            );
            false
        }
    };
    let mut other = cfg;
    other.tls = running.tls.clone();
    other.server.listen = running.server.listen;
    other.demo = running.demo.clone();
    if other != *running {
        tracing::warn!(
            "reload: only [tls] cert and key are reloaded; restart iocd to apply the other changes"
        );
    }
    ok
}

/// Runs `iocd serve`.
pub fn run(args: &ServeArgs) -> Result<i32> {
    let mut cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if args.no_demo {
        cfg.demo.seed_when_empty = false;
    }
    let dd = cfg.storage.data_dir.clone();
    let store = Arc::new(open_store_with_cache(&dd, cfg.storage.cache_mib << 20)?);
    let (ca, cert, key) = (
        cfg.data_path(&cfg.tls.ca),
        cfg.data_path(&cfg.tls.cert),
        cfg.data_path(&cfg.tls.key),
    );
    if ensure_certificates(&ca, &cert, &key, &cfg.tls.extra_names)? {
        eprintln!(
            "Generated a TLS certificate: {} (clients trust {})",
            cert.display(),
            ca.display()
        );
    }
    let (tls, resolver) = reloadable_server_config(&cert, &key)?;
    if let Some(k) = ensure_admin_key(&store)? {
        eprintln!(
            "\nCreated the first admin API key (shown only this once; store it now):\n\n    {k}\n"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let state = Arc::new(AppState::new(store.clone(), cfg.clone()));
    // `iocd backup` / `iocd verify` reach the running server here.
    let _control = crate::ops::control::serve(store.clone(), &dd)
        .map_err(|e| tracing::warn!(error = %e, "no control socket: online backup unavailable"))
        .ok();
    let demo_store = store.clone();
    rt.block_on(async move {
        // Before the listen line, so a SIGHUP never meets the default action.
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        let (running, paths) = (
            Arc::new(cfg.clone()),
            Arc::new((args.config.clone(), args.data_dir.clone())),
        );
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                sdnotify::reloading();
                tracing::info!("SIGHUP: reloading the TLS certificate");
                let (p, r, res) = (paths.clone(), running.clone(), resolver.clone());
                let ok = tokio::task::spawn_blocking(move || {
                    reload_tls(p.0.as_deref(), p.1.as_deref(), &r, &res)
                })
                .await
                .unwrap_or(false);
                crate::http::handlers::metrics::tls_reloaded(ok);
                sdnotify::ready(if ok {
                    "serving; certificate reloaded"
                } else {
                    "serving; certificate reload FAILED (see the log)"
                });
            }
        });
        let l = tokio::net::TcpListener::bind(cfg.server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (in use, or a privileged port?)",
                    cfg.server.listen
                )
            })?;
        let plain = match cfg.server.plaintext_listen {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (plaintext)"))?,
            ),
            None => None,
        };
        // Demo data only once the listeners are ours: a start that fails
        // (port in use) leaves the store as it was.
        if cfg.demo.seed_when_empty && demo_store.total()? == 0 && demo_store.tombstone_count() == 0 {
            let r = demo_store.ingest(crate::demo::observations(40))?;
            eprintln!("Loaded {} demo IOCs (tag 'demo'; source 'iocd-demo'). Import real data with `iocd import` or POST /api/v1/iocs.", r.new);
        }
        let local = l.local_addr()?;
        eprintln!(
            "iocd {} listening on https://{local}/ (health: https://{local}/api/v1/health)",
            env!("CARGO_PKG_VERSION")
        );
        eprintln!("CA certificate for clients: {}", ca.display());
        if let Some(p) = &plain {
            eprintln!(
                "plaintext HTTP also on http://{}/ (config: server.plaintext_listen)",
                p.local_addr()?
            );
        }
        tracing::info!(listen = %local, "serving");
        sdnotify::ready(&format!("serving on https://{local}/"));
        server::run(
            state,
            l,
            tokio_rustls::TlsAcceptor::from(tls),
            plain,
            shutdown_signal(),
        )
        .await;
        anyhow::Ok(())
    })?;
    store.flush()?;
    eprintln!("iocd stopped; store flushed.");
    Ok(0)
}
