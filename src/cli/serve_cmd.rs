//! `iocd serve`: run the appliance.

use super::setup::{create_store_with_cache, ensure_admin_key, load_config};
use crate::certs::{ensure_certificates, reloadable_server_config, CertResolver};
use crate::config::Config;
use crate::http::{server, AppState};
use crate::ops::sdnotify;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// HTTPS listen address, IP:PORT or localhost:PORT (overrides the config).
    #[arg(long, value_parser = crate::config::parse_listen)]
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

/// Settings read once at start (listeners, timeouts, connection limit,
/// response cache, storage, demo data): a reload keeps their running
/// values and names the changed ones. Returns those names.
fn keep_restart_only(next: &mut Config, cur: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident).+, $name:literal) => {
            if next.$($field).+ != cur.$($field).+ {
                changed.push($name);
                next.$($field).+ = cur.$($field).+.clone();
            }
        };
    }
    keep!(server.listen, "server.listen");
    keep!(server.plaintext_listen, "server.plaintext_listen");
    keep!(
        server.header_read_timeout_secs,
        "server.header_read_timeout_secs"
    );
    keep!(
        server.tls_handshake_timeout_secs,
        "server.tls_handshake_timeout_secs"
    );
    keep!(server.idle_timeout_secs, "server.idle_timeout_secs");
    keep!(server.shutdown_grace_secs, "server.shutdown_grace_secs");
    keep!(server.max_connections, "server.max_connections");
    keep!(server.max_handshakes, "server.max_handshakes");
    keep!(server.max_handshakes_per_ip, "server.max_handshakes_per_ip");
    keep!(
        server.max_connections_per_ip,
        "server.max_connections_per_ip"
    );
    keep!(
        server.http2_max_concurrent_streams,
        "server.http2_max_concurrent_streams"
    );
    keep!(server.max_inflight_body_mib, "server.max_inflight_body_mib");
    keep!(
        server.max_connection_body_mib,
        "server.max_connection_body_mib"
    );
    keep!(server.response_cache_ms, "server.response_cache_ms");
    keep!(server.response_cache_mib, "server.response_cache_mib");
    keep!(storage, "storage");
    keep!(tls.ca, "tls.ca");
    keep!(tls.extra_names, "tls.extra_names");
    keep!(demo, "demo");
    keep!(inbox, "inbox");
    keep!(
        auth.max_concurrent_verifications,
        "auth.max_concurrent_verifications"
    );
    keep!(
        auth.max_queued_verifications,
        "auth.max_queued_verifications"
    );
    changed
}

/// SIGHUP: re-reads the config file, loads the certificate and key its
/// `[tls]` section names (so pointing it at the SOC's own CA-signed files
/// and sending SIGHUP switches certificates) and puts the other settings
/// that requests read (tiers and their rate limits, scopes and lookback,
/// `[auth]`, body limit, identity name, upgrade URL, `[[feeds]]`) in effect for the
/// next requests. New handshakes get the new certificate; open connections
/// are untouched. A config with errors changes nothing; bad certificate
/// files keep the current certificate. Either is logged. Returns whether
/// everything asked was applied.
fn reload(
    paths: &(Option<PathBuf>, Option<PathBuf>),
    overrides: (Option<std::net::SocketAddr>, bool),
    state: &AppState,
    resolver: &CertResolver,
) -> bool {
    let mut next = match Config::load(paths.0.as_deref()) {
        Ok(mut c) => {
            if let Some(d) = &paths.1 {
                c.storage.data_dir = d.clone();
            }
            if let Some(l) = overrides.0 {
                c.server.listen = l;
            }
            if overrides.1 {
                c.demo.seed_when_empty = false;
            }
            c
        }
        Err(errs) => {
            for e in &errs {
                tracing::error!(error = %e, "reload: config error");
            }
            tracing::error!(
                "reload failed: the config has errors; still serving with the current settings and certificate"
            );
            return false;
        }
    };
    let cur = state.config();
    let (cert, key) = (
        next.data_path(&next.tls.cert),
        next.data_path(&next.tls.key),
    );
    let tls_ok = match resolver.reload(&cert, &key) {
        Ok(()) => {
            tracing::info!(cert = %cert.display(), "reload: TLS certificate loaded; new connections use it");
            true
        }
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "reload: certificate not loaded; still serving the current certificate"
            );
            next.tls.cert = cur.tls.cert.clone();
            next.tls.key = cur.tls.key.clone();
            false
        }
    };
    let restart_only = keep_restart_only(&mut next, &cur);
    if !restart_only.is_empty() {
        tracing::warn!(
            settings = restart_only.join(", "),
            "reload: these settings apply at the next restart"
        );
    }
    // `[[feeds]]`: changed feeds are rescheduled at once (crate::feeds).
    if let Some(f) = crate::feeds::registry() {
        if next.feeds != cur.feeds {
            f.reconfigure(&next.feeds);
            tracing::info!(feeds = next.feeds.len(), "reload: feeds rescheduled");
        }
    }
    if next != *cur {
        // Ingest re-indexes revived IOCs under the lifetimes in force.
        state.store.set_lifetimes(next.expiry.lifetimes());
        crate::articles::config::set(&next.articles);
        state.set_config(next);
        tracing::info!("reload: settings applied to new requests");
    }
    tls_ok
}

