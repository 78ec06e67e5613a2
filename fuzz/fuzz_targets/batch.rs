//! One log record's payload decoded as the engine's batch encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = kvd::decode_record(data, "fuzz.log", 0) {
        // Decoded entries never claim more than the input could hold.
        assert!(entries.len() <= data.len());
    }
});
