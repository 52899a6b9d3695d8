//! One-time conversion, at open, of blocks whose records share one index
//! time (written before iocd 0.2, or converted from layout 1) to blocks
//! whose records each have their own (see `query.rs`, "Index times").
//!
//! Why: TAXII `added_after` is exclusive (TAXII 2.1 §3.4), so records that
//! share a date added hide each other from a client that resumes after the
//! last one it received. Each such block is rewritten, its live records in
//! id order at `t', t'+1, ...` (split into blocks of at most
//! [`BLOCK_RECORDS`]), where `t'` is the block's old time or just after the
//! previous block's last record, whichever is later. Times only move
//! forward, so a cursor issued before the conversion resumes at or before
//! where it left off: a client may receive a few records again, never miss
//! one.
//!
//! Blocks are rewritten newest first, so a block never lands on a key
//! still holding an unconverted one; each group is one atomic batch and a
//! marker key records completion. An interrupted conversion resumes at the
//! next open: converted blocks already have distinct times and are left
//! as they are.

use super::block::{self, BlockView, Patch, BLOCK_RECORDS};
use super::codec::{from_micros, micros};
use super::index::Loc;
use super::{codec_err, loc_key, parse_loc_key, Store, StoreError, P_BLOCK, P_HEADER, P_PATCH};
use crate::ioc::Indicator;

/// Marker key: every block has per-record times.
pub(super) const RETIMED_KEY: &[u8] = b"M:retimed";
/// Blocks rewritten per atomic batch.
const GROUP: usize = 512;

/// A block's place in the plan.
struct Planned {
    loc: Loc,
    /// The new time of its first record, when it must be rewritten.
    to: Option<i64>,
}

impl Store {
    /// Converts shared-time blocks (module docs); returns the blocks
    /// rewritten.
    pub(super) fn retime_shared_blocks(&self) -> Result<usize, StoreError> {
        if self.iocs.contains_key(RETIMED_KEY)? {
            return Ok(0);
        }
        // Every block of every type, in time order.
        let mut locs: Vec<Loc> = Vec::new();
        for kv in self.iocs.scan_prefix([P_BLOCK]) {
            let (k, _) = kv?;
            if let Some(loc) = parse_loc_key(&k) {
                locs.push(loc);
            }
        }
        locs.sort_by_key(|l| (l.t(), l.ty().code()));
        let mut plan: Vec<Planned> = Vec::with_capacity(locs.len());
        let mut prev_end = i64::MIN;
        let mut moves = 0;
        for loc in locs {
            let Some(bytes) = self.iocs.get(loc_key(P_BLOCK, loc))? else {
                continue;
            };
            let view = BlockView::parse(&bytes).map_err(|e| codec_err(loc, e))?;
            let n = view.len() as i64;
            if n == 0 {
                continue;
            }
            let last = micros(
                view.record(n as usize - 1)
                    .map_err(|e| codec_err(loc, e))?
                    .modified,
            );
            let shared = n > 1 && last == loc.t();
            if !shared && loc.t() > prev_end {
                prev_end = prev_end.max(last);
                plan.push(Planned { loc, to: None });
                continue;
            }
            let to = loc.t().max(prev_end.saturating_add(1));
            prev_end = to + n - 1;
            moves += 1;
            plan.push(Planned { loc, to: Some(to) });
        }
        if moves > 0 {
            tracing::info!(
                blocks = moves,
                "giving every record its own index time (TAXII date added)"
            );
        }
        let todo: Vec<&Planned> = plan.iter().rev().filter(|p| p.to.is_some()).collect();
        for group in todo.chunks(GROUP) {
            let mut batch = sled::Batch::default();
            for p in group {
                self.rewrite(p.loc, p.to.unwrap_or(p.loc.t()), &mut batch)?;
            }
            let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
            self.iocs.apply_batch(batch)?;
        }
        self.iocs.insert(RETIMED_KEY, &[1u8][..])?;
        self.flush()?;
        Ok(moves)
    }

    /// Adds to `batch` the block at `loc` rewritten from time `to`: its live
    /// records (patch folded in), one microsecond each, in blocks of at
    /// most [`BLOCK_RECORDS`]; the old keys removed.
    fn rewrite(&self, loc: Loc, to: i64, batch: &mut sled::Batch) -> Result<(), StoreError> {
        let Some(bytes) = self.iocs.get(loc_key(P_BLOCK, loc))? else {
            return Ok(());
        };
        let view = BlockView::parse(&bytes).map_err(|e| codec_err(loc, e))?;
        let patch = match self.iocs.get(loc_key(P_PATCH, loc))? {
            Some(p) => Patch::decode(&p).map_err(|e| codec_err(loc, e))?,
            None => Patch::default(),
        };
        let live = block::resolve(&view, Some(&patch)).map_err(|e| codec_err(loc, e))?;
        for p in [P_BLOCK, P_HEADER, P_PATCH] {
            batch.remove(&loc_key(p, loc)[..]);
        }
        let mut t = to;
        for chunk in live.chunks(BLOCK_RECORDS) {
            let at = Loc::new(loc.ty(), t);
            let mut recs: Vec<Indicator> = chunk.to_vec();
            recs.sort_by_key(|r| r.id);
            for (rank, r) in recs.iter_mut().enumerate() {
                r.modified = from_micros(t + rank as i64);
            }
            batch.insert(
                &loc_key(P_HEADER, at)[..],
                block::encode_ids(recs.iter().map(|r| r.id)),
            );
            batch.insert(&loc_key(P_BLOCK, at)[..], block::encode_block(&mut recs));
            t += recs.len() as i64;
        }
        Ok(())
    }
}
