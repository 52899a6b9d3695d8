//! `iocd keys create|list|revoke|rotate`.
//!
//! With the server stopped this opens the store; while `iocd serve` runs,
//! the server runs the same [`execute`] over the control socket
//! ([`crate::cli::live`]) with its own tiers, and a revoked or rotated key
//! stops authenticating at once (the server drops it from its verified-key
//! cache, as `DELETE /api/v1/keys/{id}` does).

use super::setup::{load_config, open_store};
use crate::apikeys::{check_scopes_for_tier, check_source_name, new_key};
use crate::config::Config;
use crate::store::Store;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// API key management.
#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub cmd: KeysCmd,
    /// Config file (for the tier list).
    #[arg(long, short, global = true, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, global = true, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Create the store when the data directory has none (the package's
    /// first install creates its first admin key so); otherwise a missing
    /// store is an error.
    #[arg(long, global = true)]
    pub create: bool,
}

/// The key subcommands (also the control socket's `keys` request).
#[derive(clap::Subcommand, Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeysCmd {
    /// Create a key; prints only the key on stdout, details on stderr.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free")]
        tier: String,
        /// Comma-separated scopes (default: the tier's scopes).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Source name recorded on the IOCs this key writes over the API
        /// (default: `api`, or `taxii` for TAXII submissions). Readers see
        /// it; the key's id and name never appear in IOC data.
        #[arg(long)]
        source_name: Option<String>,
    },
    /// List keys (never secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke { id: String },
    /// Give a key a new secret (same id, name, tier and scopes); prints
    /// only the new key on stdout. The old secret stops working.
    Rotate { id: String },
}

fn ts(m: Option<i64>) -> String {
    m.and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}

/// Runs `iocd keys ...` (through the running server if there is one).
pub fn run(args: &KeysArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let req = super::live::Request::Keys {
        keys: args.cmd.clone(),
    };
    if let Some(code) = super::live::run_remote(&cfg.storage.data_dir, &req)? {
        return Ok(code);
    }
    let store = if args.create {
        super::setup::create_store_with_cache(
            &cfg.storage.data_dir,
            crate::store::DEFAULT_CACHE_BYTES,
        )?
    } else {
        open_store(&cfg.storage.data_dir)?
    };
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    execute(
        &store,
        &cfg,
        &args.cmd,
        &mut stdout.lock(),
        &mut stderr.lock(),
    )?;
    // Run as root on a stopped appliance: leave the store to its owner.
    drop(store);
    let dd = &cfg.storage.data_dir;
    if let Err(e) = crate::ops::match_owner(&super::setup::store_dir(dd), dd) {
        eprintln!("warning: could not restore the owner of the store: {e}");
    }
    Ok(0)
}

/// Runs one key subcommand on `store` with the tiers of `cfg`: the key
/// (create, rotate) or the listing on `out`, details on `err`. Errors: an
/// unknown tier, id or scope, a revoked key to rotate, a store failure —
/// with the message the CLI prints.
pub fn execute(
    store: &Store,
    cfg: &Config,
    cmd: &KeysCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match cmd {
        KeysCmd::Create {
            name,
            tier,
            scopes,
            source_name,
        } => {
            let Some(t) = cfg.tiers.get(tier) else {
                bail!(
                    "unknown tier '{tier}'; configured tiers: {}",
                    cfg.tiers.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            };
            let scopes = if scopes.is_empty() {
                t.scopes.clone()
            } else {
                scopes.clone()
            };
            let scopes = check_scopes_for_tier(&scopes, tier, &t.scopes)?;
            let source_name = source_name.as_deref().map(check_source_name).transpose()?;
            let (key, mut rec) = new_key(name, tier, scopes)?;
            rec.source_name = source_name;
            store.put_key(&rec)?;
            writeln!(
                err,
                "created key id {} name '{}' tier {} scopes {} source '{}'",
                rec.id,
                rec.name,
                rec.tier,
                rec.scopes.join(","),
                rec.source_name.as_deref().unwrap_or("api")
            )?;
            writeln!(out, "{key}")?;
        }
        KeysCmd::List { json } => {
            let keys = store.list_keys()?;
            if *json {
                let v: Vec<_> = keys.iter().map(crate::http::handlers::key_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(
                    out,
                    "{:<16}  {:<20}  {:<6}  {:<20}  {:<20}  scopes",
                    "id", "name", "tier", "created", "revoked"
                )?;
                for k in keys {
                    writeln!(
                        out,
                        "{:<16}  {:<20}  {:<6}  {:<20}  {:<20}  {}",
                        k.id,
                        k.name,
                        k.tier,
                        ts(Some(k.created)),
                        ts(k.revoked),
                        k.scopes.join(",")
                    )?;
                }
            }
        }
        KeysCmd::Rotate { id } => {
            let Some(k) = store.get_key(id)? else {
                bail!("no key with id '{id}' (see `iocd keys list`)");
            };
            if k.revoked.is_some() {
                bail!("key {id} is revoked; create a new key instead (iocd keys create)");
            }
            let (key, rec) = crate::apikeys::rotate_key(&k)?;
            store.put_key(&rec)?;
            writeln!(
                err,
                "rotated key id {} name '{}' tier {}: the old secret no longer works",
                rec.id, rec.name, rec.tier
            )?;
            writeln!(out, "{key}")?;
        }
        KeysCmd::Revoke { id } => {
            let Some(mut k) = store.get_key(id)? else {
                bail!("no key with id '{id}' (see `iocd keys list`)");
            };
            if k.revoked.is_some() {
                writeln!(err, "key {id} was already revoked")?;
            } else {
                k.revoked = Some(chrono::Utc::now().timestamp_micros());
                store.put_key(&k)?;
                writeln!(err, "revoked key {id}")?;
            }
        }
    }
    out.flush()?;
    err.flush()?;
    Ok(())
}
