//! Packed record blocks and their patches (store layout 2).
//!
//! A block holds the records of one IOC type whose current version was
//! committed at one index time, sorted by id, so the store writes one sled
//! item per ~32 IOCs instead of one per IOC plus a pointer (sled 0.34's cost
//! is per item; `benches/sled_ceiling.rs`).
//!
//! Block value: `[BLOCK_FORMAT] ++ n (u16 BE) ++ n ids (16 bytes each,
//! ascending) ++ n end offsets (u32 BE, into the record area) ++ records`,
//! each record in [`codec::encode_indicator`]'s framing. The id table and
//! offsets let one record be read without decoding the others (a dedupe
//! hit, a lookup by id).
//!
//! A block is never rewritten for one re-sighting: its patch (a small
//! value beside it) says which records left it (moved to a newer block on
//! a change, or deleted) and which carry a newer `last_seen`. A patch holds
//! at most one entry per record (~26 bytes); when half of a block's
//! records are gone, the block is rewritten without them ([`needs_fold`]).

use super::codec::{self, decode_indicator, encode_indicator, from_micros, CodecError};
use crate::ioc::Indicator;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Leading byte of a block value.
const BLOCK_FORMAT: u8 = 2;
/// Most records written into one block by an ingest: 32 records of ~300
/// bytes keep a 16-entry sled leaf under sled's 128 KiB blob threshold.
pub const BLOCK_RECORDS: usize = 32;

/// Encodes records (any order; sorted here by id) as a block value.
pub fn encode_block(records: &mut [Indicator]) -> Vec<u8> {
    records.sort_by_key(|r| r.id);
    let n = records.len().min(u16::MAX as usize);
    let bodies: Vec<Vec<u8>> = records[..n].iter().map(encode_indicator).collect();
    let total: usize = bodies.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(3 + n * 20 + total);
    out.push(BLOCK_FORMAT);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    for r in &records[..n] {
        out.extend_from_slice(r.id.as_bytes());
    }
    let mut end = 0u32;
    for b in &bodies {
        end += b.len() as u32;
        out.extend_from_slice(&end.to_be_bytes());
    }
    for b in bodies {
        out.extend_from_slice(&b);
    }
    out
}

/// A parsed block value, borrowing the bytes.
pub struct BlockView<'a> {
    n: usize,
    ids: &'a [u8],
    ends: &'a [u8],
    records: &'a [u8],
}

impl<'a> BlockView<'a> {
    /// Checks the framing (not the records themselves).
    pub fn parse(b: &'a [u8]) -> Result<BlockView<'a>, CodecError> {
        let (&fmt, rest) = b.split_first().ok_or(CodecError::Empty)?;
        if fmt != BLOCK_FORMAT {
            return Err(CodecError::UnknownFormat(fmt));
        }
        let bad = |what: &str| CodecError::Corrupt(format!("block {what}"));
        if rest.len() < 2 {
            return Err(bad("header truncated"));
        }
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let rest = &rest[2..];
        if rest.len() < n * 20 {
            return Err(bad("tables truncated"));
        }
        let (ids, rest) = rest.split_at(n * 16);
        let (ends, records) = rest.split_at(n * 4);
        let view = BlockView {
            n,
            ids,
            ends,
            records,
        };
        let mut prev = 0usize;
        for i in 0..n {
            let e = view.end(i);
            if e < prev || e > records.len() {
                return Err(bad("offsets out of range"));
            }
            prev = e;
        }
        Ok(view)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the block holds no record.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn end(&self, i: usize) -> usize {
        let e = &self.ends[i * 4..i * 4 + 4];
        u32::from_be_bytes([e[0], e[1], e[2], e[3]]) as usize
    }

    /// The id of record `i`.
    pub fn id(&self, i: usize) -> Uuid {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.ids[i * 16..i * 16 + 16]);
        Uuid::from_bytes(a)
    }

    /// Every id, ascending.
    pub fn ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        (0..self.n).map(|i| self.id(i))
    }

    /// Position of `id`, by binary search.
    pub fn find(&self, id: &Uuid) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.ids[mid * 16..mid * 16 + 16].cmp(id.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Decodes record `i`.
    pub fn record(&self, i: usize) -> Result<Indicator, CodecError> {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        decode_indicator(&self.records[start..self.end(i)])
    }
}

/// What a patch says about one record of its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatchOp {
    /// The record is no longer here (moved to a newer block, or deleted).
    Gone,
    /// Re-seen with nothing new: `last_seen` (micros) is this.
    Seen(i64),
}

/// The patch of one block: id → op. Absent means "no patch".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    pub ops: BTreeMap<Uuid, PatchOp>,
}

impl Patch {
    /// Encodes as `codec::encode` of `(id bytes, op)` pairs, ascending.
    pub fn encode(&self) -> Vec<u8> {
        let v: Vec<([u8; 16], PatchOp)> = self
            .ops
            .iter()
            .map(|(id, op)| (*id.as_bytes(), *op))
            .collect();
        codec::encode(&v)
    }

