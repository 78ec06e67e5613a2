//! `kvd-tests`: the integration test suite of kvd and the helpers its scenarios share.
//!
//! Each file under `tests/tests/` is one scenario (model-based, crash, power loss, corruption,
//! concurrency, metamorphic, decoders, WAL atomicity, dependency edges). What they have in
//! common lives here:
//!
//! - [`model`]: the `BTreeMap` model every read is compared with;
//! - [`ledger`]: a batch workload whose recovered state can be checked for lost acknowledged
//!   batches, partially visible batches and holes;
//! - [`env`]: option presets on the in-memory file system, crash simulation, stress knobs;
//! - [`wal_layout`]: where each record of a log file starts and ends, from the documented
//!   framing, for torn-tail tests;
//! - [`fixtures`]: the checked-in fixture database and its expected contents.
//!
//! Running: `cargo test -p kvd-tests` (each scenario takes a few seconds); `KVD_STRESS=1` for
//! the long variants; `KVD_SEED=<n>` to replay a randomised scenario with the seed it printed;
//! `KVD_REGENERATE_FIXTURES=1 cargo test -p kvd-tests --test decoders fixture` to rewrite the
//! fixture database on purpose. Decoder fuzzing for longer runs lives in `fuzz/`.
//!
//! This crate may depend on every kvd crate; nothing may depend on it.
#![deny(missing_docs)]

pub mod env;
pub mod fixtures;
pub mod ledger;
pub mod model;
pub mod wal_layout;
