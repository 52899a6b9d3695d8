//! Backups: a consistent, versioned copy of the store's two trees.
//!
//! # Format (`.iocdbak`, version 2)
//!
//! A byte stream, integers big-endian:
//!
//! ```text
//! magic    "IOCDBAK\n"                      8 bytes
//! version  u8 = 2
//! header   u32 length ++ JSON {"iocd_version", "created", "store_layout": 2, "trees": ["iocs", "keys"],
//!                               "mac": "hmac-sha256", "mac_key_id": "<16 hex>"}
//! entry*   u8 tree (1 = iocs, 2 = keys) ++ u32 key length ++ key ++ u32 value length ++ value
//! trailer  u8 0xFF ++ u64 entry count ++ SHA-256 (32 bytes) of every byte before the digest
//!          ++ HMAC-SHA256 (32 bytes) of every byte before it, under the backup key
//! ```
//!
//! The SHA-256 catches damage; the HMAC catches edits: it is keyed with the
//! operator's backup key ([`BackupKey`], `<data_dir>/backup.key`), so a
//! backup whose key record was edited to `admin`, or whose IOCs were
//! changed, and the checksum recomputed, does not verify. Version 1 (iocd
//! before backups were signed) is the same without the HMAC and without
//! the `mac` header fields; it still restores, but only when the operator
//! says it is trusted (`iocd restore --trust-unsigned`).
//!
//! Entries are the raw key/value pairs of the `iocs` tree (blocks,
//! headers, patches, counters, tombstones; layout in the module doc of
//! [`crate::store`]) followed by the `keys` tree (API key records: argon2
//! hashes, never secrets). Copying raw pairs makes a restore exact —
//! same ids, same index times, so TAXII and listing cursors handed out
//! before the backup stay valid — and a restore is a bulk load with no
//! re-merging. The record encoding inside the values carries its own
//! format byte ([`crate::store::codec`]); `store_layout` names the key
//! layout. A layout-1 backup (iocd 0.1) restores as it was written and is
//! converted when the restored store is first opened.
//!
//! # Consistency
//!
//! [`Store::backup`] holds the writer mutex for the whole scan, so the copy
//! sits between two writes: an ingest (a whole `POST /api/v1/iocs` batch,
//! a TAXII envelope or an import file) is in the backup entirely or not at
//! all. Writes wait while the backup runs (it streams at disk speed; the
//! control socket gives a slow reader a write timeout).

use super::{Store, StoreError};
use ring::digest::{Context, SHA256};
use ring::hmac;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"IOCDBAK\n";
const VERSION: u8 = 2;
/// The unsigned format a restore still reads.
const VERSION_UNSIGNED: u8 = 1;
/// Key layout of the `iocs` tree this build reads and writes.
const STORE_LAYOUT: u64 = 2;
/// Older key layouts a restore accepts (converted at the next open).
const OLD_LAYOUTS: [u64; 1] = [1];
const TREE_IOCS: u8 = 1;
const TREE_KEYS: u8 = 2;
const TRAILER: u8 = 0xFF;
/// Entries per atomic batch during a restore.
const RESTORE_BATCH: usize = 4096;
/// Sanity bounds, so a corrupt length cannot make us allocate gigabytes.
const MAX_HEADER: u32 = 64 * 1024;
const MAX_ITEM: u32 = 64 * 1024 * 1024;

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an iocd backup, or damaged: {0}")]
    Format(String),
    #[error("the backup is damaged: its checksum does not match (truncated or altered copy?)")]
    Checksum,
}

/// The operator's backup key: HMAC-SHA256 key of backup signatures, and
/// its public id (the first 16 hex characters of the SHA-256 of the key),
/// which a backup names so a restore can say which key it needs.
pub struct BackupKey {
    key: hmac::Key,
    pub id: String,
}

impl BackupKey {
    /// A key from its 32 secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> BackupKey {
        let d = ring::digest::digest(&SHA256, secret);
        let id = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        BackupKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            id,
        }
    }
}

/// What a restore could tell of a backup's signature.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "key_id")]
pub enum Signature {
    /// Format 1: made before backups were signed.
    #[default]
    Unsigned,
    /// Signed with the key given, and the signature matches.
    Valid,
    /// Signed, but no key was given to check it (`key_id` names it).
    Unchecked(String),
    /// Signed with another key (`key_id` names it).
    OtherKey(String),
    /// Signed with the key given, but the content does not match the
    /// signature: the backup was altered.
    Invalid,
}

