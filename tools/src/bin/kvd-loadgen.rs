//! `kvd-loadgen`: a closed-loop load generator for a running kvd server (or, with the
//! `compare-etcd` feature, an etcd server), for `docs/benchmarks.md`.
//!
//! For each workload (`get`, `put`, `mixed` = 90% get / 10% put) and each connection count,
//! it opens that many client connections (each its own HTTP/2 channel), runs one request
//! at a time on each for a warm-up and then a measured period, and reports requests/s and
//! latency percentiles (p50, p99, p99.9, max) from an HDR histogram, as a table or `--json`.
//! Keys are drawn uniformly from `--keys` keys; `get` and `mixed` first load every key once
//! (`--no-preload` skips that), so reads hit.
//!
//! ```text
//! kvd --data-dir /tmp/kvd --sync always &
//! kvd-loadgen --addr 127.0.0.1:50051 --workloads get,put,mixed --connections 1,16,64 --duration 5
//! kvd-loadgen --target etcd --addr 127.0.0.1:2379 ...   # built with --features compare-etcd
//! ```
//!
//! The durability of a run is the server's: kvd's `--sync` (reported by `Admin.ServerInfo`
//! and printed here), etcd's fsync per commit unless `--unsafe-no-fsync`. `--label` tags
//! the results with whatever the reader needs to know.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use kvd_server::client::{Batch, ClientOptions};
use kvd_server::KvdClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The server under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Target {
    /// A kvd server (`kvd.v1.KV`).
    Kvd,
    /// An etcd server (v3 API); needs the `compare-etcd` feature.
    Etcd,
}

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Workload {
    /// Point reads of existing keys.
    Get,
    /// Overwrites of random keys.
    Put,
    /// 90% gets, 10% puts.
    Mixed,
}

/// Closed-loop load against a kvd (or etcd) server.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Server address, `host:port`.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// Which server speaks at `--addr`.
    #[arg(long, value_enum, default_value = "kvd")]
    target: Target,
    /// Workloads to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "get,put,mixed")]
    workloads: Vec<Workload>,
    /// Connection counts to run each workload at.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    connections: Vec<usize>,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured seconds before each run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Distinct keys, drawn uniformly.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Prefix of every key (keys are `<prefix><12-digit number>`).
    #[arg(long, default_value = "lg/")]
    key_prefix: String,
    /// Skip writing every key before the first `get` or `mixed` run.
    #[arg(long)]
    no_preload: bool,
    /// etcd only: serializable gets (served by the member from its local state, like every
    /// kvd read) instead of etcd's default linearizable gets (a raft read-index round).
    #[arg(long)]
    etcd_serializable: bool,
    /// Free text stored with the results (for example the durability setting).
    #[arg(long, default_value = "")]
    label: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One connection to the server under load.
enum Conn {
    Kvd(Box<KvdClient>),
    #[cfg(feature = "compare-etcd")]
    Etcd(Box<etcd_client::KvClient>, Option<etcd_client::GetOptions>),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Conn {
    async fn connect(args: &Args) -> Result<Conn, BoxError> {
        match args.target {
            Target::Kvd => {
                let opts = ClientOptions { request_timeout: Some(Duration::from_secs(10)), ..ClientOptions::default() };
                Ok(Conn::Kvd(Box::new(KvdClient::connect_with(&args.addr, opts).await?)))
            }
            #[cfg(feature = "compare-etcd")]
            Target::Etcd => {
                let kv = etcd_client::Client::connect([args.addr.as_str()], None).await?.kv_client();
                let get = args.etcd_serializable.then(|| etcd_client::GetOptions::new().with_serializable());
                Ok(Conn::Etcd(Box::new(kv), get))
            }
            #[cfg(not(feature = "compare-etcd"))]
            Target::Etcd => Err("kvd-loadgen was built without the compare-etcd feature".into()),
        }
    }

    async fn get(&mut self, key: &[u8]) -> Result<bool, BoxError> {
        match self {
            Conn::Kvd(c) => Ok(c.get(key).await?.is_some()),
            #[cfg(feature = "compare-etcd")]
            Conn::Etcd(c, opts) => Ok(!c.get(key, opts.clone()).await?.kvs().is_empty()),
        }
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), BoxError> {
        match self {
            Conn::Kvd(c) => c.put(key, value).await.map(|_| ()).map_err(Into::into),
            #[cfg(feature = "compare-etcd")]
            Conn::Etcd(c, _) => c.put(key, value, None).await.map(|_| ()).map_err(Into::into),
        }
    }

    /// Writes `keys` with `value` in a few large requests.
    async fn load(&mut self, keys: &[Vec<u8>], value: &[u8]) -> Result<(), BoxError> {
        match self {
            Conn::Kvd(c) => {
                for chunk in keys.chunks(1000) {
                    let mut b = Batch::new();
                    for k in chunk {
                        b.put(k, value);
                    }
                    c.write(&b).await?;
                }
            }
            #[cfg(feature = "compare-etcd")]
            Conn::Etcd(c, _) => {
                // etcd allows 128 operations per transaction by default.
                for chunk in keys.chunks(100) {
                    let ops: Vec<_> =
                        chunk.iter().map(|k| etcd_client::TxnOp::put(k.clone(), value.to_vec(), None)).collect();
                    c.txn(etcd_client::Txn::new().and_then(ops)).await?;
                }
            }
        }
        Ok(())
    }
}

/// The measured outcome of one workload at one connection count.
#[derive(Debug, Clone, Serialize)]
struct RunResult {
    target: Target,
    workload: Workload,
    connections: usize,
    requests: u64,
    errors: u64,
    seconds: f64,
    requests_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    /// Gets that found no value (should be 0 after the preload).
    misses: u64,
}

/// What one connection's loop measured.
struct Tally {
    hist: Histogram<u64>,
    errors: u64,
    misses: u64,
    first_error: Option<String>,
}

fn key(prefix: &str, i: u64) -> Vec<u8> {
    format!("{prefix}{i:012}").into_bytes()
}

async fn drive(
    mut conn: Conn,
    args: Arc<Args>,
    workload: Workload,
    seed: u64,
    measure_from: Instant,
    end: Instant,
) -> Tally {
    let mut rng = StdRng::seed_from_u64(seed);
    let value = vec![b'v'; args.value_size];
    let mut tally = Tally {
        hist: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
        errors: 0,
        misses: 0,
        first_error: None,
    };
    loop {
        let started = Instant::now();
        if started >= end {
            return tally;
        }
        let k = key(&args.key_prefix, rng.random_range(0..args.keys));
        let write = match workload {
            Workload::Get => false,
            Workload::Put => true,
            Workload::Mixed => rng.random_bool(0.1),
        };
        let outcome = if write { conn.put(&k, &value).await.map(|()| true) } else { conn.get(&k).await };
        if started < measure_from {
            continue;
        }
        match outcome {
            Ok(found) => {
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                tally.hist.saturating_record(us);
                tally.misses += u64::from(!found);
            }
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

async fn run(args: &Arc<Args>, workload: Workload, connections: usize) -> Result<RunResult, BoxError> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::connect(args).await?);
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(drive(c, args.clone(), workload, 0x5eed + i as u64, measure_from, end)))
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut errors, mut misses) = (0, 0);
    for t in tasks {
        let tally = t.await?;
        hist.add(&tally.hist)?;
        errors += tally.errors;
        misses += tally.misses;
        if let Some(e) = tally.first_error {
            eprintln!("kvd-loadgen: {workload:?} x{connections}: {} errors, first: {e}", tally.errors);
        }
    }
    let seconds = end.saturating_duration_since(measure_from).as_secs_f64();
    let requests = hist.len();
    Ok(RunResult {
        target: args.target,
        workload,
        connections,
        requests,
        errors,
        seconds,
        requests_per_sec: requests as f64 / seconds,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
        misses: if workload == Workload::Put { 0 } else { misses },
    })
}

