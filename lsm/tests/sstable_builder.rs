//! `TableBuilder` requirements and failure handling, and a round trip through the real file
//! system.

mod sstable_common;

use std::path::Path;
use std::sync::Arc;

use kvd_base::fs::{FaultFs, Fs, MemFs, StdFs};
use kvd_base::ValueKind;
use kvd_lsm::sstable::{Table, TableBuilder, TableOptions};
use kvd_lsm::Error;
use sstable_common::*;

fn builder(fs: &dyn Fs, path: &str, opts: TableOptions) -> TableBuilder {
    TableBuilder::new(fs.create(Path::new(path)).unwrap(), path.to_string(), opts)
}

#[test]
fn rejects_out_of_order_duplicate_and_malformed_entries() {
    let fs = MemFs::new();
    let mut b = builder(&fs, "/o.sst", TableOptions::default());
    b.add(&ikey(b"b", 5, ValueKind::Put), b"1").unwrap();
    let invalid = |r: kvd_lsm::Result<()>| assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    invalid(b.add(&ikey(b"a", 9, ValueKind::Put), b"x")); // smaller user key
    invalid(b.add(&ikey(b"b", 5, ValueKind::Put), b"x")); // equal internal key
    invalid(b.add(&ikey(b"b", 6, ValueKind::Put), b"x")); // same user key, newer seqno sorts first
    invalid(b.add(b"short", b"x")); // no trailer
    let mut bad_kind = ikey(b"c", 1, ValueKind::Put);
    let n = bad_kind.len();
    bad_kind[n - 8] = 0x7f;
    invalid(b.add(&bad_kind, b"x"));
    invalid(b.add(&ikey(b"c", 1, ValueKind::PutWithExpiry), b"1234567")); // expiry needs 8 bytes
                                                                          // Rejected entries leave the builder usable.
    b.add(&ikey(b"b", 4, ValueKind::Delete), b"").unwrap();
    b.add(&ikey(b"c", 1, ValueKind::PutWithExpiry), &kvd_base::key::encode_expiring_value(77, b"v")).unwrap();
    assert_eq!(b.num_entries(), 3);
    let p = b.finish().unwrap();
    assert_eq!((p.num_entries, p.num_deletions, p.num_expiring, p.earliest_expiry), (3, 1, 1, Some(77)));
    let t = open(&fs, "/o.sst", 1, None).unwrap();
    assert_eq!(t.get(b"b", 4).unwrap().map(|(k, _)| k), Some(ikey(b"b", 4, ValueKind::Delete)));
}

#[test]
fn estimated_size_grows_and_bounds_the_file() {
    let fs = MemFs::new();
    let mut b = builder(&fs, "/e.sst", TableOptions { block_size: 1024, ..Default::default() });
    let entries = gen_entries(1, 3000, 2000);
    let mut last = 0;
    for (k, v) in &entries {
        b.add(k, v).unwrap();
        assert!(b.estimated_size() >= last);
        last = b.estimated_size();
    }
    let p = b.finish().unwrap();
    assert!(last <= p.file_size && p.file_size - last < 64 * 1024, "{last} vs {}", p.file_size);
}

#[test]
fn write_and_sync_failures_poison_the_builder() {
    let entries = gen_entries(2, 300, 200);
    let opts = TableOptions { block_size: 512, ..Default::default() };
    let run = |fail_at: Option<u64>| {
        let fault = FaultFs::new(Arc::new(MemFs::new()));
        let file = fault.create(Path::new("/f.sst")).unwrap();
        let start = fault.ops();
        if let Some(n) = fail_at {
            fault.fail_after(n, false);
        }
        let mut b = TableBuilder::new(file, "/f.sst".into(), opts.clone());
        for (k, v) in &entries {
            if let Err(e) = b.add(k, v) {
                assert!(matches!(e, Error::Base(ref b) if b.is_injected()), "{e}");
                assert!(b.add(k, v).is_err(), "poisoned builder accepted an entry");
                assert!(b.finish().is_err(), "poisoned builder finished");
                return None;
            }
        }
        match b.finish() {
            Ok(_) => Some(fault.ops() - start),
            Err(e) => {
                assert!(matches!(e, Error::Base(ref b) if b.is_injected()), "{e}");
                None
            }
        }
    };
    // Count the operations of a clean build (appends of each block, the footer, the sync),
    // then fail each one in turn: the failure surfaces from `add` or `finish`, never panics.
    let total = run(None).expect("clean build");
    assert!(total > 10, "{total} operations");
    for n in 0..total {
        assert_eq!(run(Some(n)), None, "fault at operation {n} went unnoticed");
    }
}

#[test]
fn round_trip_through_the_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.sst");
    let entries = gen_entries(3, 4000, 2500);
    let mut b = TableBuilder::new(StdFs.create(&path).unwrap(), "000001.sst".into(), TableOptions::default());
    for (k, v) in &entries {
        b.add(k, v).unwrap();
    }
    let p = b.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), p.file_size);
    let t = Table::open(StdFs.open(&path).unwrap(), 1, "000001.sst".into(), None).unwrap();
    check_against_model(&t, &entries, 5, 300, 2500);
    t.verify().unwrap();
}

#[test]
fn out_of_range_options_are_normalized() {
    let entries = gen_entries(4, 300, 200);
    let fs = MemFs::new();
    let opts = TableOptions { block_size: 0, restart_interval: 0, bloom_bits_per_key: 1000, ..Default::default() };
    let p = build(&fs, "/n.sst", &entries, opts);
    assert_eq!(p.num_data_blocks, entries.len() as u64, "block size 0 means one entry per block");
    assert_eq!(p.bloom_bits_per_key, kvd_lsm::sstable::MAX_BLOOM_BITS_PER_KEY);
    let t = open(&fs, "/n.sst", 1, None).unwrap();
    check_against_model(&t, &entries, 6, 200, 200);
}

/// Data blocks end before an entry would take them, read back with their 9-byte trailer,
/// past the block size, once they are 90 % full: each fits the allocator size class of the
/// block size instead of spilling a few bytes into the next one.
#[test]
fn data_blocks_fit_the_block_size_with_their_trailer() {
    let fs = MemFs::new();
    let mut b = builder(&fs, "/b.sst", TableOptions { block_size: 4096, ..Default::default() });
    for i in 0..20_000u32 {
        let value = vec![b'v'; 90 + (i as usize * 7) % 30];
        b.add(&ikey(format!("key{i:012}").as_bytes(), 1, ValueKind::Put), &value).unwrap();
    }
    b.finish().unwrap();
    let t = open(&fs, "/b.sst", 1, None).unwrap();
    let blocks = t.index_entries().unwrap();
    assert!(blocks.len() > 100, "{} blocks", blocks.len());
    for (_, h) in &blocks[..blocks.len() - 1] {
        let with_trailer = h.size + 9;
        assert!((3686..=4096).contains(&with_trailer), "block of {} bytes with its trailer", with_trailer);
    }
}