/// Raises the soft open-file limit to the hard one: every connection is a
/// descriptor, and `max_connections` + `max_handshakes` must fit beside
/// the store's files (the systemd unit sets `LimitNOFILE=65536`).
fn raise_nofile_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// Runs `iocd serve`.
pub fn run(args: &ServeArgs) -> Result<i32> {
    raise_nofile_limit();
    let mut cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if args.no_demo {
        cfg.demo.seed_when_empty = false;
    }
    let dd = cfg.storage.data_dir.clone();
    let store = Arc::new(create_store_with_cache(&dd, cfg.storage.cache_mib << 20)?);
    store.set_lifetimes(cfg.expiry.lifetimes());
    let (ca, cert, key) = (
        cfg.data_path(&cfg.tls.ca),
        cfg.data_path(&cfg.tls.cert),
        cfg.data_path(&cfg.tls.key),
    );
    if ensure_certificates(&ca, &cert, &key, &cfg.tls.extra_names)? {
        super::notice(&format!(
            "Generated a TLS certificate: {} (clients trust {})",
            cert.display(),
            ca.display()
        ));
    }
    let (tls, resolver) = reloadable_server_config(&cert, &key)?;
    if let Some(k) = ensure_admin_key(&store)? {
        super::notice(&format!(
            "\nCreated the first admin API key (shown only this once; store it now):\n\n    {k}\n"
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let state = Arc::new(AppState::new(store.clone(), cfg.clone()));
    // Daily quotas survive restarts (saved each minute and at shutdown).
    crate::http::quotas::load(&state);
    let quota_state = state.clone();
    let quota_task_state = state.clone();
    // The CLI (`iocd import`, `stats`, `export`, `keys`, `backup`,
    // `verify`) reaches the running server here.
    let _control = crate::ops::control::serve(state.clone(), &dd)
        .map_err(
            |e| tracing::warn!(error = %e, "no control socket: the CLI cannot reach this server"),
        )
        .ok();
    // Files dropped into the inbox are imported while serving.
    let _inbox = crate::ops::inbox::Inbox::from_config(&cfg).and_then(|ib| {
        let dir = ib.dir.clone();
        crate::ops::inbox::start(store.clone(), ib)
            .map_err(
                |e| tracing::error!(inbox = %dir.display(), error = format!("{e:#}"), "no inbox"),
            )
            .ok()
    });
    let demo_store = store.clone();
    let feed_store = store.clone();
    let feed_rt = rt.handle().clone();
    rt.block_on(async move {
        // Before the listen line, so a SIGHUP never meets the default action.
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        let paths = Arc::new((args.config.clone(), args.data_dir.clone()));
        let overrides = (args.listen, args.no_demo);
        let hup_state = state.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                sdnotify::reloading();
                tracing::info!("SIGHUP: reloading the config and TLS certificate");
                let (p, st, res) = (paths.clone(), hup_state.clone(), resolver.clone());
                let ok = tokio::task::spawn_blocking(move || reload(&p, overrides, &st, &res))
                    .await
                    .unwrap_or(false);
                crate::http::handlers::metrics::tls_reloaded(ok);
                sdnotify::ready(if ok {
                    "serving; config and certificate reloaded"
                } else {
                    "serving; reload FAILED (see the log)"
                });
            }
        });
        let l = tokio::net::TcpListener::bind(cfg.server.listen)
            .await
            .map_err(|e| bind_error(cfg.server.listen, &e))?;
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
            super::notice(&format!("Loaded {} demo IOCs (tag 'demo'; source 'iocd-demo'). Import real data with `iocd import` or POST /api/v1/iocs.", r.new));
        }
        // Scheduled feeds start once the listeners are ours, before the
        // listen line (after it, `iocd feeds` may ask for them).
        crate::feeds::start(feed_store, &dd, &cfg.feeds, feed_rt);
        if !cfg.feeds.is_empty() {
            tracing::info!(feeds = cfg.feeds.len(), enabled = cfg.feeds.iter().filter(|f| f.enabled).count(), "feeds scheduled");
        }
        let local = l.local_addr()?;
        super::notice(&format!(
            "iocd {} listening on https://{local}/ (health: https://{local}/api/v1/health)",
            env!("CARGO_PKG_VERSION")
        ));
        super::notice(&format!("CA certificate for clients: {}", ca.display()));
        if let Some(p) = &plain {
            super::notice(&format!(
                "plaintext HTTP also on http://{}/ (config: server.plaintext_listen)",
                p.local_addr()?
            ));
        }
        let quota_saver = tokio::spawn(crate::http::quotas::save_periodically(quota_task_state));
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
        quota_saver.abort();
        anyhow::Ok(())
    })?;
    crate::http::quotas::save(&quota_state);
    store.flush()?;
    super::notice("iocd stopped; store flushed.");
    Ok(0)
}

/// Why the HTTPS listener could not be bound, and how to pick another
/// address: a busy port on the first start is the most common newcomer
/// stop.
fn bind_error(addr: SocketAddr, e: &std::io::Error) -> anyhow::Error {
    let how = format!(
        "choose another with `iocd serve --listen {}:PORT` (or [server] listen in the config)",
        match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    );
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {} on {} is already in use by another process (see `ss -ltnp 'sport = :{}'`)",
            addr.port(),
            addr.ip(),
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "port {} is privileged (below 1024) and this process may not bind it",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("{} is not an address of this host", addr.ip())
        }
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot listen on {addr}: {why}; {how}")
}
