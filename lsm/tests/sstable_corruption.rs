//! Damaged tables: every flipped byte, every truncation and arbitrary garbage give a
//! corruption error naming the file (at open, at read, or at verify); never a panic, never
//! silently different data.

mod sstable_common;

use std::path::Path;

use kvd_base::fs::{Fs, MemFs};
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{Compression, TableOptions, FOOTER_LEN};
use proptest::prelude::*;
use sstable_common::*;

const NAME: &str = "/db/000042.sst";

fn small_opts() -> TableOptions {
    TableOptions {
        block_size: 512,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        compression: Compression::Zstd { level: 1 },
    }
}

/// Opens, scans, gets and verifies; returns the first error, or the scanned contents.
fn read_everything(fs: &MemFs, entries: &Entries) -> kvd_lsm::Result<Entries> {
    let t = open(fs, NAME, 1, None)?;
    let mut it = t.iter();
    let fwd = collect_forward(&mut it)?;
    for (k, _) in entries.iter().step_by(13) {
        t.get(kvd_base::key::user_key(k), u64::MAX)?;
    }
    t.verify()?;
    Ok(fwd)
}

fn assert_names_file(e: &kvd_lsm::Error) {
    assert!(e.is_corruption(), "expected corruption, got {e}");
    assert!(e.to_string().contains(NAME), "error does not name the file: {e}");
}

#[test]
fn each_region_flipped_is_detected() {
    let entries = gen_entries(1, 800, 500);
    let fs = MemFs::new();
    build(&fs, NAME, &entries, small_opts());
    let t = open(&fs, NAME, 1, None).unwrap();
    let footer = *t.footer();
    let len = t.properties().file_size as usize;
    let filter = footer.filter.expect("filter");
    let regions = [
        ("data block", 3usize),
        ("data block trailer", t.index_entries().unwrap()[0].1.size as usize + 2),
        ("filter", filter.offset as usize + 20),
        ("index", footer.index.offset as usize + 1),
        ("properties", footer.properties.offset as usize + 4),
        ("footer handles", len - FOOTER_LEN + 3),
        ("footer version", len - FOOTER_LEN + 48),
        ("footer checksum", len - FOOTER_LEN + 55),
        ("magic", len - 1),
    ];
    drop(t);
    for (region, offset) in regions {
        fs.mutate_byte(Path::new(NAME), offset, |b| b ^ 0x40).unwrap();
        let e = read_everything(&fs, &entries).expect_err(region);
        assert_names_file(&e);
        fs.mutate_byte(Path::new(NAME), offset, |b| b ^ 0x40).unwrap();
    }
    assert_eq!(read_everything(&fs, &entries).unwrap(), entries);
}

#[test]
fn data_corruption_surfaces_at_read_with_block_offset() {
    let entries = gen_entries(2, 2000, 1000);
    let fs = MemFs::new();
    build(&fs, NAME, &entries, small_opts());
    let t = open(&fs, NAME, 1, None).unwrap();
    let (_, h) = t.index_entries().unwrap()[3];
    fs.mutate_byte(Path::new(NAME), h.offset as usize + 5, |b| b.wrapping_add(1)).unwrap();
    // The index and filter are in memory: open succeeds, the bad block fails when read.
    let t = open(&fs, NAME, 1, None).unwrap();
    let e = collect_forward(&mut t.iter()).unwrap_err();
    assert_names_file(&e);
    assert!(e.to_string().contains(&format!("offset {}", h.offset)), "{e}");
    let mut it = t.iter();
    assert!(collect_backward(&mut it).is_err());
    assert!(!it.valid(), "an error leaves the iterator invalid");
    assert_names_file(&t.verify().unwrap_err());
}

#[test]
fn every_single_byte_flip_is_detected() {
    // Every byte of a table is covered by a block checksum, the footer checksum or the magic,
    // so no single-byte change can go unnoticed.
    let entries = gen_entries(3, 60, 40);
    let fs = MemFs::new();
    for opts in [small_opts(), TableOptions { block_size: 128, compression: Compression::None, ..Default::default() }] {
        build(&fs, NAME, &entries, opts);
        let len = fs.file_size(Path::new(NAME)).unwrap() as usize;
        for offset in 0..len {
            fs.mutate_byte(Path::new(NAME), offset, |b| b ^ 0x01).unwrap();
            match read_everything(&fs, &entries) {
                Err(e) => assert_names_file(&e),
                Ok(_) => panic!("flip at {offset} of {len} went unnoticed"),
            }
            fs.mutate_byte(Path::new(NAME), offset, |b| b ^ 0x01).unwrap();
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let entries = gen_entries(4, 200, 100);
    let bytes = table_bytes(&entries, small_opts());
    for len in 0..bytes.len() {
        let e = open_bytes(NAME, &bytes[..len]).map(|_| ()).unwrap_err();
        assert_names_file(&e);
    }
    assert!(open_bytes(NAME, &bytes).is_ok());
}

#[test]
fn garbage_files_are_rejected() {
    let mut rng = XorShift::new(5);
    for len in [0usize, 1, 67, 68, 69, 500, 4096] {
        let e = open_bytes(NAME, &rng.bytes(len)).map(|_| ()).unwrap_err();
        assert_names_file(&e);
    }
    // A plausible footer (right magic and checksum) over garbage blocks.
    let real = table_bytes(&gen_entries(6, 50, 50), small_opts());
    let mut fake = rng.bytes(real.len() - FOOTER_LEN);
    fake.extend_from_slice(&real[real.len() - FOOTER_LEN..]);
    assert_names_file(&open_bytes(NAME, &fake).map(|_| ()).unwrap_err());
}

fn never_panics_and_never_lies(bytes: &[u8], original: Option<&Entries>) {
    let Ok(t) = open_bytes(NAME, bytes) else {
        return;
    };
    let mut it = t.iter();
    let fwd = collect_forward(&mut it);
    let _ = collect_backward(&mut it);
    let _ = it.seek(b"user/0001\0\0\0\0\0\0\0\0");
    let _ = it.seek_for_prev(b"user/0050\0\0\0\0\0\0\0\0");
    let _ = t.get(b"user/0001/1", 500);
    let verified = t.verify();
    if let (Some(orig), Ok(fwd), Ok(_)) = (original, fwd, verified) {
        assert_eq!(&fwd, orig, "a damaged table read back different entries without an error");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        never_panics_and_never_lies(&bytes, None);
    }

    #[test]
    fn random_mutations_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
        zstd in any::<bool>(),
    ) {
        let entries = gen_entries(8, 150, 100);
        let compression = if zstd { Compression::Zstd { level: 1 } } else { Compression::None };
        let mut bytes = table_bytes(&entries, TableOptions { compression, ..small_opts() });
        for (pos, b) in edits {
            let i = pos.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(t) = truncate {
            bytes.truncate(t.index(bytes.len()));
        }
        never_panics_and_never_lies(&bytes, Some(&entries));
    }
}
