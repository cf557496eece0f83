//! registryo-core's integration tests: one test binary, one module per subject (names in the
//! output read `token::…`, `client::…`). Add a module here rather than a file beside `it/`:
//! each file directly under `tests/` is a binary of its own, linked and run on its own.
//!
//! `client` drives the real registry (`registryo_core::testing`, feature `test-support`): a
//! workspace build has the feature (registryo-bin's tests ask for it), and
//! `cargo test -p registryo-core --features test-support` runs it alone.
// Helpers outside #[test] functions unwrap too: this whole binary is test code.
#![allow(clippy::unwrap_used)]

#[cfg(feature = "test-support")]
mod client;
mod invariants;
mod layer;
mod token;
mod token_service;
