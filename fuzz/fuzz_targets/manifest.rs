//! A manifest named by `CURRENT`, replayed by recovery.
#![no_main]

use std::path::Path;

use kvd_base::fs::{Fs, MemFs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fs = MemFs::new();
    let dir = Path::new("/db");
    fs.create_dir_all(dir).expect("mkdir");
    fs.write_atomic(&dir.join("CURRENT"), b"MANIFEST-000001\n").expect("CURRENT");
    let mut f = fs.create(&dir.join("MANIFEST-000001")).expect("create");
    f.append(data).expect("append");
    drop(f);
    let _ = kvd_lsm::manifest::recover(&fs, dir);
});
