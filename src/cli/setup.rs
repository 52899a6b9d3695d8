//! Shared start-up steps for the commands: resolve the config and data
//! directory, open the store with a helpful message, create the first
//! admin key.

use crate::config::Config;
use crate::store::Store;
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};

/// Loads the config (`None`: built-in defaults), applies a `--data-dir`
/// override, and prints each config error with its line.
pub fn load_config(path: Option<&Path>, data_dir: Option<&Path>) -> Result<Config> {
    let mut cfg = Config::load(path).map_err(|errs| {
        for e in &errs {
            eprintln!("error: {e}");
        }
        anyhow!(
            "the configuration has {} error(s); fix them and try again (iocd check-config)",
            errs.len()
        )
    })?;
    if let Some(d) = data_dir {
        cfg.storage.data_dir = d.to_path_buf();
    }
    crate::articles::config::set(&cfg.articles);
    Ok(cfg)
}

/// The store directory inside a data directory.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Opens the store in `data_dir/store`, creating the directory. A store
/// held by a running server gets an explanation instead of a sled error.
pub fn open_store(data_dir: &Path) -> Result<Store> {
    open_store_with_cache(data_dir, crate::store::DEFAULT_CACHE_BYTES)
}

/// [`open_store`] with a sled page-cache budget in bytes.
pub fn open_store_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<Store> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    Store::open_with_cache(&store_dir(data_dir), cache_bytes).map_err(|e| {
        anyhow!(
            "{e}\nhint: if `iocd serve` is running on this data directory, stop it first, or use the HTTP API \
             (POST /api/v1/iocs to import, /api/v1/keys to manage keys) while it runs"
        )
    })
}

/// Creates the first admin key when the store has none. Returns the key
/// text (to show once) if one was created.
pub fn ensure_admin_key(store: &Store) -> Result<Option<String>> {
    if !store.has_no_keys() {
        return Ok(None);
    }
    let (key, rec) = crate::apikeys::new_key("admin", "pro", vec!["admin".into()])?;
    store.put_key(&rec)?;
    Ok(Some(key))
}
