//! Tables compared with a sorted-`Vec` model across option combinations: scans both ways,
//! seeks, seek-for-prevs, random walks and point gets at many sequence numbers.

mod sstable_common;

use kvd_base::fs::MemFs;
use kvd_base::ValueKind;
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{Compression, TableOptions};
use proptest::prelude::*;
use sstable_common::*;

#[test]
fn empty_table_is_valid_and_yields_nothing() {
    let fs = MemFs::new();
    let props = build(&fs, "/empty.sst", &Vec::new(), TableOptions::default());
    assert_eq!(props.num_entries, 0);
    assert_eq!(props.num_data_blocks, 0);
    assert_eq!(props.filter_size, 0);
    assert!(props.smallest_key.is_empty() && props.largest_key.is_empty());
    let t = open(&fs, "/empty.sst", 1, None).unwrap();
    assert_eq!(t.properties().file_size, props.file_size);
    assert!(t.footer().filter.is_none());
    assert_eq!(t.filter_info(), (0, 0, 0));
    let mut it = t.iter();
    for step in 0..4 {
        match step {
            0 => it.seek_to_first().unwrap(),
            1 => it.seek_to_last().unwrap(),
            2 => it.seek(&ikey(b"a", 1, ValueKind::Put)).unwrap(),
            _ => it.seek_for_prev(&ikey(b"a", 1, ValueKind::Put)).unwrap(),
        }
        assert!(!it.valid());
    }
    assert_eq!(t.get(b"a", u64::MAX).unwrap(), None);
    assert_eq!(t.verify().unwrap().entries, 0);
    assert!(t.index_entries().unwrap().is_empty());
}

#[test]
fn single_entry_every_option_combo() {
    for (i, opts) in option_combos().into_iter().enumerate() {
        let entries = vec![(ikey(b"only", 5, ValueKind::Put), b"value".to_vec())];
        let fs = MemFs::new();
        build(&fs, "/one.sst", &entries, opts);
        let t = open(&fs, "/one.sst", 1, None).unwrap();
        check_against_model(&t, &entries, i as u64, 50, 4);
        assert_eq!(t.get(b"only", 5).unwrap(), Some(entries[0].clone()));
        assert_eq!(t.get(b"only", 4).unwrap(), None);
        assert_eq!(t.verify().unwrap().entries, 1);
    }
}

#[test]
fn thousands_of_entries_every_option_combo() {
    for (i, opts) in option_combos().into_iter().enumerate() {
        let entries = gen_entries(100 + i as u64, 3000, 1500);
        let fs = MemFs::new();
        let props = build(&fs, "/t.sst", &entries, opts.clone());
        assert_eq!(props.num_entries, entries.len() as u64);
        let t = open(&fs, "/t.sst", 1, None).unwrap();
        assert_eq!(t.properties(), &props, "{opts:?}");
        check_against_model(&t, &entries, i as u64, 400, 1500);
        let report = t.verify().unwrap();
        assert_eq!(report.entries, entries.len() as u64);
        assert_eq!(report.data_blocks, props.num_data_blocks);
    }
}

/// Searches compare 16-byte key heads before whole keys: keys that share 16 bytes or more
/// (every head equal) and keys that end inside the head must search the same.
#[test]
fn keys_sharing_more_than_the_head() {
    let mut rng = XorShift::new(11);
    let mut entries: Entries = Vec::new();
    for i in 0..4000u64 {
        let n = rng.below(20_000);
        let uk = match i % 3 {
            0 => format!("tenant/0001/collection/{n:06}").into_bytes(),
            1 => format!("tenant/0001/{n}").into_bytes(),
            _ => format!("t/{}", n % 50).into_bytes(),
        };
        entries.push((ikey(&uk, 1 + rng.below(5), ValueKind::Put), rng.bytes(1 + (n % 40) as usize)));
    }
    sort_dedup(&mut entries);
    let opts = TableOptions { block_size: 256, ..TableOptions::default() };
    let fs = MemFs::new();
    build(&fs, "/p.sst", &entries, opts);
    let t = open(&fs, "/p.sst", 1, None).unwrap();
    check_against_model(&t, &entries, 3, 2000, 20_000);
}

#[test]
fn fifty_thousand_entries() {
    let entries = gen_entries(7, 50_000, 30_000);
    for opts in [
        TableOptions {
            block_size: 256,
            restart_interval: 1,
            bloom_bits_per_key: 10,
            compression: Compression::Zstd { level: 3 },
        },
        TableOptions {
            block_size: 16 * 1024,
            restart_interval: 32,
            bloom_bits_per_key: 0,
            compression: Compression::None,
        },
    ] {
        let fs = MemFs::new();
        let props = build(&fs, "/big.sst", &entries, opts.clone());
        let t = open(&fs, "/big.sst", 1, None).unwrap();
        assert_eq!(t.properties().num_data_blocks, props.num_data_blocks);
        assert!(props.num_data_blocks > 20, "{opts:?}: {} blocks", props.num_data_blocks);
        check_against_model(&t, &entries, 99, 1500, 30_000);
        t.verify().unwrap();
    }
}

