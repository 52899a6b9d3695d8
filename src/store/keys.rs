//! API key records in the `keys` tree: key id → [`ApiKeyRecord`].
//! Only the argon2 PHC hash of the secret is stored (docs/design.md, "API keys").
//!
//! Encoding (bincode is not self-describing, so a new field is a new format
//! number, and every older layout keeps its decoder):
//! - format 1: [`KeyV1`], the fields up to `revoked`;
//! - format 2: [`KeyV2`], format 1 plus `source_name`.
//!
//! A record without a source name is still written as format 1, so an older
//! iocd (going back after an upgrade) reads every key it could read before.

use super::codec::{self, CodecError};
use super::{Store, StoreError};
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
    /// The source name recorded on IOCs this key writes (`POST
    /// /api/v1/iocs`, TAXII add objects). `None`: the neutral default of
    /// the write path (`api`, `taxii`). Never the key's id or name, which
    /// readers must not see (issue #11, item 5).
    pub source_name: Option<String>,
}

/// Record format 1: the layout before `source_name` existed.
#[derive(Serialize, Deserialize)]
struct KeyV1 {
    id: String,
    name: String,
    tier: String,
    scopes: Vec<String>,
    hash: String,
    created: i64,
    last_used: Option<i64>,
    revoked: Option<i64>,
}

/// Record format 2: format 1 plus the source name.
#[derive(Serialize, Deserialize)]
struct KeyV2 {
    v1: KeyV1,
    source_name: String,
}

const KEY_FORMAT_V1: u8 = 1;
const KEY_FORMAT_V2: u8 = 2;

/// Encodes a key record: format 1 when it has no source name, else format 2.
pub fn encode_key(k: &ApiKeyRecord) -> Vec<u8> {
    let v1 = KeyV1 {
        id: k.id.clone(),
        name: k.name.clone(),
        tier: k.tier.clone(),
        scopes: k.scopes.clone(),
        hash: k.hash.clone(),
        created: k.created,
        last_used: k.last_used,
        revoked: k.revoked,
    };
    match &k.source_name {
        None => codec::encode_as(KEY_FORMAT_V1, &v1),
        Some(s) => codec::encode_as(
            KEY_FORMAT_V2,
            &KeyV2 {
                v1,
                source_name: s.clone(),
            },
        ),
    }
}

/// Decodes a key record of any format [`encode_key`] ever wrote.
///
/// Errors: [`CodecError::UnknownFormat`] for a newer format,
/// [`CodecError::Corrupt`] / [`CodecError::Empty`] for damaged bytes.
pub fn decode_key(b: &[u8]) -> Result<ApiKeyRecord, CodecError> {
    let (fmt, body) = codec::split_format(b)?;
    let (v1, source_name) = match fmt {
        KEY_FORMAT_V1 => (codec::decode_body::<KeyV1>(body)?, None),
        KEY_FORMAT_V2 => {
            let v: KeyV2 = codec::decode_body(body)?;
            (v.v1, Some(v.source_name))
        }
        other => return Err(CodecError::UnknownFormat(other)),
    };
    Ok(ApiKeyRecord {
        id: v1.id,
        name: v1.name,
        tier: v1.tier,
        scopes: v1.scopes,
        hash: v1.hash,
        created: v1.created,
        last_used: v1.last_used,
        revoked: v1.revoked,
        source_name,
    })
}

impl Store {
    /// Inserts or replaces a key record and flushes.
    pub fn put_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.keys.insert(k.id.as_bytes(), encode_key(k))?;
        self.keys.flush()?;
        Ok(())
    }

    /// Sets `last_used` (microseconds) of the key `id`, not flushed (losing
    /// it is harmless). Atomic against other writers (a compare-and-swap
    /// loop): a revocation landing meanwhile is kept, never overwritten by
    /// the stale copy a read-modify-write would put back. A missing or
    /// undecodable record is left as it is.
    pub fn touch_key(&self, id: &str, last_used: i64) -> Result<(), StoreError> {
        self.keys.update_and_fetch(id.as_bytes(), |old| {
            let old = old?;
            match decode_key(old) {
                Ok(mut r) => {
                    r.last_used = Some(last_used);
                    Some(encode_key(&r))
                }
                Err(_) => Some(old.to_vec()),
            }
        })?;
        Ok(())
    }

    /// The key record with this id.
    pub fn get_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        match self.keys.get(id.as_bytes())? {
            Some(b) => decode_key(&b).map(Some).map_err(|e| StoreError::Codec {
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
            v.push(decode_key(&b).map_err(|e| StoreError::Codec {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(source_name: Option<&str>) -> ApiKeyRecord {
        ApiKeyRecord {
            id: "0123456789abcdef".into(),
            name: "siem".into(),
            tier: "pro".into(),
            scopes: vec!["read:iocs".into(), "write:iocs".into()],
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created: 1_700_000_000_000_000,
            last_used: Some(1_700_000_100_000_000),
            revoked: None,
            source_name: source_name.map(str::to_string),
        }
    }

    /// The exact shape older iocd versions wrote (a leading 1 and bincode
    /// of the eight original fields), built by hand so this test keeps
    /// checking the old layout even if `KeyV1` is ever edited by mistake.
    #[derive(Serialize)]
    struct OldRecord<'a> {
        id: &'a str,
        name: &'a str,
        tier: &'a str,
        scopes: Vec<&'a str>,
        hash: &'a str,
        created: i64,
        last_used: Option<i64>,
        revoked: Option<i64>,
    }

    #[test]
    fn old_records_still_decode() {
        let old = OldRecord {
            id: "0123456789abcdef",
            name: "siem",
            tier: "pro",
            scopes: vec!["read:iocs", "write:iocs"],
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            created: 1_700_000_000_000_000,
            last_used: Some(1_700_000_100_000_000),
            revoked: None,
        };
        let bytes = codec::encode(&old);
        assert_eq!(bytes[0], 1);
        assert_eq!(decode_key(&bytes).unwrap(), rec(None));
        // A record without a source name is still written as format 1,
        // byte for byte what older versions wrote (they can read it back).
        assert_eq!(encode_key(&rec(None)), bytes);
    }

    #[test]
    fn source_name_round_trips_and_garbage_is_refused() {
        let r = rec(Some("soc-lab"));
        let b = encode_key(&r);
        assert_eq!(b[0], 2);
        assert_eq!(decode_key(&b).unwrap(), r);
        assert!(matches!(decode_key(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode_key(&[7, 0]),
            Err(CodecError::UnknownFormat(7))
        ));
        assert!(matches!(
            decode_key(&b[..b.len() / 2]),
            Err(CodecError::Corrupt(_))
        ));
    }
}
