//! The id index: where each live indicator's record is (its block).
//!
//! Held in memory, not in sled: a sled pointer per IOC cost one random
//! insert per new IOC, as much as the record itself. It is rebuilt from the
//! blocks' `H` (ids) values and `P` patches, which hold 16 bytes per IOC,
//! and only by the operations that need it (ingest, lookup by id, delete):
//! listings, exports and TAXII pages read blocks in time order without it.
//! About 24 bytes per IOC (1M IOCs: ~50 MiB with the hash table's slack).

use crate::ioc::IocType;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use uuid::Uuid;

/// A block's address: index time (micros) and IOC type, packed as
/// `t << 4 | type` into one u64 (times before the year 36,000 fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc(u64);

impl Loc {
    /// No block: type code 0xf is not an IOC type.
    pub const NONE: Loc = Loc(0xf);

    /// Latest representable time (micros, ~18,000 years after 1970).
    pub const MAX_T: i64 = (1 << 59) - 1;

    /// The block of type `ty` at index time `t` (micros, clamped to
    /// `0..=MAX_T`, so a forged cursor far in the future finds nothing).
    pub fn new(ty: IocType, t: i64) -> Loc {
        Loc(((t.clamp(0, Loc::MAX_T) as u64) << 4) | ty.code() as u64)
    }

    /// Index time in micros.
    pub fn t(self) -> i64 {
        (self.0 >> 4) as i64
    }

    /// The IOC type of the block's records.
    pub fn ty(self) -> IocType {
        // Built only by `new` from a valid type.
        IocType::from_code((self.0 & 0xf) as u8).unwrap_or(IocType::ALL[0])
    }
}

/// Ids are UUIDv5 (SHA-1 based), uniformly distributed: their own bytes are
/// a good hash, and SipHash would cost more than the lookup.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut a = [0u8; 8];
            a[..c.len()].copy_from_slice(c);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(a);
        }
    }
}

/// id → block of its live record.
pub type IdIndex = HashMap<Uuid, Loc, BuildHasherDefault<IdHasher>>;

/// Adds the ids of the block at `loc` to an index being rebuilt: an id
/// present in two blocks lives in the newer one (records only ever move
/// forward in time).
pub fn add_block(index: &mut IdIndex, loc: Loc, ids: impl Iterator<Item = Uuid>) {
    for id in ids {
        let e = index.entry(id).or_insert(loc);
        if e.t() < loc.t() {
            *e = loc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loc_packs_type_and_time() {
        for ty in IocType::ALL {
            let l = Loc::new(ty, 1_790_000_000_123_456);
            assert_eq!((l.ty(), l.t()), (ty, 1_790_000_000_123_456));
        }
        assert_eq!(Loc::new(IocType::Md5, -5).t(), 0);
        // No overflow into the type bits, whatever the time.
        let far = Loc::new(IocType::Md5, i64::MAX);
        assert_eq!((far.ty(), far.t()), (IocType::Md5, Loc::MAX_T));
    }

    #[test]
    fn the_newest_block_wins() {
        let id = Uuid::from_bytes([7; 16]);
        let mut ix = IdIndex::default();
        add_block(&mut ix, Loc::new(IocType::Domain, 20), [id].into_iter());
        add_block(&mut ix, Loc::new(IocType::Domain, 10), [id].into_iter());
        assert_eq!(ix[&id].t(), 20);
    }
}
