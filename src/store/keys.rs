//! API key records in the `keys` tree: key id → [`ApiKeyRecord`].
//! Only the argon2 PHC hash of the secret is stored (DESIGN.md, "API keys").

use super::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};

/// A stored API key. Times are microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The public part of `sk_live_<id>_<secret>`: 16 lower-case hex chars.
    pub id: String,
    pub name: String,
    /// Tier name from the config (`free`, `pro`, ...).
    pub tier: String,
    /// Scopes (`read:iocs`, `admin`, ...).
    pub scopes: Vec<String>,
    /// argon2id PHC string of the secret.
    pub hash: String,
    pub created: i64,
    pub last_used: Option<i64>,
    pub revoked: Option<i64>,
}

impl Store {
    /// Inserts or replaces a key record and flushes.
    pub fn put_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.keys.insert(k.id.as_bytes(), codec::encode(k))?;
        self.keys.flush()?;
        Ok(())
    }

    /// Inserts or replaces a key record without flushing (`last_used`).
    pub fn put_key_unflushed(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.keys.insert(k.id.as_bytes(), codec::encode(k))?;
        Ok(())
    }

    /// The key record with this id.
    pub fn get_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        match self.keys.get(id.as_bytes())? {
            Some(b) => codec::decode(&b).map(Some).map_err(|e| StoreError::Codec {
                key: format!("key {id}"),
                source: e,
            }),
            None => Ok(None),
        }
    }

    /// Every key record, ordered by id.
    pub fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut v = Vec::new();
        for kv in self.keys.iter() {
            let (k, b) = kv?;
            v.push(codec::decode(&b).map_err(|e| StoreError::Codec {
                key: format!("key {}", String::from_utf8_lossy(&k)),
                source: e,
            })?);
        }
        Ok(v)
    }

    /// True when no key exists yet (first start).
    pub fn has_no_keys(&self) -> bool {
        self.keys.is_empty()
    }
}
