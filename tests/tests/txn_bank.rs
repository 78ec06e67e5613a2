//! The bank: threads move money between accounts in transactions with retries. The total is
//! conserved in every snapshot read during the run, after a reopen, and after a crash (a
//! child process killed mid-run) that also keeps every acknowledged transfer and no partial
//! one. `KVD_STRESS=1` runs longer.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvd::{Db, Options, RetryOptions, WriteBatch};
use kvd_tests::env::{scale, seed};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ACCOUNTS: usize = 100;
const INITIAL: i64 = 1_000;
const THREADS: usize = 8;
const CHILD_ENV: &str = "KVD_TXN_BANK_CHILD_DIR";

fn account(i: usize) -> Vec<u8> {
    format!("acct/{i:03}").into_bytes()
}

fn num(v: &[u8]) -> i64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

fn setup(db: &Db) {
    let mut b = WriteBatch::new();
    for i in 0..ACCOUNTS {
        b.put(account(i), INITIAL.to_string());
    }
    db.write(b).unwrap();
}

/// Moves a random amount between two random accounts and records the transfer under
/// `xfer/<id>` in the same transaction. Returns false if the payer lacked the funds.
fn transfer(db: &Db, rng: &mut StdRng, id: &str) -> bool {
    let opts = RetryOptions { max_attempts: 100_000, ..RetryOptions::default() };
    kvd::retry(db, opts, |t| {
        let from = rng.random_range(0..ACCOUNTS);
        let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        let amount = rng.random_range(1..=50);
        let a = num(&t.get(&account(from))?.unwrap());
        let b = num(&t.get(&account(to))?.unwrap());
        if a < amount {
            return Ok(false);
        }
        t.put(&account(from), (a - amount).to_string().as_bytes())?;
        t.put(&account(to), (b + amount).to_string().as_bytes())?;
        t.put(format!("xfer/{id}").as_bytes(), format!("{from} {to} {amount}").as_bytes())?;
        Ok(true)
    })
    .unwrap()
}

/// The total of all accounts as one read-only transaction (one snapshot) sees it.
fn total(db: &Db) -> i64 {
    let t = db.transaction();
    let balances: Vec<i64> = t.prefix_scan(b"acct/").unwrap().map(|r| num(&r.unwrap().1)).collect();
    assert_eq!(balances.len(), ACCOUNTS);
    assert!(balances.iter().all(|b| *b >= 0), "no account goes negative");
    balances.iter().sum()
}

/// Checks the recovered state: the total is conserved, the balances are exactly the initial
/// ones plus every recorded transfer (so no transfer is partial), and every id in `acked`
/// is recorded. Returns the number of recorded transfers.
fn verify(db: &Db, acked: &[String]) -> usize {
    assert_eq!(total(db), ACCOUNTS as i64 * INITIAL);
    let mut expected = vec![INITIAL; ACCOUNTS];
    let mut ids = std::collections::HashSet::new();
    for r in db.prefix_scan(b"xfer/") {
        let (k, v) = r.unwrap();
        let v = String::from_utf8(v).unwrap();
        let f: Vec<i64> = v.split(' ').map(|x| x.parse().unwrap()).collect();
        expected[f[0] as usize] -= f[2];
        expected[f[1] as usize] += f[2];
        ids.insert(String::from_utf8(k[5..].to_vec()).unwrap());
    }
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(num(&db.get(&account(i)).unwrap().unwrap()), *want, "account {i} disagrees with the transfer log");
    }
    for id in acked {
        assert!(ids.contains(id), "acknowledged transfer {id} was lost");
    }
    ids.len()
}

/// Runs `THREADS` transfer loops until `stop`; `ack` is told of every committed transfer.
fn run_workers(
    db: &Arc<Db>,
    stop: &Arc<AtomicBool>,
    base_seed: u64,
    ack: impl Fn(&str) + Send + Sync + 'static,
) -> u64 {
    let ack = Arc::new(ack);
    let done = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, stop, ack, done) = (db.clone(), stop.clone(), ack.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(base_seed.wrapping_add(t as u64));
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("{t:02}-{i:09}");
                    if transfer(&db, &mut rng, &id) {
                        ack(&id);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    done.load(Ordering::Relaxed)
}

#[test]
fn total_is_conserved_under_concurrent_transfers_and_reopen() {
    let seed = seed("txn_bank");
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { write_buffer_size: 256 << 10, ..Options::default() };
    let db = Arc::new(Db::open(dir.path(), opts.clone()).unwrap());
    setup(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let checker = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut checks = 0;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(total(&db), ACCOUNTS as i64 * INITIAL, "total changed in a snapshot");
                checks += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            checks
        })
    };
    let timer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(scale(Duration::from_secs(3), Duration::from_secs(30)));
            stop.store(true, Ordering::Relaxed);
        })
    };
    let started = Instant::now();
    let done = run_workers(&db, &stop, seed, |_| {});
    timer.join().unwrap();
    let checks = checker.join().unwrap();
    eprintln!("{done} transfers in {:?}, {checks} snapshot checks", started.elapsed());
    assert!(done > 100 && checks > 10);
    let recorded = verify(&db, &[]);
    assert_eq!(recorded as u64, done);
    drop(db);
    let db = Db::open(dir.path(), opts).unwrap();
    assert_eq!(verify(&db, &[]) as u64, done, "after reopen");
}

/// The child half of the crash test: runs transfers until killed, printing `ACK <id>` for
/// each after its commit returned.
fn child(dir: &Path) {
    let db = Arc::new(Db::open(dir, Options { write_buffer_size: 256 << 10, ..Options::default() }).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let guard = stop.clone();
    // If the parent never kills us, stop anyway.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        guard.store(true, Ordering::Relaxed);
    });
    let out = Mutex::new(std::io::stdout());
    run_workers(&db, &stop, rand::random(), move |id| {
        let mut out = out.lock().unwrap();
        writeln!(out, "ACK {id}").unwrap();
        out.flush().unwrap();
    });
}

#[test]
fn crash_mid_run_keeps_every_acknowledged_transfer() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let mut rng = StdRng::seed_from_u64(seed("txn_bank_crash"));
    let dir = tempfile::tempdir().unwrap();
    setup(&Db::open(dir.path(), Options::default()).unwrap());
    for round in 0..scale(1, 5) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_mid_run_keeps_every_acknowledged_transfer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (acked, stdout) = (acked.clone(), child.stdout.take().unwrap());
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    if let Some(id) = line.unwrap().strip_prefix("ACK ") {
                        acked.lock().unwrap().push(id.to_string());
                    }
                }
            })
        };
        let wait_until = Instant::now() + Duration::from_secs(20);
        while acked.lock().unwrap().len() < 200 && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        child.kill().unwrap(); // SIGKILL: no close, no flush, mid-commit
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = acked.lock().unwrap().clone();
        assert!(!acked.is_empty(), "the child acknowledged no transfer");
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let recorded = verify(&db, &acked);
        eprintln!("round {round}: {} acknowledged, {recorded} recorded after the crash", acked.len());
        assert!(recorded >= acked.len());
    }
}
