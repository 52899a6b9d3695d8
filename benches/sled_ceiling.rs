//! What sled 0.34 itself sustains for the two write shapes of an import,
//! so `benches/import.sh`'s figure can be read against its ceiling:
//!
//! - record inserts: 34-byte keys in time order, 350-byte values (an
//!   IOC record under `T ++ type ++ micros ++ id`);
//! - pointer inserts: 17-byte random keys, 9-byte values (`I ++ id`).
//!
//! Each shape in atomic batches of 512 (what the store uses) and 8192,
//! with the 16 MiB cache and the allocator (mimalloc) `iocd import` uses.
//! Run: `cargo bench --bench sled_ceiling [-- N]` (default N = 400,000).
//! Under `cargo test` it only checks that it runs (N = 2,000).

use std::time::Instant;

/// The allocator iocd itself runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run(n: u64, key_len: usize, value_len: usize, random: bool, batch: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(16 << 20)
        .flush_every_ms(Some(500))
        .open()
        .expect("open sled");
    let tree = db.open_tree("t").expect("tree");
    let value = vec![7u8; value_len];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let start = Instant::now();
    let mut i = 0u64;
    while i < n {
        let mut b = sled::Batch::default();
        for _ in 0..batch.min((n - i) as usize) {
            let k = if random {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                x
            } else {
                i
            };
            let mut key = vec![b'T'; key_len];
            key[key_len - 8..].copy_from_slice(&k.to_be_bytes());
            b.insert(key, value.clone());
            i += 1;
        }
        tree.apply_batch(b).expect("apply");
    }
    db.flush().expect("flush");
    let secs = start.elapsed().as_secs_f64();
    (secs, n as f64 / secs)
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    // `cargo test` passes harness flags (`--test-threads 2`): only a bench
    // run reads N from the arguments.
    let n: u64 = if benching {
        std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(400_000)
    } else {
        2_000
    };
    println!("sled 0.34 write ceiling, {n} inserts per case, 16 MiB cache");
    for (name, kl, vl, random) in [
        (
            "records: 34 B sequential keys, 350 B values",
            34,
            350,
            false,
        ),
        ("pointers: 17 B random keys, 9 B values", 17, 9, true),
    ] {
        for batch in [512, 8192] {
            let (secs, rate) = run(n, kl, vl, random, batch);
            println!("  {name}, batches of {batch:>4}: {secs:6.2} s = {rate:>9.0} inserts/s");
        }
    }
}
