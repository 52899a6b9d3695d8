//! Authentication: where the key is read from (spec overview,
//! "Authentication", plus HTTP Basic for TAXII clients), verification with a
//! hot-path cache, and a server-wide cap on argon2 work.
//!
//! Cost model (docs/design.md, "API keys and auth"; issue #11, items 1, 4, 5):
//! - a malformed key costs string checks only;
//! - a verified key is cached (SHA-256 of the secret per key id), so the
//!   hot path is a hash and a map lookup;
//! - everything else — a key's first use, a wrong secret, an unknown key
//!   id — costs exactly one argon2 verification. An unknown id is checked
//!   against a dummy hash ([`crate::apikeys::dummy_hash`]), so response time
//!   does not tell which ids exist. These verifications run on the blocking
//!   pool under a server-wide cap ([`AuthConfig::max_concurrent_verifications`]
//!   slots, [`AuthConfig::max_queued_verifications`] waiting); past that the
//!   answer is [`Verdict::Busy`] at once, never an unbounded queue.
//!   The per-address failure budget is charged by the caller
//!   (`http::gate_any`) before [`Authenticator::verify`] runs.
//!
//! Revocation ([`Authenticator::forget`]) bumps an epoch under the cache
//! lock; a verification that read the store before the bump re-reads the
//! record instead of caching what it read, so a DELETE landing while a
//! key's first verification is in flight still wins.

use super::error::ApiError;
use crate::apikeys::{dummy_hash, parse_key, verify_secret};
use crate::config::{AuthConfig, TierConfig};
use crate::store::keys::ApiKeyRecord;
use crate::store::Store;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::http::request::Parts;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often `last_used` is written back to the store per key, and the
/// cached record re-checked against the store.
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
    /// The key's configured source name for the IOCs it writes (see
    /// [`Principal::source_name_or`]).
    pub source_name: Option<String>,
}

impl Principal {
    /// The source name to record on IOCs this caller writes: the key's
    /// configured source name, else `default` (the write path's neutral
    /// name, `api` or `taxii`). Never the key's id or name: IOC sources are
    /// visible to every reader (issue #11, item 5).
    pub fn source_name_or(&self, default: &str) -> String {
        self.source_name
            .clone()
            .unwrap_or_else(|| default.to_string())
    }
}

struct Cached {
    digest: [u8; 32],
    record: ApiKeyRecord,
    touched: Instant,
}

/// The verified-key cache and its revocation epoch, under one lock so a
/// fill and a revocation are ordered.
#[derive(Default)]
struct Cache {
    entries: HashMap<String, Cached>,
    /// Bumped by every [`Authenticator::forget`]. A fill whose store read
    /// happened before a bump does not land.
    epoch: u64,
}

/// The outcome of [`Authenticator::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A valid, unrevoked key.
    Valid(ApiKeyRecord),
    /// A client's bad key (401 `invalid_api_key` with this reason).
    Refused(Refusal),
    /// Every verification slot is busy and the waiting line is full: answer
    /// 503 with `Retry-After` (the key was not checked).
    Busy,
}

/// Verifies keys against the store and caches verified secrets.
pub struct Authenticator {
    store: Arc<Store>,
    cache: Mutex<Cache>,
    /// One permit per argon2 verification allowed to run at once. The
    /// permit moves into the blocking task, so a client that goes away
    /// mid-verification does not free its slot before the work ends.
    slots: Arc<Semaphore>,
    /// Requests waiting for a slot now (bounded by `max_queued`).
    queued: AtomicUsize,
    max_queued: usize,
    /// Test-only: runs between a successful verification and the cache
    /// fill, to force a revocation into that window.
    #[cfg(test)]
    before_fill: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

/// Decrements the waiting count when a waiter leaves (slot or cancelled).
struct QueueSpot<'a>(&'a AtomicUsize);

