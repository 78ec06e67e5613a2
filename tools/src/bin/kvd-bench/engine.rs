//! The engines a benchmark can drive: kvd always; RocksDB and fjall behind the
//! `compare-rocksdb` and `compare-fjall` features (off by default and in CI), each configured
//! with the same memtable size, block size, bloom bits, compression, cache size and sync policy.

use std::path::Path;

use kvd::{Db, ReadOptions, WriteBatch, WriteOptions};

use crate::Args;

/// One level's shape and compaction traffic.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LevelSummary {
    pub files: usize,
    pub bytes: u64,
    pub read: u64,
    pub written: u64,
}

/// Result type of engine operations (errors as text: each engine has its own error type).
pub type EResult<T> = Result<T, String>;

/// The operations the workloads need.
pub trait BenchDb: Send + Sync {
    fn put(&self, key: &[u8], value: &[u8]) -> EResult<()>;
    /// A put fsynced before it returns.
    fn put_sync(&self, key: &[u8], value: &[u8]) -> EResult<()>;
    fn get(&self, key: &[u8]) -> EResult<Option<Vec<u8>>>;
    fn delete(&self, key: &[u8]) -> EResult<()>;
    /// Visits up to `limit` entries in order (or reverse); calls `f` with each entry's size.
    fn scan(&self, reverse: bool, limit: usize, f: &mut dyn FnMut(usize)) -> EResult<()>;
    /// Seeks to `key` and reads up to `n` entries; returns the bytes read.
    fn seek_next(&self, key: &[u8], n: usize) -> EResult<usize>;
    /// Flushes memtables so on-disk figures are comparable.
    fn flush(&self) -> EResult<()>;
    /// Waits until background compaction has caught up (no level over its target).
    fn wait_for_compactions(&self) -> EResult<()>;
    /// Bytes written by flushes and compactions over bytes flushed (0 if unknown).
    fn write_amplification(&self) -> f64;
    /// Level-0 files (0 if unknown).
    fn l0_files(&self) -> usize;
    /// Writes committed and commit groups (log appends) since open, for the group-commit
    /// factor; `(0, 0)` if unknown.
    fn write_groups(&self) -> (u64, u64) {
        (0, 0)
    }
    /// Per level (L0 first): files, bytes, and the bytes compactions read from and wrote
    /// into it; empty if unknown.
    fn levels(&self) -> Vec<LevelSummary> {
        Vec::new()
    }
    /// What the engine holds in memory, where it says; `None` if unknown.
    fn memory(&self) -> Option<crate::memory::EngineMemory> {
        None
    }
    /// Closes cleanly.
    fn close(&self) -> EResult<()>;
}

/// Opens the engine `args.engine` in `dir`.
pub fn open(args: &Args, dir: &Path) -> EResult<Box<dyn BenchDb>> {
    match args.engine.as_str() {
        "kvd" => Ok(Box::new(KvdDb(Db::open(dir, args.options()?).map_err(|e| e.to_string())?))),
        #[cfg(feature = "compare-rocksdb")]
        "rocksdb" => rocks::open(args, dir),
        #[cfg(feature = "compare-fjall")]
        "fjall" => fjall_engine::open(args, dir),
        other => Err(format!("engine {other:?} is not built in (features compare-rocksdb / compare-fjall)")),
    }
}

struct KvdDb(Db);

