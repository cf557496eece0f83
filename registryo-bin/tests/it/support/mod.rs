//! What the tests of this binary share, written once.
//!
//! - [`binary`]: the `registryo` binary run for real: a clean environment, `serve` on port 0
//!   with its address read from its output.
//! - [`command`]: any program (the CLI, the end-to-end tests' clients) run to its end, with a
//!   deadline: what it printed.
//! - [`sqlite_store`]: a fresh SQLite store in a temporary folder.
//! - [`oneshot`]: registryo-http's router driven with `oneshot`, no socket: responses read
//!   whole, signing in through the form, form posts with the CSRF token.
//! - [`cookies`]: the same sign-in over real HTTP (reqwest), and reading `Set-Cookie`.
//! - [`e2e_env`]: the description of the programs `./scripts/test` started.
//! - [`metrics`]: a scrape of `/metrics` read by series, and instant queries to Prometheus.
//! - [`mail`]: the messages in the Maildir of the SMTP server `./scripts/test` started, and the
//!   token in a reset or invitation link.
//!
//! The throwaway registry, `free_port` and the reading of a token's parts (`jwt`) are shared
//! with registryo-core's tests: `registryo_core::testing` (feature `test-support`).

use std::future::Future;
use std::time::Duration;

use registryo_store::Store;

pub mod binary;
pub mod command;
pub mod cookies;
pub mod e2e_env;
pub mod mail;
pub mod metrics;
pub mod oneshot;

/// A fresh SQLite store (created and migrated by `Store::connect`) in a temporary folder,
/// which goes when dropped.
pub async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

/// How many times [`eventually`] looks, [`PAUSE`] apart, before it fails: ten seconds of
/// pauses at least (a change made with the CLI reaches the server within a second or two: it
/// polls the store every second).
pub const EVENTUALLY_TRIES: u32 = 50;
/// The pause between two looks of [`eventually`].
pub const PAUSE: Duration = Duration::from_millis(200);

/// Polls `check` until it holds; fails after [`EVENTUALLY_TRIES`] looks, [`PAUSE`] apart.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(what, EVENTUALLY_TRIES, PAUSE, check).await
}

/// Polls `check` until it holds, at most `tries` times with `pause` between two looks; fails
/// after the last.
pub async fn until<F, Fut>(what: &str, tries: u32, pause: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let check = || {
        let holds = check();
        async move { holds.await.then_some(()) }
    };
    poll(what, tries, pause, check).await
}

/// Polls `check` until it gives a value, at most `tries` times with `pause` between two looks,
/// and returns that value; fails after the last look. Counts, not time: a slow machine makes
/// it wait longer, never fail sooner.
pub async fn poll<T, F, Fut>(what: &str, tries: u32, pause: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..tries {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(pause).await;
    }
    panic!("{what}: not after {tries} tries, {pause:?} apart");
}