/// Writes every key once, from 16 connections.
async fn preload(args: &Arc<Args>) -> Result<(), BoxError> {
    let started = Instant::now();
    let value = vec![b'v'; args.value_size];
    let keys: Vec<Vec<u8>> = (0..args.keys).map(|i| key(&args.key_prefix, i)).collect();
    let per = keys.len().div_ceil(16).max(1);
    let mut tasks = Vec::new();
    for chunk in keys.chunks(per) {
        let mut conn = Conn::connect(args).await?;
        let (chunk, value) = (chunk.to_vec(), value.clone());
        tasks.push(tokio::spawn(async move { conn.load(&chunk, &value).await }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!("kvd-loadgen: loaded {} keys in {:.1} s", args.keys, started.elapsed().as_secs_f64());
    Ok(())
}

/// The kvd server's sync policy, for the report.
async fn describe_server(args: &Args) -> String {
    if args.target != Target::Kvd {
        return String::new();
    }
    match KvdClient::connect(&args.addr).await {
        Ok(c) => c.server_info().await.map(|i| format!("kvd {} sync={}", i.version, i.sync_policy)).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn print_table(server: &str, label: &str, results: &[RunResult]) {
    println!("# {server} {label}");
    println!(
        "{:<6} {:<8} {:>6} {:>10} {:>11} {:>9} {:>9} {:>10} {:>10} {:>7}",
        "target", "workload", "conns", "requests", "req/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "errors"
    );
    for r in results {
        println!(
            "{:<6} {:<8} {:>6} {:>10} {:>11.0} {:>9} {:>9} {:>10} {:>10} {:>7}",
            format!("{:?}", r.target).to_lowercase(),
            format!("{:?}", r.workload).to_lowercase(),
            r.connections,
            r.requests,
            r.requests_per_sec,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.max_us,
            r.errors
        );
    }
}

async fn main_async(args: Args) -> Result<(), BoxError> {
    if args.keys == 0 || args.connections.contains(&0) || args.duration <= 0.0 || args.warmup < 0.0 {
        return Err("--keys, --connections and --duration must be positive".into());
    }
    let args = Arc::new(args);
    let server = describe_server(&args).await;
    let mut loaded = args.no_preload;
    let mut results = Vec::new();
    for &workload in &args.workloads {
        if workload != Workload::Put && !loaded {
            preload(&args).await?;
            loaded = true;
        }
        for &n in &args.connections {
            let r = run(&args, workload, n).await?;
            eprintln!("kvd-loadgen: {workload:?} x{n}: {:.0} req/s, p99 {} µs", r.requests_per_sec, r.p99_us);
            results.push(r);
        }
    }
    if args.json {
        let doc = serde_json::json!({
            "server": server,
            "label": args.label,
            "addr": args.addr,
            "keys": args.keys,
            "value_size": args.value_size,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&server, &args.label, &results);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvd-loadgen: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvd-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