impl Drop for QueueSpot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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
    /// An authenticator over the store's `keys` tree with the `[auth]`
    /// verification limits (read once: they apply at the next restart).
    pub fn new(store: Arc<Store>, auth: &AuthConfig) -> Authenticator {
        Authenticator {
            store,
            cache: Mutex::new(Cache::default()),
            slots: Arc::new(Semaphore::new(auth.verification_slots().max(1))),
            queued: AtomicUsize::new(0),
            max_queued: auth.max_queued_verifications,
            #[cfg(test)]
            before_fill: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Verifies `key`.
    ///
    /// A cached key answers at once. Otherwise one argon2 verification runs
    /// (against the dummy hash for an unknown id) under the server-wide cap;
    /// [`Verdict::Busy`] when no slot is free and the waiting line is full.
    /// A wrong secret and an unknown id both give `Refused(Unknown)`; a
    /// revoked key gives `Refused(Revoked)` only with its right secret.
    ///
    /// Errors: `Err` for a store failure only.
    pub async fn verify(&self, key: &str) -> Result<Verdict, ApiError> {
        let Some(p) = parse_key(key) else {
            return Ok(Verdict::Refused(Refusal::Malformed));
        };
        let digest = sha256(p.secret);
        if let Some(v) = self.cached(p.id, &digest) {
            return Ok(v);
        }
        let Some(permit) = self.slot().await else {
            return Ok(Verdict::Busy);
        };
        let epoch = self.lock().epoch;
        let stored = self.store.get_key(p.id)?;
        let secret = p.secret.to_string();
        let phc = stored
            .as_ref()
            .map_or_else(|| dummy_hash().to_string(), |r| r.hash.clone());
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_secret(&secret, &phc)
        })
        .await
        .map_err(ApiError::internal)?;
        let Some(rec) = stored.filter(|_| ok) else {
            return Ok(Verdict::Refused(Refusal::Unknown));
        };
        if rec.revoked.is_some() {
            return Ok(Verdict::Refused(Refusal::Revoked));
        }
        #[cfg(test)]
        {
            let hook = self
                .before_fill
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(f) = hook {
                f();
            }
        }
        let rec = {
            let mut c = self.lock();
            if c.epoch == epoch {
                c.entries.insert(
                    rec.id.clone(),
                    Cached {
                        digest,
                        record: rec.clone(),
                        touched: Instant::now(),
                    },
                );
                rec
            } else {
                // A key was revoked (or forgotten) since the store read:
                // what was read may be stale. Re-read it and do not cache.
                drop(c);
                match self.store.get_key(p.id)? {
                    Some(fresh) if fresh.hash == rec.hash => {
                        if fresh.revoked.is_some() {
                            return Ok(Verdict::Refused(Refusal::Revoked));
                        }
                        fresh
                    }
                    _ => return Ok(Verdict::Refused(Refusal::Unknown)),
                }
            }
        };
        self.touch(&rec);
        Ok(Verdict::Valid(rec))
    }

    /// The verdict for a cached key with this secret digest, if cached.
    fn cached(&self, id: &str, digest: &[u8; 32]) -> Option<Verdict> {
        let mut c = self.lock();
        let hit = c.entries.get_mut(id).filter(|h| &h.digest == digest)?;
        if hit.record.revoked.is_some() {
            return Some(Verdict::Refused(Refusal::Revoked));
        }
        let rec = hit.record.clone();
        if hit.touched.elapsed() >= TOUCH_EVERY {
            hit.touched = Instant::now();
            drop(c);
            self.touch(&rec);
        }
        Some(Verdict::Valid(rec))
    }

    /// A verification slot: at once if one is free, else after waiting in
    /// a line of at most `max_queued`; `None` when that line is full.
    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Some(p);
        }
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let _spot = QueueSpot(&self.queued);
        self.slots.clone().acquire_owned().await.ok()
    }

    /// Writes `last_used` (best effort, not flushed: losing it is
    /// harmless) and re-checks the stored record: a key revoked or rotated
    /// behind the cache's back leaves the cache.
    fn touch(&self, rec: &ApiKeyRecord) {
        let _ = self
            .store
            .touch_key(&rec.id, chrono::Utc::now().timestamp_micros());
        match self.store.get_key(&rec.id) {
            Ok(Some(r)) if r.revoked.is_none() && r.hash == rec.hash => {}
            Ok(_) => self.forget(&rec.id),
            Err(_) => {}
        }
    }

    /// True when `key` is a verified, unrevoked key in the cache (no
    /// hashing beyond one SHA-256, no store read).
    pub fn is_cached(&self, key: &str) -> bool {
        let Some(p) = parse_key(key) else {
            return false;
        };
        let c = self.lock();
        c.entries
            .get(p.id)
            .is_some_and(|hit| hit.digest == sha256(p.secret) && hit.record.revoked.is_none())
    }

    /// Drops a key from the cache so a revocation takes effect at once,
    /// including over a verification of that key still in flight (see the
    /// module docs). Call it after the revoked record is in the store.
    pub fn forget(&self, key_id: &str) {
        let mut c = self.lock();
        c.epoch += 1;
        c.entries.remove(key_id);
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
        source_name: rec.source_name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikeys::new_key;

    fn setup(slots: usize, queued: usize) -> (tempfile::TempDir, Arc<Store>, Arc<Authenticator>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
        let cfg = AuthConfig {
            max_concurrent_verifications: slots,
            max_queued_verifications: queued,
            ..AuthConfig::default()
        };
        let auth = Arc::new(Authenticator::new(store.clone(), &cfg));
        (dir, store, auth)
    }

    fn stored_key(store: &Store) -> (String, ApiKeyRecord) {
        let (key, rec) = new_key("siem", "pro", vec!["read:iocs".into()]).unwrap();
        store.put_key(&rec).unwrap();
        (key, rec)
    }

    /// Issue #11, item 4, with the race forced: the DELETE lands after the
    /// store read and the argon2 check of the key's first use, before the
    /// cache fill. The old code cached the unrevoked record and the key
    /// kept working until restart.
    #[tokio::test]
    async fn revocation_during_first_verification_wins() {
        let (_d, store, auth) = setup(2, 4);
        let (key, rec) = stored_key(&store);
        let (s2, weak) = (store.clone(), Arc::downgrade(&auth));
        let id = rec.id.clone();
        *auth.before_fill.lock().unwrap() = Some(Box::new(move || {
            // What `DELETE /api/v1/keys/{id}` does.
            let mut k = s2.get_key(&id).unwrap().unwrap();
            k.revoked = Some(1);
            s2.put_key(&k).unwrap();
            if let Some(a) = weak.upgrade() {
                a.forget(&id);
            }
        }));
        assert_eq!(
            auth.verify(&key).await.unwrap(),
            Verdict::Refused(Refusal::Revoked)
        );
        assert!(!auth.is_cached(&key));
        assert_eq!(
            auth.verify(&key).await.unwrap(),
            Verdict::Refused(Refusal::Revoked)
        );
    }

    /// Without a revocation the first verification fills the cache.
    #[tokio::test]
    async fn first_use_fills_the_cache_and_forget_empties_it() {
        let (_d, store, auth) = setup(2, 4);
        let (key, rec) = stored_key(&store);
        assert!(matches!(auth.verify(&key).await.unwrap(), Verdict::Valid(r) if r.id == rec.id));
        assert!(auth.is_cached(&key));
        let wrong = format!("sk_live_{}_{}", rec.id, "B".repeat(32));
        assert!(!auth.is_cached(&wrong));
        auth.forget(&rec.id);
        assert!(!auth.is_cached(&key));
    }

    /// Unknown ids and wrong secrets both need an argon2 slot (the unknown
    /// id is checked against the dummy hash), so with the only slot taken
    /// and no waiting line both are `Busy`; the old code answered the
    /// unknown id at once. Malformed and cached keys need no slot.
    #[tokio::test]
    async fn every_unverified_key_costs_one_slot() {
        let (_d, store, auth) = setup(1, 0);
        let (key, rec) = stored_key(&store);
        assert!(matches!(
            auth.verify(&key).await.unwrap(),
            Verdict::Valid(_)
        ));
        let held = auth.slots.clone().try_acquire_owned().unwrap();
        let unknown = format!("sk_live_{}_{}", "0".repeat(16), "A".repeat(32));
        let wrong = format!("sk_live_{}_{}", rec.id, "A".repeat(32));
        assert_eq!(auth.verify(&unknown).await.unwrap(), Verdict::Busy);
        assert_eq!(auth.verify(&wrong).await.unwrap(), Verdict::Busy);
        assert_eq!(
            auth.verify("sk_live_nope").await.unwrap(),
            Verdict::Refused(Refusal::Malformed)
        );
        assert!(matches!(
            auth.verify(&key).await.unwrap(),
            Verdict::Valid(_)
        ));
        drop(held);
        assert_eq!(
            auth.verify(&unknown).await.unwrap(),
            Verdict::Refused(Refusal::Unknown)
        );
        assert_eq!(
            auth.verify(&wrong).await.unwrap(),
            Verdict::Refused(Refusal::Unknown)
        );
    }

    /// The waiting line is bounded: with the slot taken and one waiter, the
    /// next request is `Busy` at once; the waiter runs when the slot frees.
    #[tokio::test]
    async fn waiting_line_is_bounded() {
        let (_d, _store, auth) = setup(1, 1);
        let unknown = format!("sk_live_{}_{}", "1".repeat(16), "A".repeat(32));
        let held = auth.slots.clone().try_acquire_owned().unwrap();
        let (a2, k2) = (auth.clone(), unknown.clone());
        let waiter = tokio::spawn(async move { a2.verify(&k2).await.unwrap() });
        while auth.queued.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(auth.verify(&unknown).await.unwrap(), Verdict::Busy);
        drop(held);
        assert_eq!(waiter.await.unwrap(), Verdict::Refused(Refusal::Unknown));
        assert_eq!(auth.queued.load(Ordering::SeqCst), 0);
    }

    /// A record revoked behind the cache's back (not through `forget`)
    /// leaves the cache at the next re-check.
    #[tokio::test]
    async fn touch_drops_a_key_revoked_in_the_store() {
        let (_d, store, auth) = setup(2, 4);
        let (key, rec) = stored_key(&store);
        assert!(matches!(
            auth.verify(&key).await.unwrap(),
            Verdict::Valid(_)
        ));
        let mut k = store.get_key(&rec.id).unwrap().unwrap();
        assert!(k.last_used.is_some());
        k.revoked = Some(1);
        store.put_key(&k).unwrap();
        auth.touch(&rec);
        assert!(!auth.is_cached(&key));
        // touch_key kept the revocation.
        assert!(store.get_key(&rec.id).unwrap().unwrap().revoked.is_some());
    }
}
