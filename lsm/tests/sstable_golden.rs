//! The checked-in format-version-1 table, `tests/fixtures/v1.sst`, must stay readable with
//! exactly these contents by every future version of the reader.
//!
//! Regenerate it (only when deliberately changing what v1 fixtures contain, never to paper over
//! a reader change) with `KVD_REGENERATE_FIXTURES=1 cargo test -p kvd-lsm --test sstable_golden`.

mod sstable_common;

use std::path::PathBuf;
use std::sync::Arc;

use kvd_base::fs::{Fs, StdFs};
use kvd_base::key::encode_expiring_value;
use kvd_base::ValueKind;
use kvd_lsm::cache::BlockCache;
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{Compression, Table, TableBuilder, TableOptions};
use sstable_common::*;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sst")
}

/// The fixture's entries: 400 user keys at seqnos 1000.., every 50th with an older version;
/// tombstones, expiring values and repetitive (compressible) values mixed in.
fn golden_entries() -> Entries {
    let mut e = Vec::new();
    for i in 0..400u64 {
        let uk = format!("golden/{i:04}").into_bytes();
        let (kind, value) = match i % 10 {
            3 => (ValueKind::Delete, Vec::new()),
            7 => {
                (ValueKind::PutWithExpiry, encode_expiring_value(1_800_000_000_000 + i, format!("ttl-{i}").as_bytes()))
            }
            _ => (ValueKind::Put, format!("value-{i}-").repeat(i as usize % 5 + 1).into_bytes()),
        };
        e.push((ikey(&uk, 1000 + i, kind), value));
        if i.is_multiple_of(50) {
            e.push((ikey(&uk, i, ValueKind::Put), b"old".to_vec()));
        }
    }
    sort_dedup(&mut e);
    e
}

fn golden_options() -> TableOptions {
    TableOptions {
        block_size: 512,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        compression: Compression::Zstd { level: 3 },
    }
}

fn regenerate() {
    let path = fixture_path();
    let fs = StdFs;
    fs.create_dir_all(path.parent().expect("fixture dir")).expect("mkdir");
    let mut b = TableBuilder::new(fs.create(&path).expect("create"), "v1.sst".into(), golden_options());
    b.set_created_at_millis(1_700_000_000_000);
    for (k, v) in golden_entries() {
        b.add(&k, &v).expect("add");
    }
    b.finish().expect("finish");
}

#[test]
fn v1_fixture_reads_back_exactly() {
    if std::env::var_os("KVD_REGENERATE_FIXTURES").is_some_and(|v| v == "1") {
        regenerate();
    }
    let path = fixture_path();
    let file = StdFs.open(&path).expect("tests/fixtures/v1.sst is checked in");
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Table::open(file, 1, "v1.sst".into(), Some(cache)).expect("open fixture");
    let entries = golden_entries();

    let p = t.properties();
    assert_eq!(p.format_version, 1);
    assert_eq!(p.num_entries, 408);
    assert_eq!(p.num_deletions, 40);
    assert_eq!(p.num_expiring, 40);
    assert_eq!(p.earliest_expiry, Some(1_800_000_000_007));
    assert_eq!(p.smallest_key, ikey(b"golden/0000", 1000, ValueKind::Put));
    assert_eq!(p.largest_key, ikey(b"golden/0399", 1399, ValueKind::Put));
    assert_eq!((p.smallest_seqno, p.largest_seqno), (0, 1399));
    assert_eq!(p.compression, Compression::Zstd { level: 3 });
    assert_eq!(p.bloom_bits_per_key, 10);
    assert_eq!(p.created_at_millis, 1_700_000_000_000);
    assert_eq!(p.raw_key_size, entries.iter().map(|(k, _)| k.len() as u64).sum::<u64>());
    assert_eq!(p.raw_value_size, entries.iter().map(|(_, v)| v.len() as u64).sum::<u64>());
    assert_eq!(p.num_data_blocks as usize, t.index_entries().unwrap().len());
    assert!(p.num_data_blocks > 10);
    assert_eq!(t.filter_info().1, 7);

    let mut it = t.iter();
    assert_eq!(collect_forward(&mut it).unwrap(), entries);
    assert_eq!(collect_backward(&mut it).unwrap(), entries);
    it.seek(&ikey(b"golden/0123", u64::from(u32::MAX), ValueKind::Put)).unwrap();
    assert_eq!(it.key(), &ikey(b"golden/0123", 1123, ValueKind::Delete)[..]);
    assert_eq!(t.get(b"golden/0100", 99).unwrap().map(|(_, v)| v), None);
    assert_eq!(t.get(b"golden/0100", 100).unwrap().map(|(_, v)| v), Some(b"old".to_vec()));
    assert_eq!(t.get(b"golden/0100", 1100).unwrap().map(|(_, v)| v), Some(b"value-100-".to_vec()));
    assert_eq!(t.get(b"golden/0400", u64::MAX).unwrap(), None);
    check_against_model(&t, &entries, 1, 300, 400);
    // The fixture must exercise the zstd path of the reader.
    let raw = std::fs::read(&path).unwrap();
    let kinds: Vec<u8> = t.index_entries().unwrap().iter().map(|(_, h)| raw[(h.offset + h.size) as usize]).collect();
    assert!(kinds.contains(&1), "no zstd block in the fixture: {kinds:?}");
    let report = t.verify().unwrap();
    assert_eq!((report.entries, report.deletions, report.expiring), (408, 40, 40));
}
