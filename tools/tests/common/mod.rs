//! Helpers shared by the tools' integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kvd::{Db, Options, ReadOptions};

/// Options that make small tables quickly: many flushes, several files.
pub fn small_opts() -> Options {
    Options { write_buffer_size: 32 << 10, ..Options::default() }
}

/// Every `(key, value)` visible at `seqno` (the latest when `None`).
pub fn scan_at(db: &Db, seqno: Option<u64>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = db.iter(&ReadOptions { seqno, ..Default::default() });
    it.seek_to_first();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().expect("scan");
    out
}

/// Sorted paths of the files in `dir` whose names end with `suffix`.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
        .collect();
    v.sort();
    v
}

/// XORs the byte at `offset` of `path` with `0x55`.
pub fn flip_byte(path: &Path, offset: usize) {
    let mut data = std::fs::read(path).expect("read");
    data[offset] ^= 0x55;
    std::fs::write(path, data).expect("write");
}

/// Writes `n` keys `key{i:06}` with values of about `len` bytes, flushing at the end.
pub fn fill(db: &Db, range: std::ops::Range<u32>, len: usize) {
    for i in range {
        let v = format!("value-{i}-").repeat(len / 8 + 1);
        db.put(format!("key{i:06}").as_bytes(), &v.as_bytes()[..len]).expect("put");
    }
    db.flush().expect("flush");
}

/// Runs a built binary, returning exit code, stdout and stderr.
pub fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bin).args(args).output().expect("spawn");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A kvd server running in this process on an ephemeral port, with its own runtime, for
/// the tools that talk to a server address.
pub struct TestServer {
    pub runtime: tokio::runtime::Runtime,
    /// `host:port`.
    pub addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), kvd_server::ServerError>>,
}

impl TestServer {
    /// Serves a database in `data_dir` (created if missing), without fsync.
    pub fn start(data_dir: &Path) -> TestServer {
        use kvd_server::config::{Config, SyncSetting};
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let config = Config {
            data_dir: data_dir.to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            sync: SyncSetting(kvd::SyncPolicy::Never),
            ..Config::default()
        };
        let server = runtime.block_on(kvd_server::Server::bind(config)).unwrap();
        let addr = server.local_addr().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(server.serve(async {
            let _ = stopped.await;
        }));
        TestServer { runtime, addr, stop, task }
    }

    /// A client connected to the server.
    pub fn client(&self) -> kvd_server::KvdClient {
        self.runtime.block_on(kvd_server::KvdClient::connect(&self.addr)).unwrap()
    }

    /// Shuts the server down gracefully and checks it closed cleanly.
    pub fn stop(self) {
        let _ = self.stop.send(());
        self.runtime.block_on(self.task).unwrap().unwrap();
    }
}
