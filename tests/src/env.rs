//! Test environments: option presets, the simulated disk (a [`FaultFs`] over a [`MemFs`]),
//! crashes, and the knobs that scale a run.
//!
//! Environment variables:
//! - `KVD_STRESS=1` runs the longer variants of every scenario;
//! - `KVD_SEED=<u64>` replays a randomised scenario with a given seed (each prints the seed
//!   it used, so a failure can be replayed).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kvd::{Db, Options, SyncPolicy, TableOptions};
use kvd_base::file_names::{parse_file_name, FileKind};
use kvd_base::fs::{FaultFs, Fs, MemFs};

/// True when `KVD_STRESS=1`: scenarios run longer and with more cases.
pub fn stress() -> bool {
    std::env::var("KVD_STRESS").is_ok_and(|v| v == "1")
}

/// `normal`, or `stressed` under `KVD_STRESS=1`.
pub fn scale<T>(normal: T, stressed: T) -> T {
    if stress() {
        stressed
    } else {
        normal
    }
}

/// The seed of a randomised scenario: `KVD_SEED` if set, else a fresh one. Prints it with
/// `name` so a failing run can be replayed.
pub fn seed(name: &str) -> u64 {
    let seed = std::env::var("KVD_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    eprintln!("{name}: KVD_SEED={seed}");
    seed
}

/// The directory every in-memory database lives in.
pub const DB_DIR: &str = "/db";

/// The database directory as a path.
pub fn db_dir() -> PathBuf {
    PathBuf::from(DB_DIR)
}

/// Options for a small database on `fs`: 8 KiB memtables (so flushes and log rotations are
/// frequent), 512-byte blocks, every write synced.
pub fn small_options(fs: Arc<dyn Fs>) -> Options {
    Options {
        fs,
        write_buffer_size: 8 << 10,
        sync_policy: SyncPolicy::Always,
        table: TableOptions { block_size: 512, ..TableOptions::default() },
        block_cache_bytes: 256 << 10,
        ..Options::default()
    }
}

/// A simulated disk: a [`MemFs`] seen through a [`FaultFs`], so a test can both fail chosen
/// operations and cut the power.
#[derive(Debug, Clone)]
pub struct SimDisk {
    /// The storage, with power-loss semantics.
    pub mem: MemFs,
    /// The same storage with fault injection; databases are opened on this one.
    pub fault: FaultFs,
}

impl Default for SimDisk {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        let mem = MemFs::new();
        let fault = FaultFs::new(Arc::new(mem.clone()));
        SimDisk { mem, fault }
    }

    /// An independent copy of this disk's durable and visible files in `dir`, all synced:
    /// building a database once and copying it is much faster than building it per case.
    pub fn copy_dir(&self, dir: &Path) -> SimDisk {
        let copy = SimDisk::new();
        copy.mem.create_dir_all(dir).expect("mkdir");
        for name in self.mem.list_dir(dir).expect("list") {
            let path = dir.join(&name);
            let data = self.mem.read_all(&path).expect("read");
            let mut f = copy.mem.create(&path).expect("create");
            f.append(&data).and_then(|()| f.sync()).expect("write");
        }
        copy.mem.sync_dir(dir).expect("sync dir");
        copy
    }

    /// The file system to open databases on.
    pub fn fs(&self) -> Arc<dyn Fs> {
        Arc::new(self.fault.clone())
    }

    /// Simulates a machine crash at this instant: from now on every state-changing operation
    /// of the old process fails (as if it had stopped), the old handle is dropped, and every
    /// byte and directory entry that was not synced is lost. The disk is then usable again.
    ///
    /// Freezing before dropping matters: `Db`'s drop closes it, and a close that reached the
    /// disk would sync what a real crash would lose.
    pub fn crash(&self, db: Option<Db>) {
        self.fault.fail_after(0, true);
        // Let operations that passed their fault check just before the freeze finish.
        std::thread::sleep(Duration::from_millis(1));
        drop(db);
        self.mem.power_loss();
        self.fault.disarm();
    }
}

/// The database files in `dir` of `fs`, by kind, sorted by name.
pub fn db_files(fs: &dyn Fs, dir: &Path) -> Vec<(String, FileKind)> {
    let mut v: Vec<_> =
        fs.list_dir(dir).unwrap_or_default().into_iter().filter_map(|n| parse_file_name(&n).map(|k| (n, k))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Paths of the write-ahead logs in `dir`, oldest first.
pub fn wal_files(fs: &dyn Fs, dir: &Path) -> Vec<PathBuf> {
    db_files(fs, dir).into_iter().filter(|(_, k)| matches!(k, FileKind::Wal(_))).map(|(n, _)| dir.join(n)).collect()
}

/// Paths of the tables in `dir`, oldest first.
pub fn table_files(fs: &dyn Fs, dir: &Path) -> Vec<PathBuf> {
    db_files(fs, dir).into_iter().filter(|(_, k)| matches!(k, FileKind::Table(_))).map(|(n, _)| dir.join(n)).collect()
}

/// The file name of `path`, for matching error messages.
pub fn file_name(path: &Path) -> String {
    path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}
