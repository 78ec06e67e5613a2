//! [`Config`]: everything the server is told, from defaults, an optional TOML file and flags.
//!
//! Precedence, lowest first: built-in defaults, the TOML file named by `--config`, then
//! command-line flags. The TOML keys are the field names of [`Config`] (for example
//! `data_dir = "/var/lib/kvd"`, `sync = "always"`); unknown keys are an error, so a typo
//! never silently leaves a default in place.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The write-ahead log sync policy, as written in flags and config files:
/// `always`, `interval:<ms>` or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSetting(pub kvd::SyncPolicy);

impl Default for SyncSetting {
    /// `interval:100`: fsync at most 100 ms after a write; a power loss (not a process crash)
    /// may lose the last 100 ms of acknowledged writes.
    fn default() -> Self {
        SyncSetting(kvd::SyncPolicy::Interval(Duration::from_millis(100)))
    }
}

impl fmt::Display for SyncSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            kvd::SyncPolicy::Always => f.write_str("always"),
            kvd::SyncPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
            kvd::SyncPolicy::Never => f.write_str("never"),
        }
    }
}

impl FromStr for SyncSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let policy = match s {
            "always" => kvd::SyncPolicy::Always,
            "never" => kvd::SyncPolicy::Never,
            "interval" => return Ok(SyncSetting::default()),
            _ => match s.strip_prefix("interval:") {
                Some(ms) => {
                    let ms: u64 =
                        ms.parse().map_err(|_| format!("bad interval in sync policy {s:?}: want interval:<ms>"))?;
                    kvd::SyncPolicy::Interval(Duration::from_millis(ms))
                }
                None => return Err(format!("unknown sync policy {s:?}: want always, interval:<ms> or never")),
            },
        };
        Ok(SyncSetting(policy))
    }
}

impl Serialize for SyncSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SyncSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The server's effective configuration. `Config::default()` is what `kvd` with no flags runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Database directory, created if missing (default `./kvd-data`).
    pub data_dir: PathBuf,
    /// Address to listen on (default `127.0.0.1:50051`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Write-ahead log sync policy (default `interval:100`; `always` for full durability).
    pub sync: SyncSetting,
    /// Largest request or response message, in bytes (default 16 MiB).
    pub max_message_bytes: usize,
    /// Largest key, in bytes (default 64 KiB).
    pub max_key_bytes: usize,
    /// Largest value, in bytes (default 8 MiB); must leave room for a key in one message.
    pub max_value_bytes: usize,
    /// Most operations in one Write, keys in one BatchGet, keys removed by one DeleteRange
    /// (default 100000).
    pub max_batch_ops: usize,
    /// HTTP/2 streams (concurrent calls) allowed per connection (default 1024).
    pub max_concurrent_streams: u32,
    /// Client connections open at once (default 4096). A connection beyond it is accepted,
    /// its calls answered RESOURCE_EXHAUSTED for half a second, then closed (as Redis does
    /// at `maxclients`), so clients fail fast instead of hanging in the listen backlog.
    pub max_connections: usize,
    /// Scans and queries (Query.Query) running at once across all clients; one more fails
    /// with RESOURCE_EXHAUSTED (default 256). Each running one holds one engine thread.
    pub max_concurrent_scans: usize,
    /// Server-side snapshots (CreateSnapshot) held at once (default 1024).
    pub max_snapshots: usize,
    /// Longest snapshot lease a client may ask for, in milliseconds (default 3600000).
    pub max_snapshot_lease_ms: u64,
    /// Interactive transactions open at once (default 1024); one more Begin fails with
    /// RESOURCE_EXHAUSTED.
    pub max_transactions: usize,
    /// Longest timeout an interactive transaction may ask for, in milliseconds (default
    /// 600000). An abandoned transaction is freed at most this long after its Begin.
    pub max_txn_timeout_ms: u64,
    /// When set, Admin.Checkpoint only writes into directories inside this one (default:
    /// unset, any absolute path the server may write).
    pub checkpoint_root: Option<PathBuf>,
    /// Deadline for each unary call (and for a stream's first response), in milliseconds; a
    /// shorter `grpc-timeout` from the client wins (default 30000; 0 disables).
    pub request_timeout_ms: u64,
    /// How long shutdown waits for in-flight calls before cutting them, in milliseconds
    /// (default 10000).
    pub grace_period_ms: u64,
    /// Threads for blocking engine calls (default 64).
    pub engine_threads: usize,
    /// Memtable size at which it is flushed to an SSTable, in bytes (default 64 MiB).
    pub write_buffer_bytes: usize,
    /// Block cache size in bytes (default 64 MiB; 0 disables).
    pub block_cache_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./kvd-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            sync: SyncSetting::default(),
            max_message_bytes: 16 << 20,
            max_key_bytes: 64 << 10,
            max_value_bytes: 8 << 20,
            max_batch_ops: 100_000,
            max_concurrent_streams: 1024,
            max_connections: 4096,
            max_concurrent_scans: 256,
            max_snapshots: 1024,
            max_snapshot_lease_ms: 3_600_000,
            max_transactions: 1024,
            max_txn_timeout_ms: 600_000,
            checkpoint_root: None,
            request_timeout_ms: 30_000,
            grace_period_ms: 10_000,
            engine_threads: 64,
            write_buffer_bytes: 64 << 20,
            block_cache_bytes: 64 << 20,
        }
    }
}

