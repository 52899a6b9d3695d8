//! Authentication: where the key is read from (spec overview,
//! "Authentication", plus HTTP Basic for TAXII clients), verification with a
//! hot-path cache, and the per-IP failure budget.
//!
//! Cost model: a malformed key or an unknown key id is rejected with string
//! checks and one sled read — no argon2. A known id with a secret not yet
//! seen costs one argon2 verification (on the blocking pool); after that the
//! SHA-256 of the secret is cached per key id, so the hot path is a hash and
//! a map lookup.

use super::error::ApiError;
use crate::apikeys::{parse_key, verify_secret};
use crate::config::TierConfig;
use crate::store::keys::ApiKeyRecord;
use crate::store::Store;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::http::request::Parts;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often `last_used` is written back to the store per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub tier: String,
    /// The key's scopes cut to what its tier allows.
    pub scopes: Vec<String>,
    pub limits: TierConfig,
}

struct Cached {
    digest: [u8; 32],
    record: ApiKeyRecord,
    touched: Instant,
}

/// Verifies keys against the store and caches verified secrets.
pub struct Authenticator {
    store: Arc<Store>,
    cache: Mutex<HashMap<String, Cached>>,
}

fn sha256(s: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Reads the key from, in order: `Authorization: Bearer`, `Authorization:
/// Basic` (password = key; the user name is ignored), `X-API-Key`, and the
/// `api_key` query parameter. `Ok(None)` when none is present.
pub fn extract_key(parts: &Parts, query_key: Option<&str>) -> Result<Option<String>, ApiError> {
    if let Some(v) = parts.headers.get(hyper::header::AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| ApiError::invalid_key("malformed"))?
            .trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Ok(Some(rest.to_string()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = STANDARD
                .decode(rest)
                .map_err(|_| ApiError::invalid_key("malformed"))?;
            let text = String::from_utf8(raw).map_err(|_| ApiError::invalid_key("malformed"))?;
            let pass = text.split_once(':').map(|(_, p)| p).unwrap_or(&text);
            return Ok(Some(pass.to_string()));
        }
        return Err(ApiError::invalid_key("malformed"));
    }
    if let Some(v) = parts.headers.get("x-api-key") {
        let v = v.to_str().map_err(|_| ApiError::invalid_key("malformed"))?;
        return Ok(Some(v.trim().to_string()));
    }
    Ok(query_key.map(|k| k.trim().to_string()))
}

/// Why a key was refused (maps to 401 `invalid_api_key` with this reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Unknown,
    Revoked,
}

impl Refusal {
    /// The `details.reason` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Unknown => "unknown",
            Refusal::Revoked => "revoked",
        }
    }
}

impl Authenticator {
    /// An authenticator over the store's `keys` tree.
    pub fn new(store: Arc<Store>) -> Authenticator {
        Authenticator {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies `key`; on success returns the record.
    ///
    /// Errors: `Ok(Err(Refusal))` for a client's bad key; `Err` for a store
    /// failure.
    pub async fn verify(&self, key: &str) -> Result<Result<ApiKeyRecord, Refusal>, ApiError> {
        let Some(p) = parse_key(key) else {
            return Ok(Err(Refusal::Malformed));
        };
        let digest = sha256(p.secret);
        {
            let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = c.get_mut(p.id) {
                if hit.digest == digest {
                    if hit.record.revoked.is_some() {
                        return Ok(Err(Refusal::Revoked));
                    }
                    let rec = hit.record.clone();
                    if hit.touched.elapsed() >= TOUCH_EVERY {
                        hit.touched = Instant::now();
                        drop(c);
                        self.touch(&rec);
                    }
                    return Ok(Ok(rec));
                }
            }
        }
        let Some(rec) = self.store.get_key(p.id)? else {
            return Ok(Err(Refusal::Unknown));
        };
        let secret = p.secret.to_string();
        let phc = rec.hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify_secret(&secret, &phc))
            .await
            .map_err(ApiError::internal)?;
        if !ok {
            return Ok(Err(Refusal::Unknown));
        }
        if rec.revoked.is_some() {
            return Ok(Err(Refusal::Revoked));
        }
        self.touch(&rec);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
            rec.id.clone(),
            Cached {
                digest,
                record: rec.clone(),
                touched: Instant::now(),
            },
        );
        Ok(Ok(rec))
    }

    /// Writes `last_used` (best effort, not flushed: losing it is harmless).
    fn touch(&self, rec: &ApiKeyRecord) {
        if let Ok(Some(mut r)) = self.store.get_key(&rec.id) {
            r.last_used = Some(chrono::Utc::now().timestamp_micros());
            let _ = self.store.put_key_unflushed(&r);
        }
    }

    /// True when `key` is a verified, unrevoked key in the cache (no
    /// hashing beyond one SHA-256, no store read).
    pub fn is_cached(&self, key: &str) -> bool {
        let Some(p) = parse_key(key) else {
            return false;
        };
        let c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        c.get(p.id)
            .is_some_and(|hit| hit.digest == sha256(p.secret) && hit.record.revoked.is_none())
    }

    /// Drops a key from the cache so a revocation takes effect at once.
    pub fn forget(&self, key_id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key_id);
    }
}

/// The principal for a verified record under the configured tiers. An
/// unknown tier (removed from the config) gets no scopes and the strictest
/// limits, so the key fails closed.
pub fn principal(
    rec: &ApiKeyRecord,
    tiers: &std::collections::BTreeMap<String, TierConfig>,
) -> Principal {
    let (limits, scopes) = match tiers.get(&rec.tier) {
        Some(t) => {
            // The tier bounds every key, admin keys included: a free-tier
            // key never reaches a Pro format.
            let s: Vec<String> = rec
                .scopes
                .iter()
                .filter(|s| t.scopes.contains(s))
                .cloned()
                .collect();
            (t.clone(), s)
        }
        None => (
            TierConfig {
                requests_per_minute: 1,
                requests_per_day: 1,
                lookback_days: 1,
                scopes: Vec::new(),
            },
            Vec::new(),
        ),
    };
    Principal {
        key_id: rec.id.clone(),
        name: rec.name.clone(),
        tier: rec.tier.clone(),
        scopes,
        limits,
    }
}
