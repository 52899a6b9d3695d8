//! Rate-limit state kept across restarts, in its own sled tree `quotas`:
//! key id → [`QuotaState`] (the per-minute and per-day buckets of one API
//! key). Without it a restart would hand every key a full daily quota.
//!
//! The server saves the buckets that are not full once a minute and at
//! shutdown ([`crate::http::quotas`]), so a crash forgets at most the last
//! minute of counting. The tree is not in backups: a restored store starts
//! with full quotas.

use super::{Store, StoreError};

/// The tree's name in the sled database.
const TREE: &str = "quotas";
/// Format byte of a value (the 33-byte layout below).
const FORMAT: u8 = 1;
/// Longest key id stored (ids are 16 hex characters).
const MAX_KEY_ID: usize = 64;

/// A key's two token buckets as persisted: tokens left, the capacities
/// (the tier's requests per minute and per day when saved) and the wall
/// clock time of the save in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaState {
    pub minute_tokens: f64,
    pub minute_capacity: u32,
    pub day_tokens: f64,
    pub day_capacity: u32,
    pub saved_unix_ms: i64,
}

impl QuotaState {
    /// `format u8 ++ minute_tokens f64 ++ minute_capacity u32 ++ day_tokens
    /// f64 ++ day_capacity u32 ++ saved_unix_ms i64`, big-endian.
    fn encode(&self) -> [u8; 33] {
        let mut b = [0u8; 33];
        b[0] = FORMAT;
        b[1..9].copy_from_slice(&self.minute_tokens.to_be_bytes());
        b[9..13].copy_from_slice(&self.minute_capacity.to_be_bytes());
        b[13..21].copy_from_slice(&self.day_tokens.to_be_bytes());
        b[21..25].copy_from_slice(&self.day_capacity.to_be_bytes());
        b[25..33].copy_from_slice(&self.saved_unix_ms.to_be_bytes());
        b
    }

    /// Inverse of [`QuotaState::encode`]; `None` for anything else.
    fn decode(b: &[u8]) -> Option<QuotaState> {
        if b.len() != 33 || b[0] != FORMAT {
            return None;
        }
        let f = |r: std::ops::Range<usize>| -> [u8; 8] { b[r].try_into().unwrap_or([0; 8]) };
        let u = |r: std::ops::Range<usize>| -> [u8; 4] { b[r].try_into().unwrap_or([0; 4]) };
        Some(QuotaState {
            minute_tokens: f64::from_be_bytes(f(1..9)),
            minute_capacity: u32::from_be_bytes(u(9..13)),
            day_tokens: f64::from_be_bytes(f(13..21)),
            day_capacity: u32::from_be_bytes(u(21..25)),
            saved_unix_ms: i64::from_be_bytes(f(25..33)),
        })
    }
}

impl Store {
    fn quota_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(TREE)?)
    }

    /// Replaces the saved rate-limit state with `states` in one atomic
    /// batch (keys absent from `states` are removed: their buckets are
    /// full, or the key was revoked), then flushes.
    pub fn save_quotas(&self, states: &[(String, QuotaState)]) -> Result<(), StoreError> {
        let tree = self.quota_tree()?;
        let mut batch = sled::Batch::default();
        let keep: std::collections::HashSet<&[u8]> =
            states.iter().map(|(k, _)| k.as_bytes()).collect();
        for k in tree.iter().keys() {
            let k = k?;
            if !keep.contains(&k[..]) {
                batch.remove(k);
            }
        }
        for (k, q) in states {
            if k.len() <= MAX_KEY_ID {
                batch.insert(k.as_bytes(), &q.encode()[..]);
            }
        }
        tree.apply_batch(batch)?;
        tree.flush()?;
        Ok(())
    }

    /// The saved rate-limit state; undecodable entries are skipped (the
    /// key then starts with full buckets).
    pub fn load_quotas(&self) -> Result<Vec<(String, QuotaState)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.quota_tree()?.iter() {
            let (k, v) = kv?;
            if let (Ok(id), Some(q)) = (std::str::from_utf8(&k), QuotaState::decode(&v)) {
                out.push((id.to_string(), q));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_round_trip_and_replace() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let q = QuotaState {
            minute_tokens: 1.5,
            minute_capacity: 10,
            day_tokens: 0.25,
            day_capacity: 1000,
            saved_unix_ms: 1_700_000_000_000,
        };
        s.save_quotas(&[("a".into(), q), ("b".into(), q)]).unwrap();
        assert_eq!(s.load_quotas().unwrap().len(), 2);
        s.save_quotas(&[("b".into(), q)]).unwrap();
        assert_eq!(s.load_quotas().unwrap(), vec![("b".to_string(), q)]);
        assert_eq!(QuotaState::decode(&[1, 2, 3]), None);
    }
}