/// Room left in a message for everything but one value: the key, tags and headers.
const MESSAGE_OVERHEAD: usize = 4096;

impl Config {
    /// Checks the values against each other; the error says which setting is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_message_bytes", self.max_message_bytes),
            ("max_key_bytes", self.max_key_bytes),
            ("max_value_bytes", self.max_value_bytes),
            ("max_batch_ops", self.max_batch_ops),
            ("max_concurrent_scans", self.max_concurrent_scans),
            ("max_snapshots", self.max_snapshots),
            ("max_connections", self.max_connections),
            ("max_transactions", self.max_transactions),
            ("engine_threads", self.engine_threads),
            ("write_buffer_bytes", self.write_buffer_bytes),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.max_concurrent_streams == 0 {
            return Err("max_concurrent_streams must be positive".into());
        }
        if self.max_txn_timeout_ms == 0 {
            return Err("max_txn_timeout_ms must be positive".into());
        }
        if let Some(root) = &self.checkpoint_root {
            if !root.is_absolute() {
                return Err(format!("checkpoint_root {} must be an absolute path", root.display()));
            }
        }
        if self.max_value_bytes.saturating_add(self.max_key_bytes).saturating_add(MESSAGE_OVERHEAD)
            > self.max_message_bytes
        {
            return Err(format!(
                "max_value_bytes ({}) + max_key_bytes ({}) + {MESSAGE_OVERHEAD} must fit in max_message_bytes ({}), \
                 or a stored value could never be read back",
                self.max_value_bytes, self.max_key_bytes, self.max_message_bytes
            ));
        }
        Ok(())
    }

    /// The engine options this configuration implies.
    pub fn engine_options(&self) -> kvd::Options {
        kvd::Options {
            create_if_missing: true,
            sync_policy: self.sync.0,
            max_key_size: self.max_key_bytes,
            max_value_size: self.max_value_bytes,
            write_buffer_size: self.write_buffer_bytes,
            block_cache_bytes: self.block_cache_bytes,
            ..kvd::Options::default()
        }
    }

    /// The per-call deadline, if enabled.
    pub fn request_timeout(&self) -> Option<Duration> {
        (self.request_timeout_ms > 0).then(|| Duration::from_millis(self.request_timeout_ms))
    }

    /// The shutdown grace period.
    pub fn grace_period(&self) -> Duration {
        Duration::from_millis(self.grace_period_ms)
    }

    /// The configuration as one line of JSON (logged at startup, returned by ServerInfo).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Reads a TOML file; every key is optional and unknown keys are an error.
    pub fn from_toml_file(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))
    }

    /// Defaults, then the `--config` file if any, then the flags; validated.
    pub fn load(args: &Args) -> Result<Config, String> {
        let mut config = match &args.config {
            Some(path) => Config::from_toml_file(path)?,
            None => Config::default(),
        };
        args.apply(&mut config);
        config.validate()?;
        Ok(config)
    }
}

