//! The one internal iterator trait, and its combinators (one per file).
//!
//! Internal iterators walk encoded internal keys (see [`kvd_base::key`]) in
//! [`compare_internal_keys`](kvd_base::key::compare_internal_keys) order, yielding every
//! version of every key, tombstones included. Visibility (snapshots, tombstones, expiry) is
//! decided above them, by the engine's user-facing iterator.

use crate::Result;

/// A cursor over sorted `(internal key, value)` entries.
///
/// Contract:
/// - A new iterator is not positioned: call a `seek*` method first.
/// - `key()` and `value()` REQUIRE `valid()`; they borrow until the next move.
/// - An error from any method leaves the iterator invalid; the error is final for it.
/// - `next()` and `prev()` REQUIRE `valid()`.
pub trait InternalIterator: Send {
    /// True when positioned at an entry.
    fn valid(&self) -> bool;
    /// Positions at the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions at the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Positions at the first entry whose key is `>= target` (an encoded internal key).
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    /// Positions at the last entry whose key is `<= target` (an encoded internal key).
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()>;
    /// Moves to the next entry.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry.
    fn prev(&mut self) -> Result<()>;
    /// The current entry's encoded internal key.
    fn key(&self) -> &[u8];
    /// The current entry's value.
    fn value(&self) -> &[u8];
}

/// A boxed internal iterator.
pub type BoxedIterator = Box<dyn InternalIterator>;

mod merge;

pub use merge::MergingIterator;

mod level;

pub use level::{LevelIterator, TableOpener};
