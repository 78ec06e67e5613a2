//! A write-ahead log file in every recovery mode, each payload decoded as a batch record.
#![no_main]

use kvd_wal::{LogReader, RecoveryMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency, RecoveryMode::PointInTime] {
        let Ok(mut reader) = LogReader::new(data.to_vec(), "fuzz.log", mode) else { continue };
        while let Ok(Some(payload)) = reader.next_record() {
            let _ = kvd::decode_record(&payload, "fuzz.log", reader.last_record_offset().unwrap_or(0));
        }
        let _ = reader.tail_dropped();
    }
});
