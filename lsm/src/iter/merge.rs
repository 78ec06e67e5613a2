//! [`MergingIterator`]: the sorted union of several internal iterators, in both directions.
//!
//! Invariant (as LevelDB's `MergingIterator`): when moving forward every valid child is
//! positioned at or after the current key, and `current` is the smallest; when moving
//! backward every valid child is at or before it, and `current` is the largest. Changing
//! direction re-seeks the other children around the current key.

use std::cmp::Ordering;

use kvd_base::key::compare_internal_keys;

use super::{BoxedIterator, InternalIterator};
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// Merges children that may hold overlapping keys. Children earlier in the list win ties,
/// though internal keys are unique in a well-formed database.
pub struct MergingIterator {
    children: Vec<BoxedIterator>,
    current: Option<usize>,
    direction: Direction,
}

impl MergingIterator {
    /// Merges `children`. The result is unpositioned, like any new iterator.
    pub fn new(children: Vec<BoxedIterator>) -> Self {
        MergingIterator { children, current: None, direction: Direction::Forward }
    }

    fn find_smallest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b) if compare_internal_keys(c.key(), self.children[b].key()) != Ordering::Less => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn find_largest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate().rev() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b) if compare_internal_keys(c.key(), self.children[b].key()) != Ordering::Greater => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn fail(&mut self, e: crate::Error) -> Result<()> {
        self.current = None;
        Err(e)
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        for c in &mut self.children {
            if let Err(e) = c.seek_to_first() {
                return self.fail(e);
            }
        }
        self.direction = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        for c in &mut self.children {
            if let Err(e) = c.seek_to_last() {
                return self.fail(e);
            }
        }
        self.direction = Direction::Reverse;
        self.find_largest();
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        for c in &mut self.children {
            if let Err(e) = c.seek(target) {
                return self.fail(e);
            }
        }
        self.direction = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        for c in &mut self.children {
            if let Err(e) = c.seek_for_prev(target) {
                return self.fail(e);
            }
        }
        self.direction = Direction::Reverse;
        self.find_largest();
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        let Some(cur) = self.current else { return Ok(()) };
        if self.direction != Direction::Forward {
            // Every other child is at or before key(); move each to the first entry after it.
            let key = self.children[cur].key().to_vec();
            for (i, c) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                if let Err(e) = c.seek(&key) {
                    return self.fail(e);
                }
                if c.valid() && compare_internal_keys(c.key(), &key) == Ordering::Equal {
                    if let Err(e) = c.next() {
                        return self.fail(e);
                    }
                }
            }
            self.direction = Direction::Forward;
        }
        if let Err(e) = self.children[cur].next() {
            return self.fail(e);
        }
        self.find_smallest();
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let Some(cur) = self.current else { return Ok(()) };
        if self.direction != Direction::Reverse {
            // Every other child is at or after key(); move each to the last entry before it.
            let key = self.children[cur].key().to_vec();
            for (i, c) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                if let Err(e) = c.seek_for_prev(&key) {
                    return self.fail(e);
                }
                if c.valid() && compare_internal_keys(c.key(), &key) == Ordering::Equal {
                    if let Err(e) = c.prev() {
                        return self.fail(e);
                    }
                }
            }
            self.direction = Direction::Reverse;
        }
        if let Err(e) = self.children[cur].prev() {
            return self.fail(e);
        }
        self.find_largest();
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.current.map(|c| self.children[c].key()).unwrap_or(&[])
    }

    fn value(&self) -> &[u8] {
        self.current.map(|c| self.children[c].value()).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kvd_base::key::{user_key, InternalKey, ValueKind};

    use super::*;
    use crate::memtable::MemTable;

    fn mem(keys: &[(&str, u64)]) -> BoxedIterator {
        let m = Arc::new(MemTable::new(0));
        for (k, s) in keys {
            m.insert(k.as_bytes(), *s, ValueKind::Put, k.as_bytes());
        }
        Box::new(m.iter())
    }

    fn collect_fwd(it: &mut MergingIterator) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while it.valid() {
            let k = InternalKey::from_encoded(it.key().to_vec());
            out.push((String::from_utf8(user_key(it.key()).to_vec()).unwrap(), k.seq()));
            it.next().unwrap();
        }
        out
    }

    #[test]
    fn merges_and_switches_direction() {
        let mut it =
            MergingIterator::new(vec![mem(&[("a", 5), ("c", 6)]), mem(&[("a", 2), ("b", 3), ("d", 1)]), mem(&[])]);
        it.seek_to_first().unwrap();
        let all = collect_fwd(&mut it);
        let want: Vec<(String, u64)> =
            [("a", 5), ("a", 2), ("b", 3), ("c", 6), ("d", 1)].iter().map(|(k, s)| (k.to_string(), *s)).collect();
        assert_eq!(all, want);

        it.seek_to_last().unwrap();
        let mut back = Vec::new();
        while it.valid() {
            back.push(InternalKey::from_encoded(it.key().to_vec()).seq());
            it.prev().unwrap();
        }
        assert_eq!(back, vec![1, 6, 3, 2, 5]);

        // Forward to b, back to a@2, forward again to b.
        it.seek(InternalKey::seek_key(b"b", 100).encoded()).unwrap();
        assert_eq!(user_key(it.key()), b"b");
        it.prev().unwrap();
        assert_eq!(InternalKey::from_encoded(it.key().to_vec()).seq(), 2);
        it.next().unwrap();
        assert_eq!(user_key(it.key()), b"b");
        it.next().unwrap();
        assert_eq!(user_key(it.key()), b"c");
    }
}
