//! A data or index block's contents: decode, then walk it both ways and seek.
#![no_main]

use std::sync::Arc;

use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::Block;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The last bytes double as a seek target.
    let probe = &data[data.len().saturating_sub(12)..];
    let Ok(block) = Block::from_bytes(data.to_vec()) else { return };
    let mut it = Arc::new(block).iter();
    if it.seek_to_first().is_ok() {
        while it.valid() && it.next().is_ok() {}
    }
    if it.seek_to_last().is_ok() {
        while it.valid() && it.prev().is_ok() {}
    }
    let _ = it.seek(probe);
    let _ = it.seek_for_prev(probe);
});
