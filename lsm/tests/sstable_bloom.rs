//! The table's bloom filter: no false negatives, ~1% false positives at 10 bits per key,
//! identical across reopen and rebuild, and consulted (never trusted for presence) by `get`.

mod sstable_common;

use kvd_base::fs::MemFs;
use kvd_base::ValueKind;
use kvd_lsm::sstable::TableOptions;
use sstable_common::*;

fn entries(n: usize) -> Entries {
    let mut e: Entries = (0..n)
        .flat_map(|i| {
            let uk = format!("present-{i:06}").into_bytes();
            // Two versions per user key: the filter must hold user keys, once each.
            [(ikey(&uk, 2, ValueKind::Put), b"new".to_vec()), (ikey(&uk, 1, ValueKind::Delete), Vec::new())]
        })
        .collect();
    sort_dedup(&mut e);
    e
}

#[test]
fn no_false_negatives_and_about_one_percent_false_positives() {
    let fs = MemFs::new();
    build(&fs, "/b.sst", &entries(10_000), TableOptions::default());
    let t = open(&fs, "/b.sst", 1, None).unwrap();
    let (bits, k, size) = t.filter_info();
    assert_eq!(k, 7);
    assert_eq!(bits, 100_000, "10 bits per distinct user key");
    assert!(size > 12_500 && size < 12_600);
    assert!((0..10_000).all(|i| t.may_contain(format!("present-{i:06}").as_bytes())));
    let probes = 20_000;
    let fp = (0..probes).filter(|i| t.may_contain(format!("absent-{i:06}").as_bytes())).count();
    let rate = fp as f64 / probes as f64;
    assert!(rate < 0.03, "false-positive rate {rate}");
    assert!(rate > 0.001, "suspiciously low false-positive rate {rate}: is the filter probed?");
}

#[test]
fn filter_is_stable_across_reopen_and_rebuild() {
    let e = entries(500);
    let a = table_bytes(&e, TableOptions::default());
    let b = table_bytes(&e, TableOptions::default());
    assert_eq!(a, b, "building is deterministic (fixed seed, fixed creation time)");
    let t1 = open_bytes("/a.sst", &a).unwrap();
    let t2 = open_bytes("/a.sst", &a).unwrap();
    for i in 0..5000 {
        let k = format!("probe-{i}");
        assert_eq!(t1.may_contain(k.as_bytes()), t2.may_contain(k.as_bytes()));
    }
}

#[test]
fn get_uses_the_filter_and_disabled_filter_admits_everything() {
    let e = entries(1000);
    let fs = MemFs::new();
    build(&fs, "/f.sst", &e, TableOptions::default());
    build(&fs, "/nf.sst", &e, TableOptions { bloom_bits_per_key: 0, ..Default::default() });
    let with = open(&fs, "/f.sst", 1, None).unwrap();
    let without = open(&fs, "/nf.sst", 2, None).unwrap();
    assert!(without.footer().filter.is_none());
    assert_eq!(without.properties().filter_size, 0);
    assert!(without.may_contain(b"anything at all"));
    for i in (0..1000).step_by(7) {
        let uk = format!("present-{i:06}").into_bytes();
        for seq in [0, 1, 2, 3] {
            assert_eq!(with.get(&uk, seq).unwrap(), model_get(&e, &uk, seq));
            assert_eq!(without.get(&uk, seq).unwrap(), model_get(&e, &uk, seq));
        }
        let absent = format!("absent-{i}").into_bytes();
        assert_eq!(with.get(&absent, u64::MAX).unwrap(), None);
        assert_eq!(without.get(&absent, u64::MAX).unwrap(), None);
    }
}

#[test]
fn higher_bits_per_key_lower_false_positives() {
    let e = entries(3000);
    let rate = |bits: u32| {
        let t = open_bytes("/r.sst", &table_bytes(&e, TableOptions { bloom_bits_per_key: bits, ..Default::default() }))
            .unwrap();
        (0..20_000).filter(|i| t.may_contain(format!("absent-{i}").as_bytes())).count()
    };
    let (r4, r16) = (rate(4), rate(16));
    assert!(r16 < r4, "4 bits: {r4}, 16 bits: {r16}");
}
