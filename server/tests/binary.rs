//! The built `kvd` binary: acknowledged writes survive SIGKILL and SIGTERM, SIGTERM exits 0,
//! a second signal exits 130 at once, and the startup config is one log line.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{free_port, signal, spawn_kvd, wait_exit, wait_ready};
use kvd_server::client::{Batch, ScanOptions};
use kvd_server::KvdClient;

/// Writers that keep writing until `stop`; each returns the writes the server acknowledged.
fn spawn_writers(
    client: &KvdClient,
    writers: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<BTreeMap<Vec<u8>, Vec<u8>>>> {
    (0..writers)
        .map(|w| {
            let c = client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut acked = BTreeMap::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("w{w}/{i:08}").into_bytes();
                    let value = format!("value {w} {i}").into_bytes();
                    let r = if i % 5 == 0 {
                        let mut b = Batch::new();
                        b.put(&key, &value).put(format!("w{w}/batch/{i:08}"), &value);
                        c.write(&b).await.map(|_| vec![(format!("w{w}/batch/{i:08}").into_bytes(), value.clone())])
                    } else {
                        c.put(&key, &value).await.map(|_| vec![])
                    };
                    match r {
                        Ok(extra) => {
                            acked.insert(key, value);
                            acked.extend(extra);
                        }
                        // The server is going away: no more acknowledgements from it.
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect()
}

async fn check_all_present(client: &KvdClient, acked: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let stored: BTreeMap<Vec<u8>, Vec<u8>> =
        client.scan(ScanOptions::all()).await.unwrap().collect_all().await.unwrap().into_iter().collect();
    for (k, v) in acked {
        assert_eq!(stored.get(k), Some(v), "acknowledged write of {} lost", String::from_utf8_lossy(k));
    }
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<BTreeMap<Vec<u8>, Vec<u8>>>>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut all = BTreeMap::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn_kvd(dir.path(), port, &["--sync", "always"]);
    let client = wait_ready(port).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&client, 4, &stop);
    tokio::time::sleep(Duration::from_millis(400)).await;
    child.kill().unwrap(); // SIGKILL, mid-stream of writes
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked = collect(writers).await;
    assert!(acked.len() > 20, "only {} writes acknowledged", acked.len());

    let port = free_port();
    let mut child = spawn_kvd(dir.path(), port, &["--sync", "always"]);
    let client = wait_ready(port).await;
    check_all_present(&client, &acked).await;
    signal(&child, libc::SIGTERM);
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_syncs_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The default sync policy (interval): the shutdown's own sync makes the writes durable.
    let mut child = spawn_kvd(dir.path(), port, &[]);
    let client = wait_ready(port).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&client, 4, &stop);
    tokio::time::sleep(Duration::from_millis(400)).await;
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    let acked = collect(writers).await;
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    assert!(acked.len() > 20, "only {} writes acknowledged", acked.len());

    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let config_lines: Vec<_> = stderr.lines().filter(|l| l.contains("starting kvd")).collect();
    assert_eq!(config_lines.len(), 1, "{stderr}");
    assert!(config_lines[0].contains("max_message_bytes") && config_lines[0].contains("interval:100"), "{stderr}");
    assert!(stderr.contains("database closed"), "{stderr}");

    let port = free_port();
    let mut child = spawn_kvd(dir.path(), port, &[]);
    let client = wait_ready(port).await;
    check_all_present(&client, &acked).await;
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)).code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_exits_130_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn_kvd(dir.path(), port, &["--grace-period-ms", "60000"]);
    let client = wait_ready(port).await;
    let mut b = Batch::new();
    for i in 0..3000 {
        b.put(format!("k{i:05}"), vec![b'x'; 1000]);
    }
    client.write(&b).await.unwrap();
    // A scan the client does not read keeps a call in flight, so the drain must wait.
    let mut held = client.scan(ScanOptions { chunk_size: 10, ..ScanOptions::all() }).await.unwrap();
    assert!(held.next_entry().await.is_some());
    signal(&child, libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "still draining the held scan");
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
    drop(held);

    // Nothing acknowledged was lost.
    let port = free_port();
    let mut child = spawn_kvd(dir.path(), port, &[]);
    let client = wait_ready(port).await;
    assert_eq!(client.scan(ScanOptions::prefix(b"k")).await.unwrap().collect_all().await.unwrap().len(), 3000);
    signal(&child, libc::SIGTERM);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)).code(), Some(0));
}

#[test]
fn help_documents_every_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvd")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--config", "--data-dir", "--listen", "--sync", "--max-message-bytes", "--grace-period-ms"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_kvd")).args(["--sync", "sometimes"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown sync policy"));
}