/// What a backup holds.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupSummary {
    /// Key/value pairs in the `iocs` tree.
    pub iocs_entries: u64,
    /// Live IOCs (the sum of the per-type counters).
    pub records: u64,
    /// API key records.
    pub keys: u64,
    /// Bytes of the backup stream.
    pub bytes: u64,
    /// The signature check.
    pub signature: Signature,
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hash: Context,
    mac: hmac::Context,
    bytes: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.mac.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hash: Context,
    /// Started once the header names the key (fed the bytes before it).
    mac: Option<hmac::Context>,
    bytes: u64,
}

impl HashingReader<'_> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                BackupError::Format("the file ends early (truncated copy?)".into())
            }
            _ => BackupError::Io(e),
        })?;
        self.hash.update(buf);
        if let Some(m) = &mut self.mac {
            m.update(buf);
        }
        self.bytes += buf.len() as u64;
        Ok(())
    }
    fn u8(&mut self) -> Result<u8, BackupError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }
    fn u32(&mut self) -> Result<u32, BackupError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, BackupError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn item(&mut self, what: &str) -> Result<Vec<u8>, BackupError> {
        let n = self.u32()?;
        if n > MAX_ITEM {
            return Err(BackupError::Format(format!("{what} of {n} bytes")));
        }
        let mut v = vec![0u8; n as usize];
        self.exact(&mut v)?;
        Ok(v)
    }
}

fn put_item(w: &mut HashingWriter<'_>, tree: u8, k: &[u8], v: &[u8]) -> std::io::Result<()> {
    w.write_all(&[tree])?;
    w.write_all(&(k.len() as u32).to_be_bytes())?;
    w.write_all(k)?;
    w.write_all(&(v.len() as u32).to_be_bytes())?;
    w.write_all(v)
}

impl Store {
    /// Writes a consistent backup of the whole store to `out` (see the
    /// module doc for the format). Blocks writers until done.
    pub fn backup(
        &self,
        out: &mut dyn Write,
        key: &BackupKey,
    ) -> Result<BackupSummary, BackupError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut w = HashingWriter {
            inner: out,
            hash: Context::new(&SHA256),
            mac: hmac::Context::with_key(&key.key),
            bytes: 0,
        };
        let header = serde_json::json!({
            "iocd_version": env!("CARGO_PKG_VERSION"),
            "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "store_layout": STORE_LAYOUT,
            "trees": ["iocs", "keys"],
            "mac": "hmac-sha256",
            "mac_key_id": key.id,
        })
        .to_string();
        w.write_all(MAGIC)?;
        w.write_all(&[VERSION])?;
        w.write_all(&(header.len() as u32).to_be_bytes())?;
        w.write_all(header.as_bytes())?;
        let mut s = BackupSummary::default();
        for kv in self.iocs.iter() {
            let (k, v) = kv?;
            put_item(&mut w, TREE_IOCS, &k, &v)?;
            s.iocs_entries += 1;
            if k.first() == Some(&super::P_COUNT) {
                s.records += super::read_u64(&v);
            }
        }
        for kv in self.keys.iter() {
            let (k, v) = kv?;
            put_item(&mut w, TREE_KEYS, &k, &v)?;
            s.keys += 1;
        }
        w.write_all(&[TRAILER])?;
        w.write_all(&(s.iocs_entries + s.keys).to_be_bytes())?;
        let digest = w.hash.clone().finish();
        w.inner.write_all(digest.as_ref())?;
        w.mac.update(digest.as_ref());
        let tag = w.mac.clone().sign();
        w.inner.write_all(tag.as_ref())?;
        w.inner.flush()?;
        s.bytes = w.bytes + 64;
        s.signature = Signature::Valid;
        Ok(s)
    }
}

