//! `iocd init`: write a commented config, generate TLS material and the
//! first admin key.

use super::setup::{create_store_with_cache, ensure_admin_key, load_config};
use crate::certs::ensure_certificates;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Prepares a data directory and config file for `iocd serve --config`.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Data directory to create.
    #[arg(long, default_value = "./iocd-data")]
    pub data_dir: PathBuf,
    /// Where to write the config file.
    #[arg(long, short, default_value = "./iocd.toml")]
    pub config: PathBuf,
    /// Extra DNS names / IPs for the generated certificate.
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// Overwrite an existing config file.
    #[arg(long)]
    pub force: bool,
    /// Let `iocd serve` load generated demo IOCs (source `iocd-demo`) when
    /// the store is empty. Without it the written config has
    /// `seed_when_empty = false`: a managed install starts with a clean
    /// production store. Remove demo data later with
    /// `iocd purge --source iocd-demo`.
    #[arg(long)]
    pub demo: bool,
}

/// Runs `iocd init`. The admin key goes to stdout alone (scripts capture
/// it); everything else to stderr.
pub fn run(args: &InitArgs) -> Result<i32> {
    if args.config.exists() && !args.force {
        bail!(
            "{} already exists; use --force to overwrite it, or --config to write elsewhere",
            args.config.display()
        );
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let dd = std::fs::canonicalize(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone());
    let mut text = crate::config::template(&dd);
    if !args.demo {
        text = text.replace(
            "seed_when_empty = true",
            "seed_when_empty = false  # written by `iocd init` without --demo (the built-in default is true)",
        );
    }
    if !args.names.is_empty() {
        let list = args
            .names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        text = text.replace("extra_names = []", &format!("extra_names = [{list}]"));
    }
    if let Some(dir) = args.config.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.config, &text)
        .with_context(|| format!("writing {}", args.config.display()))?;
    let cfg = load_config(Some(&args.config), None)?;
    let (ca, cert, key) = (
        cfg.data_path(&cfg.tls.ca),
        cfg.data_path(&cfg.tls.cert),
        cfg.data_path(&cfg.tls.key),
    );
    ensure_certificates(&ca, &cert, &key, &cfg.tls.extra_names)?;
    let store = create_store_with_cache(&cfg.storage.data_dir, crate::store::DEFAULT_CACHE_BYTES)?;
    let (_, new_key) = crate::ops::backup_key::load_or_create(&cfg.storage.data_dir)?;
    eprintln!("Wrote {}", args.config.display());
    if new_key {
        eprintln!(
            "Backup signing key {} (mode 0600): keep a copy apart from the backups",
            crate::ops::backup_key::path(&cfg.storage.data_dir).display()
        );
    }
    eprintln!(
        "TLS certificate {} (clients trust {})",
        cert.display(),
        ca.display()
    );
    match ensure_admin_key(&store)? {
        Some(k) => {
            eprintln!("Admin API key (shown only this once):");
            println!("{k}");
        }
        None => eprintln!("The store already has API keys; no new admin key created."),
    }
    eprintln!("Start with: iocd serve --config {}", args.config.display());
    Ok(0)
}
