//! Shared helpers: an in-process server on an ephemeral port, and the `kvd` binary.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kvd_server::client::ClientOptions;
use kvd_server::config::{Config, SyncSetting};
use kvd_server::{KvdClient, Server, ServerError};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process on 127.0.0.1 with a fresh data directory.
pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

/// The configuration tests start from: ephemeral port, temp dir, no fsync.
pub fn test_config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        sync: SyncSetting(kvd::SyncPolicy::Never),
        grace_period_ms: 2_000,
        ..Config::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.serve(async {
            let _ = rx.await;
        }));
        TestServer { addr, dir, stop: Some(tx), task }
    }

    pub async fn client(&self) -> KvdClient {
        KvdClient::connect(self.addr.to_string()).await.unwrap()
    }

    pub async fn client_with(&self, opts: ClientOptions) -> KvdClient {
        KvdClient::connect_with(self.addr.to_string(), opts).await.unwrap()
    }

    /// A raw channel, for requests the typed client cannot make.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr)).unwrap().connect().await.unwrap()
    }

    /// Starts the graceful shutdown without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down gracefully and returns the server's result and its data directory.
    pub async fn stop(mut self) -> (Result<(), ServerError>, TempDir) {
        self.begin_stop();
        let r = self.task.await.unwrap();
        (r, self.dir)
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the built `kvd` binary on `port` with `dir` and extra flags; stderr is captured.
pub fn spawn_kvd(dir: &Path, port: u16, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kvd"))
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Connects to the server on `port` once it reports SERVING (within 20 s).
pub async fn wait_ready(port: u16) -> KvdClient {
    let deadline = Instant::now() + Duration::from_secs(20);
    let opts = ClientOptions { connect_timeout: Duration::from_millis(500), ..ClientOptions::default() };
    loop {
        if let Ok(c) = KvdClient::connect_with(format!("127.0.0.1:{port}"), opts.clone()).await {
            if c.health("").await.is_ok() {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "kvd did not come up on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `sig` to the process `child`.
pub fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
}

/// Waits up to `timeout` for `child` to exit.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kvd did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `key-000042` style keys that sort in numeric order.
pub fn key(i: usize) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}
