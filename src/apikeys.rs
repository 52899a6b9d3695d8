//! API keys: `sk_live_<key-id>_<secret>` (docs/design.md, "API keys and auth").
//!
//! The key id (16 lower-case hex chars) finds the record without hashing;
//! the secret (32 base62 chars, ~190 bits) is checked against an argon2id
//! PHC hash. Only the hash is stored.

use crate::config::ALL_SCOPES;
use crate::store::keys::ApiKeyRecord;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::Utc;
use rand::Rng;

/// Prefix of every key.
pub const KEY_PREFIX: &str = "sk_live_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 32;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A key split into its parts. Never logged whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

/// Splits `sk_live_<id>_<secret>`; `None` if the shape is wrong (no work
/// beyond string checks, so garbage costs nothing).
pub fn parse_key(key: &str) -> Option<ParsedKey<'_>> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let secret_ok = secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    (id_ok && secret_ok).then_some(ParsedKey { id, secret })
}

/// Errors creating a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown scope '{0}' (known: read:iocs, read:stix, read:misp, read:taxii, read:cef, read:openioc, read:rules, read:articles, read:stats, write:iocs, write:taxii, admin)")]
    UnknownScope(String),
    #[error("unknown tier '{0}' (defined in the config: {1})")]
    UnknownTier(String, String),
    #[error("the '{tier}' tier does not allow scope '{scope}' (it allows: {allowed}); pick another tier or change [tiers.{tier}] in the config")]
    ScopeNotInTier {
        scope: String,
        tier: String,
        allowed: String,
    },
    #[error("the key name must be 1-100 printable characters")]
    BadName,
    #[error("the source name must be 1-100 printable characters")]
    BadSourceName,
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Validates a scope list against the tier's scopes: every scope must be
/// known and allowed by the tier (deduplicated, sorted on return).
pub fn check_scopes_for_tier(
    scopes: &[String],
    tier: &str,
    tier_scopes: &[String],
) -> Result<Vec<String>, KeyError> {
    let v = check_scopes(scopes)?;
    if let Some(bad) = v.iter().find(|s| !tier_scopes.contains(s)) {
        return Err(KeyError::ScopeNotInTier {
            scope: bad.clone(),
            tier: tier.to_string(),
            allowed: tier_scopes.join(", "),
        });
    }
    Ok(v)
}

/// Validates a scope list (deduplicated, sorted on return).
pub fn check_scopes(scopes: &[String]) -> Result<Vec<String>, KeyError> {
    let mut v = Vec::new();
    for s in scopes {
        let s = s.trim();
        if !ALL_SCOPES.contains(&s) {
            return Err(KeyError::UnknownScope(s.to_string()));
        }
        if !v.iter().any(|x: &String| x == s) {
            v.push(s.to_string());
        }
    }
    v.sort();
    Ok(v)
}

/// Creates a new key: returns the full key text (shown once) and the record
/// to store (argon2id hash of the secret only).
pub fn new_key(
    name: &str,
    tier: &str,
    scopes: Vec<String>,
) -> Result<(String, ApiKeyRecord), KeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(KeyError::BadName);
    }
    let mut rng = rand::rngs::OsRng;
    let id: String = (0..ID_LEN)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect();
    let secret = new_secret();
    let hash = hash_secret(&secret)?;
    let key = format!("{KEY_PREFIX}{id}_{secret}");
    let rec = ApiKeyRecord {
        id,
        name: name.to_string(),
        tier: tier.to_string(),
        scopes,
        hash,
        created: Utc::now().timestamp_micros(),
        last_used: None,
        revoked: None,
        source_name: None,
    };
    Ok((key, rec))
}

/// Validates a key's source name (the name IOCs written with the key carry,
/// `iocd keys create --source-name`, `"source_name"` of `POST
/// /api/v1/keys`): 1-100 characters, no control characters; trimmed on
/// return. Errors: [`KeyError::BadSourceName`].
pub fn check_source_name(s: &str) -> Result<String, KeyError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
        return Err(KeyError::BadSourceName);
    }
    Ok(s.to_string())
}

fn new_secret() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..SECRET_LEN)
        .map(|_| char::from(BASE62[rng.gen_range(0..62)]))
        .collect()
}