/// Command-line flags of the `kvd` binary. Each overrides the matching key of the TOML file.
#[derive(Debug, Default, Parser)]
#[command(name = "kvd", version, about = "kvd: an LSM-tree key-value store served over gRPC")]
pub struct Args {
    /// TOML file with any of the settings below (keys: data_dir, listen, sync, ...).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database directory, created if missing [default: ./kvd-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// WAL sync policy: always, interval:MS (fsync every MS milliseconds) or never [default: interval:100].
    #[arg(long, value_name = "POLICY")]
    pub sync: Option<SyncSetting>,
    /// Largest request or response message in bytes [default: 16777216].
    #[arg(long, value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Largest key in bytes [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub max_key_bytes: Option<usize>,
    /// Largest value in bytes [default: 8388608].
    #[arg(long, value_name = "BYTES")]
    pub max_value_bytes: Option<usize>,
    /// Most operations per Write / keys per BatchGet / keys per DeleteRange [default: 100000].
    #[arg(long, value_name = "N")]
    pub max_batch_ops: Option<usize>,
    /// Concurrent calls per HTTP/2 connection [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_concurrent_streams: Option<u32>,
    /// Client connections open at once; more are refused (RESOURCE_EXHAUSTED) [default: 4096].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Scans running at once [default: 256].
    #[arg(long, value_name = "N")]
    pub max_concurrent_scans: Option<usize>,
    /// Server-side snapshots held at once [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_snapshots: Option<usize>,
    /// Longest snapshot lease in ms [default: 3600000].
    #[arg(long, value_name = "MS")]
    pub max_snapshot_lease_ms: Option<u64>,
    /// Interactive transactions open at once [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_transactions: Option<usize>,
    /// Longest interactive transaction timeout in ms [default: 600000].
    #[arg(long, value_name = "MS")]
    pub max_txn_timeout_ms: Option<u64>,
    /// Only write Admin.Checkpoint directories inside this directory [default: anywhere].
    #[arg(long, value_name = "DIR")]
    pub checkpoint_root: Option<PathBuf>,
    /// Deadline per unary call in ms; 0 disables [default: 30000].
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Shutdown grace period for in-flight calls in ms [default: 10000].
    #[arg(long, value_name = "MS")]
    pub grace_period_ms: Option<u64>,
    /// Threads for blocking engine calls [default: 64].
    #[arg(long, value_name = "N")]
    pub engine_threads: Option<usize>,
    /// Memtable flush threshold in bytes [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub write_buffer_bytes: Option<usize>,
    /// Block cache size in bytes, 0 disables [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub block_cache_bytes: Option<u64>,
}

impl Args {
    fn apply(&self, c: &mut Config) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        set(&mut c.data_dir, &self.data_dir);
        set(&mut c.listen, &self.listen);
        set(&mut c.sync, &self.sync);
        set(&mut c.max_message_bytes, &self.max_message_bytes);
        set(&mut c.max_key_bytes, &self.max_key_bytes);
        set(&mut c.max_value_bytes, &self.max_value_bytes);
        set(&mut c.max_batch_ops, &self.max_batch_ops);
        set(&mut c.max_concurrent_streams, &self.max_concurrent_streams);
        set(&mut c.max_connections, &self.max_connections);
        set(&mut c.max_concurrent_scans, &self.max_concurrent_scans);
        set(&mut c.max_snapshots, &self.max_snapshots);
        set(&mut c.max_snapshot_lease_ms, &self.max_snapshot_lease_ms);
        set(&mut c.max_transactions, &self.max_transactions);
        set(&mut c.max_txn_timeout_ms, &self.max_txn_timeout_ms);
        if self.checkpoint_root.is_some() {
            c.checkpoint_root = self.checkpoint_root.clone();
        }
        set(&mut c.request_timeout_ms, &self.request_timeout_ms);
        set(&mut c.grace_period_ms, &self.grace_period_ms);
        set(&mut c.engine_threads, &self.engine_threads);
        set(&mut c.write_buffer_bytes, &self.write_buffer_bytes);
        set(&mut c.block_cache_bytes, &self.block_cache_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_setting_round_trips() {
        for s in ["always", "never", "interval:100", "interval:0"] {
            assert_eq!(s.parse::<SyncSetting>().unwrap().to_string(), s);
        }
        assert_eq!("interval".parse::<SyncSetting>().unwrap(), SyncSetting::default());
        assert!("sometimes".parse::<SyncSetting>().is_err());
        assert!("interval:x".parse::<SyncSetting>().is_err());
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(c.sync.to_string(), "interval:100");
        assert!(!c.to_json().contains('\n'));
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvd.toml");
        std::fs::write(&path, "data_dir = \"/tmp/x\"\nsync = \"always\"\nmax_batch_ops = 7\n").unwrap();
        let args = Args::try_parse_from(["kvd", "--config", path.to_str().unwrap(), "--max-batch-ops", "9"]).unwrap();
        let c = Config::load(&args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.sync.0, kvd::SyncPolicy::Always);
        assert_eq!(c.max_batch_ops, 9);
    }

    #[test]
    fn bad_file_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvd.toml");
        std::fs::write(&path, "dta_dir = \"/tmp/x\"\n").unwrap();
        assert!(Config::from_toml_file(&path).unwrap_err().contains("dta_dir"));
        let c = Config { max_value_bytes: 32 << 20, ..Config::default() };
        assert!(c.validate().unwrap_err().contains("max_message_bytes"));
    }
}
