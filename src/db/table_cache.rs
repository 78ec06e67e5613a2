//! Open table readers, keyed by file number, so each file is opened (footer, index and filter
//! read and verified) once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use kvd_base::file_names::table_path;
use kvd_base::fs::FsRef;
use kvd_lsm::cache::BlockCache;
use kvd_lsm::sstable::Table;
use parking_lot::RwLock;

use crate::Result;

pub(crate) struct TableCache {
    fs: FsRef,
    dir: PathBuf,
    block_cache: Option<Arc<BlockCache>>,
    tables: RwLock<HashMap<u64, Arc<Table>>>,
}

impl TableCache {
    pub(crate) fn new(fs: FsRef, dir: PathBuf, block_cache: Option<Arc<BlockCache>>) -> Self {
        TableCache { fs, dir, block_cache, tables: RwLock::new(HashMap::new()) }
    }

    /// The reader for table `number`, opening it on first use.
    pub(crate) fn get(&self, number: u64) -> Result<Arc<Table>> {
        if let Some(t) = self.tables.read().get(&number) {
            return Ok(t.clone());
        }
        let path = table_path(&self.dir, number);
        let file = self.fs.open(&path)?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        let table = Table::open(file, number, name, self.block_cache.clone())?;
        Ok(self.tables.write().entry(number).or_insert(table).clone())
    }

    /// The reader for table `number` if it is already open (opening reads the file).
    pub(crate) fn get_open(&self, number: u64) -> Option<Arc<Table>> {
        self.tables.read().get(&number).cloned()
    }

    /// Forgets table `number` (its file is about to be deleted).
    pub(crate) fn evict(&self, number: u64) {
        self.tables.write().remove(&number);
    }

    /// Memory held by the open readers (indexes and filters), outside the block cache.
    pub(crate) fn reader_bytes(&self) -> u64 {
        self.tables.read().values().map(|t| t.memory_bytes() as u64).sum()
    }

    pub(crate) fn block_cache(&self) -> Option<&Arc<BlockCache>> {
        self.block_cache.as_ref()
    }
}