/// A new secret for an existing key (`iocd keys rotate`): same id, name,
/// tier and scopes, so dashboards and logs keyed by id carry on; the old
/// secret stops working. Returns the new key text (shown once) and the
/// updated record. A revoked key stays revoked.
pub fn rotate_key(rec: &ApiKeyRecord) -> Result<(String, ApiKeyRecord), KeyError> {
    let secret = new_secret();
    let mut r = rec.clone();
    r.hash = hash_secret(&secret)?;
    r.last_used = None;
    Ok((format!("{KEY_PREFIX}{}_{secret}", rec.id), r))
}

/// argon2id (default parameters: 19 MiB, 2 passes) PHC string of a secret.
pub fn hash_secret(secret: &str) -> Result<String, KeyError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| KeyError::Hash(e.to_string()))
}

/// The PHC hash of a random secret that is never shown, made once per
/// process with the parameters new keys get. Verifying a request for an
/// unknown key id against it costs the same argon2 work as a wrong secret
/// for a known id, so response time does not tell which ids exist
/// (docs/design.md, "API keys and auth"; issue #11, item 5).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        // Hashing with the default parameters and a fresh salt does not
        // fail; should it ever, a fixed hash of the same parameters keeps
        // the cost equal.
        hash_secret(&new_secret()).unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$ZHVtbXlzYWx0ZHVtbXk$K4u0cL6JvrGc+qzD7i1gQj8s5zkY7m2u8pW6t1H9XfA".into()
        })
    })
}

/// Checks a secret against a stored PHC hash (slow by design: ~20-50 ms).
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// True when `scopes` grants `required` (`admin` grants everything).
pub fn grants(scopes: &[String], required: &str) -> bool {
    scopes.iter().any(|s| s == required || s == "admin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_key_parses_and_verifies() {
        let (key, rec) = new_key("siem", "pro", vec!["read:iocs".into()]).unwrap();
        let p = parse_key(&key).unwrap();
        assert_eq!(p.id, rec.id);
        assert!(verify_secret(p.secret, &rec.hash));
        assert!(!verify_secret("x".repeat(32).as_str(), &rec.hash));
        assert!(!rec.hash.contains(p.secret));
        let (key2, rec2) = rotate_key(&rec).unwrap();
        let p2 = parse_key(&key2).unwrap();
        assert_eq!(
            (p2.id, &rec2.name, &rec2.scopes),
            (p.id, &rec.name, &rec.scopes)
        );
        assert!(verify_secret(p2.secret, &rec2.hash));
        assert!(!verify_secret(p.secret, &rec2.hash));
    }

    #[test]
    fn dummy_hash_costs_like_a_real_one() {
        let (_, rec) = new_key("siem", "pro", vec![]).unwrap();
        // Same algorithm and parameters as a real key: the part of the PHC
        // string before the salt.
        let params = |phc: &str| phc.rsplitn(3, '$').nth(2).unwrap_or("").to_string();
        assert_eq!(params(dummy_hash()), params(&rec.hash));
        assert!(params(dummy_hash()).starts_with("$argon2id$"));
        assert!(!verify_secret(&"A".repeat(32), dummy_hash()));
        assert_eq!(check_source_name("  soc lab ").unwrap(), "soc lab");
        assert!(check_source_name(" ").is_err());
        assert!(check_source_name("a\nb").is_err());
        assert!(check_source_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn parse_rejects_malformed() {
        for k in [
            "",
            "sk_live_",
            "sk_live_abc_def",
            "pk_live_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "sk_live_0123456789ABCDEF_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "sk_live_0123456789abcdef_AAAA",
        ] {
            assert!(parse_key(k).is_none(), "{k}");
        }
        assert!(parse_key("sk_live_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_some());
    }

    #[test]
    fn scopes_checked() {
        assert!(check_scopes(&["read:nope".into()]).is_err());
        assert_eq!(
            check_scopes(&["read:stix".into(), "read:iocs".into(), "read:stix".into()]).unwrap(),
            vec!["read:iocs", "read:stix"]
        );
        assert!(grants(&["admin".into()], "read:misp"));
        assert!(!grants(&["read:iocs".into()], "read:misp"));
    }
}
