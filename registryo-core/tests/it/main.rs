//! registryo-core's integration tests: one test binary, one module per subject (names in the
//! output read `token::…`, `client::…`). Add a module here rather than a file beside `it/`:
//! each file directly under `tests/` is a binary of its own, linked and run on its own.
//!
//! What the modules share is `registryo_core::testing` (feature `test-support`, which this
//! crate's dev-dependency on itself turns on), shared with registryo-bin's tests: `client`
//! drives the real registry it starts (`TestRegistry`, with the feature `client`, a default
//! one), `token` and `token_service` read tokens with its `jwt`.
// Helpers outside #[test] functions unwrap too: this whole binary is test code.
#![allow(clippy::unwrap_used)]

#[cfg(feature = "client")]
mod client;
mod digests;
mod invariants;
mod layer;
mod token;
mod token_service;
