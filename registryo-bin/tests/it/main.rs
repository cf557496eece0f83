//! registryo-bin's integration tests: one test binary, one module per subject, so that the
//! output names each test by its module (`server::cli_operations_are_the_uis`,
//! `e2e::a_login_never_reduces_access`) and the binary is linked once. Add a module here rather
//! than a file beside `it/`: each file directly under `tests/` is a binary of its own.
//!
//! `e2e` and `browser` are `#[ignore]`d: they need the programs `./scripts/test` starts and
//! run from there by module (`cargo test -p registryo-bin --test it -- --include-ignored
//! --exact …`).
// Helpers outside #[test] functions unwrap too: this whole binary is test code.
#![allow(clippy::unwrap_used)]

mod accounts;
mod browse;
mod browser;
mod dist;
mod e2e;
mod faults;
mod hostile;
mod keys;
mod refresh;
mod reset;
mod server;
mod support;
mod web;