    /// Decodes [`Patch::encode`]'s output.
    pub fn decode(b: &[u8]) -> Result<Patch, CodecError> {
        let v: Vec<([u8; 16], PatchOp)> = codec::decode(b)?;
        Ok(Patch {
            ops: v
                .into_iter()
                .map(|(id, op)| (Uuid::from_bytes(id), op))
                .collect(),
        })
    }

    /// Applies this patch's op for one record: `None` when it is gone.
    pub fn apply(&self, mut rec: Indicator) -> Option<Indicator> {
        match self.ops.get(&rec.id) {
            None => Some(rec),
            Some(PatchOp::Gone) => None,
            Some(PatchOp::Seen(t)) => {
                rec.last_seen = rec.last_seen.max(from_micros(*t));
                Some(rec)
            }
        }
    }

    /// Number of `Gone` entries.
    pub fn gone(&self) -> usize {
        self.ops.values().filter(|op| **op == PatchOp::Gone).count()
    }
}

/// True when enough of a block is gone (half its records) that it should
/// be rewritten without them. `Seen` entries never force a rewrite: they
/// waste no space, and a patch holds at most one entry per record.
pub fn needs_fold(block_len: usize, patch: &Patch) -> bool {
    patch.gone() * 2 >= block_len.max(1)
}

/// Every live record of a block with its patch applied, in id order.
pub fn resolve(block: &BlockView, patch: Option<&Patch>) -> Result<Vec<Indicator>, CodecError> {
    let mut out = Vec::with_capacity(block.len());
    for i in 0..block.len() {
        let rec = block.record(i)?;
        match patch {
            Some(p) => {
                if let Some(r) = p.apply(rec) {
                    out.push(r)
                }
            }
            None => out.push(rec),
        }
    }
    Ok(out)
}

/// The ids part of a block's header value (`H` key): the block's ids,
/// concatenated (16 bytes each), for rebuilding the id index without
/// reading records.
pub fn encode_ids(ids: impl Iterator<Item = Uuid>) -> Vec<u8> {
    let mut out = Vec::new();
    for id in ids {
        out.extend_from_slice(id.as_bytes());
    }
    out
}

/// Splits a header value back into ids (a trailing partial id is ignored).
pub fn decode_ids(b: &[u8]) -> impl Iterator<Item = Uuid> + '_ {
    b.chunks_exact(16).filter_map(|c| Uuid::from_slice(c).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{indicator_id, IocType};

    fn rec(v: &str, t: i64) -> Indicator {
        let at = from_micros(t);
        Indicator {
            id: indicator_id(IocType::Domain, v),
            ioc_type: IocType::Domain,
            value: v.into(),
            first_seen: at,
            last_seen: at,
            added_at: at,
            modified: at,
            confidence: 50,
            tlp: None,
            tags: vec![],
            sources: vec![],
            techniques: vec![],
            description: None,
            to_ids: false,
            reserved: false,
        }
    }

    #[test]
    fn a_block_round_trips_and_finds_each_record_by_id() {
        let mut recs: Vec<Indicator> = (0..40)
            .map(|i| rec(&format!("h{i}.example"), 1_700_000_000_000_000 + i))
            .collect();
        let b = encode_block(&mut recs);
        let v = BlockView::parse(&b).unwrap();
        assert_eq!(v.len(), 40);
        let ids: Vec<Uuid> = v.ids().collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        for r in &recs {
            let i = v.find(&r.id).unwrap();
            assert_eq!(&v.record(i).unwrap(), r);
        }
        assert_eq!(
            v.find(&indicator_id(IocType::Domain, "absent.example")),
            None
        );
        assert_eq!(resolve(&v, None).unwrap(), recs);
    }

    #[test]
    fn damaged_blocks_are_rejected_not_misread() {
        let mut recs = vec![rec("a.example", 1), rec("b.example", 2)];
        let b = encode_block(&mut recs);
        assert!(matches!(BlockView::parse(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            BlockView::parse(&[9, 0, 0]),
            Err(CodecError::UnknownFormat(9))
        ));
        assert!(BlockView::parse(&b[..10]).is_err());
        // Offsets pointing past the record area.
        let mut bad = b.clone();
        bad.truncate(b.len() - 5);
        assert!(BlockView::parse(&bad).is_err());
    }

    #[test]
    fn a_patch_hides_gone_records_and_raises_last_seen() {
        let mut recs = vec![rec("a.example", 10), rec("b.example", 10)];
        let b = encode_block(&mut recs);
        let v = BlockView::parse(&b).unwrap();
        let mut p = Patch::default();
        p.ops.insert(recs[0].id, PatchOp::Gone);
        p.ops.insert(recs[1].id, PatchOp::Seen(99));
        let p = Patch::decode(&p.encode()).unwrap();
        let live = resolve(&v, Some(&p)).unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].id, recs[1].id);
        assert_eq!(live[0].last_seen, from_micros(99));
        assert_eq!(p.gone(), 1);
        assert!(!needs_fold(32, &p));
        assert!(needs_fold(2, &p));
    }
}
