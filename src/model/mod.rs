//! Typed values: integers, lists, sets and hashes, as methods on [`Db`](crate::Db).
//!
//! Layout (byte by byte in `docs/format/types.md`): integers are plain values holding a
//! decimal string (as in Redis). A collection under user key `K` is a metadata record at
//! `\x00m K` (type, version, count, list head) plus one key per element at
//! `\x00e len(K) K version sub-key`. So an operation on one element of a collection of any
//! size costs a few O(log n) reads and writes, never a read-modify-write of a blob.
//!
//! Rules:
//! - **Atomicity.** Every operation reads at a snapshot and commits its writes with
//!   [`Db::write_if`](crate::Db::write_if) on the keys it relied on, retrying on conflict: it
//!   is atomic with respect to other typed operations, transactions and plain writes. A
//!   failed operation (wrong type, bad argument, overflow) changes nothing.
//! - **Types.** A key holds one type. A typed operation on a key of another type returns
//!   [`Error::WrongType`](crate::Error::WrongType). A plain value (string or integer) lives at
//!   `K` itself, so plain `get`/`put`/`delete` see it; collections are invisible to the plain
//!   API. A plain `put` over a collection's key shadows the collection (the key then reads as
//!   a string) until [`Db::del`](crate::Db::del) removes both.
//! - **Reserved keys.** Keys starting with byte `0x00` belong to this layer: typed operations
//!   refuse them as user keys ([`Error::InvalidArgument`](crate::Error::InvalidArgument)).
//!   Writing such keys with the plain API can corrupt typed values; that is the writer's
//!   own business.
//! - **Delete and TTL.** Deleting a collection removes its metadata in O(1); its elements are
//!   orphaned (their version is no longer the live one) and reclaimed by
//!   [`Db::purge_stale_elements`](crate::Db::purge_stale_elements). A TTL is stored on the
//!   metadata (see [`Db::expire_type`](crate::Db::expire_type)): an expired collection is
//!   gone, as if deleted. An empty collection does not exist (popping the last element
//!   deletes it), as in Redis.

mod doc_index;
mod gc;
mod generic;
mod hash;
pub(crate) mod hash_doc;
mod int;
mod keys;
mod list;
mod meta;
mod op;
mod set;

pub use keys::RESERVED_PREFIX;
pub use meta::TYPES_FORMAT_VERSION;

/// The type of the value at a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// A plain value (also an integer, stored as its decimal string).
    String,
    /// A list ([`Db::lpush`](crate::Db::lpush) and friends).
    List,
    /// A set ([`Db::sadd`](crate::Db::sadd) and friends).
    Set,
    /// A hash ([`Db::hset`](crate::Db::hset) and friends).
    Hash,
}