impl BenchDb for KvdDb {
    fn memory(&self) -> Option<crate::memory::EngineMemory> {
        let s = self.0.stats();
        Some(crate::memory::EngineMemory {
            memtable: s.memtable_bytes,
            immutable_memtables: s.immutable_memtable_bytes,
            block_cache: s.block_cache_bytes,
            table_readers: s.table_reader_bytes,
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> EResult<()> {
        self.0.put(key, value).map_err(|e| e.to_string())
    }
    fn put_sync(&self, key: &[u8], value: &[u8]) -> EResult<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.0.write_opt(b, WriteOptions { sync: true }).map(|_| ()).map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> EResult<Option<Vec<u8>>> {
        self.0.get(key).map_err(|e| e.to_string())
    }
    fn delete(&self, key: &[u8]) -> EResult<()> {
        self.0.delete(key).map_err(|e| e.to_string())
    }
    fn scan(&self, reverse: bool, limit: usize, f: &mut dyn FnMut(usize)) -> EResult<()> {
        let mut it = self.0.iter(&ReadOptions::default());
        if reverse {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        let mut n = 0;
        while it.valid() && n < limit {
            f(it.key().len() + it.value().len());
            n += 1;
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status().map_err(|e| e.to_string())
    }
    fn seek_next(&self, key: &[u8], n: usize) -> EResult<usize> {
        let mut it = self.0.iter(&ReadOptions::default());
        it.seek(key);
        let (mut read, mut bytes) = (0, 0);
        while it.valid() && read < n {
            bytes += it.key().len() + it.value().len();
            read += 1;
            it.next();
        }
        it.status().map_err(|e| e.to_string())?;
        Ok(bytes)
    }
    fn flush(&self) -> EResult<()> {
        self.0.flush().map_err(|e| e.to_string())
    }
    fn wait_for_compactions(&self) -> EResult<()> {
        self.0.wait_for_compactions().map_err(|e| e.to_string())
    }
    fn write_amplification(&self) -> f64 {
        self.0.stats().write_amplification
    }
    fn l0_files(&self) -> usize {
        self.0.stats().levels.first().map_or(0, |l| l.files)
    }
    fn write_groups(&self) -> (u64, u64) {
        let s = self.0.stats();
        (s.writes, s.write_groups)
    }
    fn levels(&self) -> Vec<LevelSummary> {
        let s = self.0.stats();
        s.levels
            .iter()
            .map(|l| LevelSummary { files: l.files, bytes: l.bytes, read: l.read_bytes, written: l.written_bytes })
            .collect()
    }
    fn close(&self) -> EResult<()> {
        self.0.close().map_err(|e| e.to_string())
    }
}

#[cfg(feature = "compare-rocksdb")]
mod rocks {
    use super::*;
    use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, IteratorMode, Options, WriteOptions as RWo, DB};

    pub struct RocksDb {
        db: DB,
        opts: Options,
    }

    pub fn open(args: &Args, dir: &Path) -> EResult<Box<dyn BenchDb>> {
        let mut o = Options::default();
        o.create_if_missing(true);
        o.set_write_buffer_size(args.write_buffer_mb << 20);
        o.set_max_write_buffer_number(args.max_write_buffers as i32);
        o.set_level_compaction_dynamic_level_bytes(true);
        o.set_level_zero_file_num_compaction_trigger(args.l0_trigger.max(1) as i32);
        o.set_max_background_jobs(2);
        o.set_compression_type(if args.compression == "zstd" {
            DBCompressionType::Zstd
        } else {
            DBCompressionType::None
        });
        o.enable_statistics();
        let mut b = BlockBasedOptions::default();
        b.set_block_size(4096);
        b.set_bloom_filter(f64::from(args.bloom_bits), false);
        b.set_block_cache(&Cache::new_lru_cache((args.cache_mb << 20) as usize));
        o.set_block_based_table_factory(&b);
        if args.sync == crate::SyncArg::Interval {
            o.set_wal_bytes_per_sync(0);
        }
        let db = DB::open(&o, dir).map_err(|e| e.to_string())?;
        Ok(Box::new(RocksDb { db, opts: o }))
    }

    fn ticker(stats: &str, name: &str) -> u64 {
        stats
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(" COUNT"))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    impl BenchDb for RocksDb {
        fn put(&self, key: &[u8], value: &[u8]) -> EResult<()> {
            self.db.put(key, value).map_err(|e| e.to_string())
        }
        fn put_sync(&self, key: &[u8], value: &[u8]) -> EResult<()> {
            let mut w = RWo::default();
            w.set_sync(true);
            self.db.put_opt(key, value, &w).map_err(|e| e.to_string())
        }
        fn get(&self, key: &[u8]) -> EResult<Option<Vec<u8>>> {
            self.db.get(key).map_err(|e| e.to_string())
        }
        fn delete(&self, key: &[u8]) -> EResult<()> {
            self.db.delete(key).map_err(|e| e.to_string())
        }
        fn scan(&self, reverse: bool, limit: usize, f: &mut dyn FnMut(usize)) -> EResult<()> {
            let mode = if reverse { IteratorMode::End } else { IteratorMode::Start };
            for item in self.db.iterator(mode).take(limit) {
                let (k, v) = item.map_err(|e| e.to_string())?;
                f(k.len() + v.len());
            }
            Ok(())
        }
        fn seek_next(&self, key: &[u8], n: usize) -> EResult<usize> {
            let mut it = self.db.raw_iterator();
            it.seek(key);
            let (mut read, mut bytes) = (0, 0);
            while it.valid() && read < n {
                bytes += it.key().map_or(0, <[u8]>::len) + it.value().map_or(0, <[u8]>::len);
                read += 1;
                it.next();
            }
            it.status().map_err(|e| e.to_string())?;
            Ok(bytes)
        }
        fn flush(&self) -> EResult<()> {
            self.db.flush().map_err(|e| e.to_string())
        }
        fn wait_for_compactions(&self) -> EResult<()> {
            let mut opts = rocksdb::WaitForCompactOptions::default();
            opts.set_flush(true);
            self.db.wait_for_compact(&opts).map_err(|e| e.to_string())
        }
        fn write_amplification(&self) -> f64 {
            let stats = self.opts.get_statistics().unwrap_or_default();
            let flushed = ticker(&stats, "rocksdb.flush.write.bytes");
            let compacted = ticker(&stats, "rocksdb.compact.write.bytes");
            if flushed == 0 {
                0.0
            } else {
                (flushed + compacted) as f64 / flushed as f64
            }
        }
        fn l0_files(&self) -> usize {
            self.db.property_int_value("rocksdb.num-files-at-level0").ok().flatten().unwrap_or(0) as usize
        }
        fn write_groups(&self) -> (u64, u64) {
            // A leader's own write counts as `self`, the group members it wrote as `other`.
            let stats = self.opts.get_statistics().unwrap_or_default();
            let leaders = ticker(&stats, "rocksdb.write.self");
            (leaders + ticker(&stats, "rocksdb.write.other"), leaders)
        }
        fn close(&self) -> EResult<()> {
            self.db.flush_wal(true).map_err(|e| e.to_string())
        }
    }
}

#[cfg(feature = "compare-fjall")]
mod fjall_engine {
    use super::*;
    use fjall::{CompressionType, Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};

    pub struct FjallDb {
        keyspace: Keyspace,
        part: PartitionHandle,
        sync_each: bool,
    }

    pub fn open(args: &Args, dir: &Path) -> EResult<Box<dyn BenchDb>> {
        let keyspace = Config::new(dir)
            .cache_size(args.cache_mb << 20)
            .max_write_buffer_size((args.write_buffer_mb as u64) << 21)
            .open()
            .map_err(|e| e.to_string())?;
        let compression = if args.compression == "zstd" { CompressionType::Lz4 } else { CompressionType::None };
        let opts = PartitionCreateOptions::default()
            .max_memtable_size((args.write_buffer_mb as u32) << 20)
            .block_size(4096)
            .compression(compression);
        let part = keyspace.open_partition("default", opts).map_err(|e| e.to_string())?;
        Ok(Box::new(FjallDb { keyspace, part, sync_each: args.sync == crate::SyncArg::Always }))
    }

    impl BenchDb for FjallDb {
        fn put(&self, key: &[u8], value: &[u8]) -> EResult<()> {
            self.part.insert(key, value).map_err(|e| e.to_string())?;
            if self.sync_each {
                self.keyspace.persist(PersistMode::SyncData).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        fn put_sync(&self, key: &[u8], value: &[u8]) -> EResult<()> {
            self.part.insert(key, value).map_err(|e| e.to_string())?;
            self.keyspace.persist(PersistMode::SyncData).map_err(|e| e.to_string())
        }
        fn get(&self, key: &[u8]) -> EResult<Option<Vec<u8>>> {
            self.part.get(key).map(|v| v.map(|v| v.to_vec())).map_err(|e| e.to_string())
        }
        fn delete(&self, key: &[u8]) -> EResult<()> {
            self.part.remove(key).map_err(|e| e.to_string())
        }
        fn scan(&self, reverse: bool, limit: usize, f: &mut dyn FnMut(usize)) -> EResult<()> {
            if reverse {
                for item in self.part.iter().rev().take(limit) {
                    let (k, v) = item.map_err(|e| e.to_string())?;
                    f(k.len() + v.len());
                }
            } else {
                for item in self.part.iter().take(limit) {
                    let (k, v) = item.map_err(|e| e.to_string())?;
                    f(k.len() + v.len());
                }
            }
            Ok(())
        }
        fn seek_next(&self, key: &[u8], n: usize) -> EResult<usize> {
            let mut bytes = 0;
            for item in self.part.range(key.to_vec()..).take(n) {
                let (k, v) = item.map_err(|e| e.to_string())?;
                bytes += k.len() + v.len();
            }
            Ok(bytes)
        }
        fn flush(&self) -> EResult<()> {
            self.keyspace.persist(PersistMode::SyncAll).map_err(|e| e.to_string())
        }
        fn wait_for_compactions(&self) -> EResult<()> {
            Err("fjall has no call that waits for its compactions".into())
        }
        fn write_amplification(&self) -> f64 {
            0.0
        }
        fn l0_files(&self) -> usize {
            0
        }
        fn close(&self) -> EResult<()> {
            self.keyspace.persist(PersistMode::SyncAll).map_err(|e| e.to_string())
        }
    }
}
