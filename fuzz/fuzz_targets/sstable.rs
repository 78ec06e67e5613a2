//! A whole table file: open (footer, properties, index, filter), iterate, point-read, verify.
#![no_main]

use std::path::Path;

use kvd_base::fs::{Fs, MemFs};
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::Table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fs = MemFs::new();
    let path = Path::new("/fuzz.sst");
    let mut f = fs.create(path).expect("create");
    f.append(data).expect("append");
    drop(f);
    let Ok(table) = Table::open(fs.open(path).expect("open"), 1, "fuzz.sst".into(), None) else { return };
    let mut it = table.iter();
    if it.seek_to_first().is_ok() {
        while it.valid() && it.next().is_ok() {}
    }
    if it.seek_to_last().is_ok() {
        while it.valid() && it.prev().is_ok() {}
    }
    let probe = &data[..data.len().min(16)];
    let _ = it.seek(probe);
    let _ = table.get(probe, u64::MAX >> 8);
    let _ = table.verify();
});