/// Equal bytes, compared in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a whole backup stream, handing each entry to `sink`, and checks
/// the format, sizes, entry count and SHA-256, and the HMAC with `key`
/// when one is given. Returns the summary; its `signature` says what the
/// HMAC check found (the caller decides whether to accept it).
fn read_stream(
    input: &mut dyn Read,
    key: Option<&BackupKey>,
    sink: &mut dyn FnMut(u8, Vec<u8>, Vec<u8>) -> Result<(), BackupError>,
) -> Result<BackupSummary, BackupError> {
    let mut r = HashingReader {
        inner: input,
        hash: Context::new(&SHA256),
        mac: None,
        bytes: 0,
    };
    let mut magic = [0u8; 8];
    r.exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(BackupError::Format(
            "it does not start with the iocd backup signature".into(),
        ));
    }
    let version = r.u8()?;
    if version != VERSION && version != VERSION_UNSIGNED {
        return Err(BackupError::Format(format!(
            "backup format {version} is unknown to iocd {} (made by a newer version?)",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let hlen = r.u32()?;
    if hlen > MAX_HEADER {
        return Err(BackupError::Format(format!("header of {hlen} bytes")));
    }
    let mut h = vec![0u8; hlen as usize];
    r.exact(&mut h)?;
    let header: serde_json::Value =
        serde_json::from_slice(&h).map_err(|e| BackupError::Format(format!("header: {e}")))?;
    let layout = header["store_layout"].as_u64();
    if layout != Some(STORE_LAYOUT) && !layout.is_some_and(|l| OLD_LAYOUTS.contains(&l)) {
        return Err(BackupError::Format(format!(
            "store layout {} is unknown to this iocd version",
            header["store_layout"]
        )));
    }
    let mut s = BackupSummary::default();
    let mut signature = Signature::Unsigned;
    if version == VERSION {
        let id = header["mac_key_id"].as_str().unwrap_or("").to_string();
        if header["mac"] != "hmac-sha256" || id.is_empty() {
            return Err(BackupError::Format(
                "the header names no signature (mac, mac_key_id)".into(),
            ));
        }
        signature = match key {
            None => Signature::Unchecked(id),
            Some(k) if k.id != id => Signature::OtherKey(id),
            Some(k) => {
                let mut m = hmac::Context::with_key(&k.key);
                m.update(MAGIC);
                m.update(&[version]);
                m.update(&hlen.to_be_bytes());
                m.update(&h);
                r.mac = Some(m);
                Signature::Valid
            }
        };
    }
    let mut last_tree = TREE_IOCS;
    loop {
        let tag = r.u8()?;
        if tag == TRAILER {
            break;
        }
        if tag != TREE_IOCS && tag != TREE_KEYS || tag < last_tree {
            return Err(BackupError::Format(format!(
                "unexpected entry tag {tag} after {} entries",
                s.iocs_entries + s.keys
            )));
        }
        last_tree = tag;
        let k = r.item("key")?;
        let v = r.item("value")?;
        if tag == TREE_IOCS {
            s.iocs_entries += 1;
            if k.first() == Some(&super::P_COUNT) {
                s.records += super::read_u64(&v);
            }
        } else {
            s.keys += 1;
        }
        sink(tag, k, v)?;
    }
    let count = r.u64()?;
    let want = r.hash.clone().finish();
    let mut got = [0u8; 32];
    r.inner
        .read_exact(&mut got)
        .map_err(|_| BackupError::Checksum)?;
    if want.as_ref() != got || count != s.iocs_entries + s.keys {
        return Err(BackupError::Checksum);
    }
    if version == VERSION {
        let mut tag = [0u8; 32];
        r.inner.read_exact(&mut tag).map_err(|_| {
            BackupError::Format("the signature is missing (truncated copy?)".into())
        })?;
        if let Some(mut m) = r.mac.take() {
            m.update(&got);
            if !same(m.sign().as_ref(), &tag) {
                signature = Signature::Invalid;
            }
        }
        r.bytes += 32;
    }
    s.signature = signature;
    let mut extra = [0u8; 1];
    if r.inner.read(&mut extra)? != 0 {
        return Err(BackupError::Format(
            "bytes after the end of the backup".into(),
        ));
    }
    s.bytes = r.bytes + 32;
    Ok(s)
}

/// Checks a backup stream completely (format, sizes, count, SHA-256)
/// without restoring it: `iocd backup` runs the stream it receives from
/// the server through this, so a backup it reports as written is whole.
/// With `key`, the signature is checked too (see [`BackupSummary::signature`]).
pub fn inspect(
    input: &mut dyn Read,
    key: Option<&BackupKey>,
) -> Result<BackupSummary, BackupError> {
    read_stream(input, key, &mut |_, _, _| Ok(()))
}

/// Loads a backup into a new store at `dir`, which must not exist or be
/// empty. Reads and checks the whole stream as [`inspect`] does; on any
/// error the partly written `dir` is left for the caller to delete (the CLI
/// restores into a temporary directory and renames it into place only on
/// success).
///
/// The signature is checked with `key` when given and reported in the
/// summary; refusing an unsigned or altered backup is the caller's call
/// (`iocd restore` refuses both unless `--trust-unsigned`), made before
/// the loaded copy is put in place.
pub fn restore(
    dir: &Path,
    input: &mut dyn Read,
    key: Option<&BackupKey>,
) -> Result<BackupSummary, BackupError> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(BackupError::Format(format!(
            "{} is not empty",
            dir.display()
        )));
    }
    // No background flusher: its thread would keep the directory lock for
    // a moment after `db` is dropped, and the caller reopens the store at
    // once (after renaming it into place). We flush explicitly at the end.
    let db = sled::Config::new().path(dir).flush_every_ms(None).open()?;
    let iocs = db.open_tree("iocs")?;
    let keys = db.open_tree("keys")?;
    let (mut bi, mut bk) = (sled::Batch::default(), sled::Batch::default());
    let (mut ni, mut nk) = (0usize, 0usize);
    let s = read_stream(input, key, &mut |tag, k, v| {
        if tag == TREE_IOCS {
            bi.insert(k, v);
            ni += 1;
            if ni == RESTORE_BATCH {
                iocs.apply_batch(std::mem::take(&mut bi))?;
                ni = 0;
            }
        } else {
            bk.insert(k, v);
            nk += 1;
            if nk == RESTORE_BATCH {
                keys.apply_batch(std::mem::take(&mut bk))?;
                nk = 0;
            }
        }
        Ok(())
    })?;
    iocs.apply_batch(bi)?;
    keys.apply_batch(bk)?;
    db.flush()?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{detect, Observation};

    fn obs(v: &str) -> Observation {
        Observation::new(detect(v).unwrap())
    }

    #[test]
    fn round_trip_is_exact_and_damage_is_caught() {
        let d = tempfile::tempdir().unwrap();
        let a = Store::open(&d.path().join("a")).unwrap();
        a.ingest((0..100).map(|i| obs(&format!("host{i}.example"))).collect())
            .unwrap();
        let (_, rec) = crate::apikeys::new_key("k", "pro", vec!["admin".into()]).unwrap();
        a.put_key(&rec).unwrap();
        let key = BackupKey::from_bytes(&[7u8; 32]);
        let other = BackupKey::from_bytes(&[8u8; 32]);
        let mut buf = Vec::new();
        let s = a.backup(&mut buf, &key).unwrap();
        assert_eq!((s.records, s.keys, s.bytes), (100, 1, buf.len() as u64));
        assert_eq!(s.signature, Signature::Valid);

        assert_eq!(inspect(&mut &buf[..], Some(&key)).unwrap(), s);
        assert_eq!(
            inspect(&mut &buf[..], None).unwrap().signature,
            Signature::Unchecked(key.id.clone())
        );
        assert_eq!(
            inspect(&mut &buf[..], Some(&other)).unwrap().signature,
            Signature::OtherKey(key.id.clone())
        );
        let s2 = restore(&d.path().join("b"), &mut &buf[..], Some(&key)).unwrap();
        assert_eq!(s2, s);
        let b = Store::open(&d.path().join("b")).unwrap();
        assert_eq!(b.counts().unwrap(), a.counts().unwrap());
        assert_eq!(b.list_keys().unwrap(), a.list_keys().unwrap());
        let pa: Vec<_> = a.iocs.iter().map(|kv| kv.unwrap()).collect();
        let pb: Vec<_> = b.iocs.iter().map(|kv| kv.unwrap()).collect();
        assert_eq!(pa, pb);

        // An edit with the SHA-256 recomputed passes the checksum, not the
        // signature.
        let mut edited = buf.clone();
        // 20 bytes before the trailer: inside the last key record's value.
        let at = edited.len() - 73 - 20;
        edited[at] ^= 1;
        let body = edited.len() - 64;
        let sha = ring::digest::digest(&SHA256, &edited[..body]);
        edited[body..body + 32].copy_from_slice(sha.as_ref());
        assert_eq!(
            inspect(&mut &edited[..], Some(&key)).unwrap().signature,
            Signature::Invalid
        );

        // A flipped byte, a truncation and trailing junk are all refused.
        let mut bad = buf.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        assert!(restore(&d.path().join("c"), &mut &bad[..], Some(&key)).is_err());
        assert!(inspect(&mut &bad[..], Some(&key)).is_err());
        assert!(restore(&d.path().join("d"), &mut &buf[..buf.len() - 5], Some(&key)).is_err());
        let mut long = buf.clone();
        long.push(0);
        assert!(restore(&d.path().join("e"), &mut &long[..], Some(&key)).is_err());
        assert!(matches!(
            restore(&d.path().join("f"), &mut &b"hello"[..], None),
            Err(BackupError::Format(_))
        ));
        // Not into a non-empty directory.
        assert!(restore(&d.path().join("b"), &mut &buf[..], None).is_err());
    }
}
