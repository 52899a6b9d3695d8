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

/// Opens the existing store in `data_dir/store`. A data directory with no
/// store (a mistyped `--data-dir`) is refused with an explanation instead
/// of silently creating an empty store: only `init`, `serve` and
/// `import --create` create one ([`create_store_with_cache`]). A store
/// held by a running server gets an explanation instead of a sled error.
pub fn open_store(data_dir: &Path) -> Result<Store> {
    open_store_with_cache(data_dir, crate::store::DEFAULT_CACHE_BYTES)
}

/// [`open_store`] with a sled page-cache budget in bytes.
pub fn open_store_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<Store> {
    ensure_store_exists(data_dir)?;
    open_or_create(data_dir, cache_bytes)
}

/// Opens the store in `data_dir/store`, creating the data directory and
/// an empty store when there is none (`init`, `serve`, `import --create`).
pub fn create_store_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<Store> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    open_or_create(data_dir, cache_bytes)
}

/// Whether `data_dir` holds an iocd store (sled writes `store/conf` when
/// it creates one).
pub fn store_exists(data_dir: &Path) -> bool {
    store_dir(data_dir).join("conf").is_file()
}

/// Err with the newcomer's explanation when `data_dir` holds no store.
pub fn ensure_store_exists(data_dir: &Path) -> Result<()> {
    if store_exists(data_dir) {
        return Ok(());
    }
    let what = if data_dir.is_dir() {
        "holds no iocd store"
    } else {
        "does not exist"
    };
    Err(anyhow!(
        "the data directory {} {what}\nhint: check --data-dir (or [storage] data_dir in the config given with --config; \
         the packaged one is /etc/iocd/iocd.toml). `iocd init` creates a store, and `iocd import --create` imports into a new one",
        data_dir.display()
    ))
}

fn open_or_create(data_dir: &Path, cache_bytes: u64) -> Result<Store> {
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
