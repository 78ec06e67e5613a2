//! [`LevelIterator`]: the concatenation of a level's files, opening each only when reached.
//!
//! REQUIRES: the files are sorted by key and do not overlap (any level but L0). A seek
//! binary-searches the file list and opens one table, so a short scan touches one or two
//! files however many the level holds.

use std::cmp::Ordering;
use std::sync::Arc;

use kvd_base::key::compare_internal_keys;

use super::{BoxedIterator, InternalIterator};
use crate::version::FileMeta;
use crate::Result;

/// Opens an iterator over one table file.
pub type TableOpener = Arc<dyn Fn(&FileMeta) -> Result<BoxedIterator> + Send + Sync>;

/// Iterates a sorted, non-overlapping run of files as one sequence.
pub struct LevelIterator {
    files: Vec<Arc<FileMeta>>,
    open: TableOpener,
    index: usize,
    current: Option<BoxedIterator>,
}

impl LevelIterator {
    /// An unpositioned iterator over `files` (sorted, disjoint), opening tables with `open`.
    pub fn new(files: Vec<Arc<FileMeta>>, open: TableOpener) -> Self {
        LevelIterator { files, open, index: 0, current: None }
    }

    fn open_at(&mut self, index: usize) -> Result<bool> {
        self.current = None;
        self.index = index;
        match self.files.get(index) {
            Some(f) => {
                self.current = Some((self.open)(f)?);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Moves forward over files until one yields an entry.
    fn skip_empty_forward(&mut self) -> Result<()> {
        while self.current.as_ref().is_some_and(|c| !c.valid()) {
            if !self.open_at(self.index + 1)? {
                return Ok(());
            }
            if let Some(c) = self.current.as_mut() {
                c.seek_to_first()?;
            }
        }
        Ok(())
    }

    /// Moves backward over files until one yields an entry.
    fn skip_empty_backward(&mut self) -> Result<()> {
        while self.current.as_ref().is_some_and(|c| !c.valid()) {
            if self.index == 0 {
                self.current = None;
                return Ok(());
            }
            self.open_at(self.index - 1)?;
            if let Some(c) = self.current.as_mut() {
                c.seek_to_last()?;
            }
        }
        Ok(())
    }

    fn guard(&mut self, r: Result<()>) -> Result<()> {
        if r.is_err() {
            self.current = None;
        }
        r
    }
}

impl InternalIterator for LevelIterator {
    fn valid(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let r = (|| {
            if self.open_at(0)? {
                if let Some(c) = self.current.as_mut() {
                    c.seek_to_first()?;
                }
            }
            self.skip_empty_forward()
        })();
        self.guard(r)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let r = (|| {
            if self.files.is_empty() {
                self.current = None;
                return Ok(());
            }
            self.open_at(self.files.len() - 1)?;
            if let Some(c) = self.current.as_mut() {
                c.seek_to_last()?;
            }
            self.skip_empty_backward()
        })();
        self.guard(r)
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let r = (|| {
            let i = self.files.partition_point(|f| compare_internal_keys(&f.largest, target) == Ordering::Less);
            if self.open_at(i)? {
                if let Some(c) = self.current.as_mut() {
                    c.seek(target)?;
                }
            }
            self.skip_empty_forward()
        })();
        self.guard(r)
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let r = (|| {
            let i = self.files.partition_point(|f| compare_internal_keys(&f.smallest, target) != Ordering::Greater);
            if i == 0 {
                self.current = None;
                return Ok(());
            }
            self.open_at(i - 1)?;
            if let Some(c) = self.current.as_mut() {
                c.seek_for_prev(target)?;
            }
            self.skip_empty_backward()
        })();
        self.guard(r)
    }

    fn next(&mut self) -> Result<()> {
        let r = match self.current.as_mut() {
            Some(c) => c.next(),
            None => return Ok(()),
        };
        let r = r.and_then(|()| self.skip_empty_forward());
        self.guard(r)
    }

    fn prev(&mut self) -> Result<()> {
        let r = match self.current.as_mut() {
            Some(c) => c.prev(),
            None => return Ok(()),
        };
        let r = r.and_then(|()| self.skip_empty_backward());
        self.guard(r)
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.value())
    }
}

#[cfg(test)]
mod tests {
    use kvd_base::key::{user_key, InternalKey, ValueKind};

    use super::*;
    use crate::memtable::MemTable;

    #[test]
    fn concatenates_files_in_both_directions() {
        let mut tables = std::collections::HashMap::new();
        let mut files = Vec::new();
        for (n, keys) in [(1u64, vec!["a", "b"]), (2, vec!["c"]), (3, vec!["d", "e"])] {
            let m = Arc::new(MemTable::new(0));
            for k in &keys {
                m.insert(k.as_bytes(), n, ValueKind::Put, b"");
            }
            files.push(Arc::new(FileMeta {
                number: n,
                file_size: 1,
                smallest: InternalKey::new(keys[0].as_bytes(), n, ValueKind::Put).into_encoded(),
                largest: InternalKey::new(keys[keys.len() - 1].as_bytes(), n, ValueKind::Put).into_encoded(),
                smallest_seqno: n,
                largest_seqno: n,
                num_entries: keys.len() as u64,
                num_deletions: 0,
                earliest_expiry: 0,
            }));
            tables.insert(n, m);
        }
        let tables = Arc::new(tables);
        let open: TableOpener = Arc::new(move |f: &FileMeta| Ok(Box::new(tables[&f.number].iter()) as BoxedIterator));
        let mut it = LevelIterator::new(files, open);
        let collect = |it: &mut LevelIterator, fwd: bool| {
            let mut out = String::new();
            while it.valid() {
                out.push_str(std::str::from_utf8(user_key(it.key())).unwrap());
                if fwd {
                    it.next().unwrap()
                } else {
                    it.prev().unwrap()
                }
            }
            out
        };
        it.seek_to_first().unwrap();
        assert_eq!(collect(&mut it, true), "abcde");
        it.seek_to_last().unwrap();
        assert_eq!(collect(&mut it, false), "edcba");
        it.seek(InternalKey::seek_key(b"bb", 9).encoded()).unwrap();
        assert_eq!(collect(&mut it, true), "cde");
        it.seek_for_prev(InternalKey::new(b"cc", 0, ValueKind::Delete).encoded()).unwrap();
        assert_eq!(collect(&mut it, false), "cba");
        it.seek(InternalKey::seek_key(b"z", 9).encoded()).unwrap();
        assert!(!it.valid());
    }
}