#[test]
fn many_versions_of_one_key_span_blocks() {
    // 2000 versions of one user key, in tiny blocks: gets must find the right version even
    // when the versions cross many block boundaries (where separators cannot be shortened).
    let mut entries: Entries =
        (0..2000u64).map(|s| (ikey(b"hot", s * 2 + 1, ValueKind::Put), s.to_le_bytes().to_vec())).collect();
    entries.push((ikey(b"cold", 1, ValueKind::Put), b"c".to_vec()));
    sort_dedup(&mut entries);
    let fs = MemFs::new();
    build(&fs, "/v.sst", &entries, TableOptions { block_size: 128, restart_interval: 3, ..Default::default() });
    let t = open(&fs, "/v.sst", 1, None).unwrap();
    for seq in [0u64, 1, 2, 3, 1000, 1001, 3999, 4000, u64::MAX] {
        assert_eq!(t.get(b"hot", seq).unwrap(), model_get(&entries, b"hot", seq), "seq {seq}");
    }
    check_against_model(&t, &entries, 3, 300, 2);
}

#[test]
fn properties_describe_the_contents() {
    let entries = gen_entries(11, 5000, 3000);
    let fs = MemFs::new();
    let opts = TableOptions { compression: Compression::Zstd { level: 2 }, ..Default::default() };
    let p = build(&fs, "/p.sst", &entries, opts);
    let count = |k: ValueKind| entries.iter().filter(|(key, _)| key[key.len() - 8] == k as u8).count() as u64;
    assert_eq!(p.num_deletions, count(ValueKind::Delete));
    assert_eq!(p.num_expiring, count(ValueKind::PutWithExpiry));
    assert!(p.earliest_expiry.is_some_and(|e| (1_000_000..1_001_000).contains(&e)));
    assert_eq!(p.raw_key_size, entries.iter().map(|(k, _)| k.len() as u64).sum::<u64>());
    assert_eq!(p.raw_value_size, entries.iter().map(|(_, v)| v.len() as u64).sum::<u64>());
    assert_eq!(p.smallest_key, entries[0].0);
    assert_eq!(p.largest_key, entries[entries.len() - 1].0);
    assert_eq!(p.compression, Compression::Zstd { level: 2 });
    assert_eq!(p.bloom_bits_per_key, 10);
    assert_eq!(p.created_at_millis, 1_700_000_000_000);
    assert_eq!(p.format_version, kvd_base::format::SST_FORMAT_VERSION);
    assert_eq!(
        p.file_size,
        p.data_size + p.index_size + p.filter_size + {
            let t = open(&fs, "/p.sst", 1, None).unwrap();
            t.footer().properties.size + 9 + kvd_lsm::sstable::FOOTER_LEN as u64
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Arbitrary key sets (short binary user keys, many versions) against the model.
    #[test]
    fn model_comparison(
        raw in proptest::collection::vec(
            (proptest::collection::vec(0u8..4, 0..5), 0u64..50, 0u8..3, proptest::collection::vec(any::<u8>(), 0..40)),
            0..300,
        ),
        block_size in 64usize..2048,
        restart_interval in 1usize..33,
        bloom in prop_oneof![Just(0u32), Just(10u32)],
        zstd in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut entries: Entries = raw
            .into_iter()
            .map(|(uk, seq, kind, mut v)| {
                let kind = [ValueKind::Delete, ValueKind::Put, ValueKind::PutWithExpiry][kind as usize];
                if kind == ValueKind::PutWithExpiry {
                    v = kvd_base::key::encode_expiring_value(seq * 7, &v);
                }
                (ikey(&uk, seq, kind), v)
            })
            .collect();
        sort_dedup(&mut entries);
        let compression = if zstd { Compression::Zstd { level: 1 } } else { Compression::None };
        let opts = TableOptions { block_size, restart_interval, bloom_bits_per_key: bloom, compression };
        let fs = MemFs::new();
        build(&fs, "/m.sst", &entries, opts);
        let t = open(&fs, "/m.sst", 1, None).unwrap();
        check_against_model(&t, &entries, seed, 60, 8);
        prop_assert_eq!(t.verify().unwrap().entries, entries.len() as u64);
    }
}
