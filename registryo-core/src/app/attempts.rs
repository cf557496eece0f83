//! The guessing limits of [`crate::throttle`] over the store, with what a server keeps
//! in memory to apply them without a database round trip on the hot path.
//!
//! - Failures are counted in the store (one row per account, address and minute), so every
//!   replica sees every other's; a check that has to verify a password first reads those
//!   counts and [`GuessLimits::judge`]s them.
//! - Once a limit holds, the (account, address) pair — or the whole account, for addresses
//!   that are not its usual ones — is marked blocked here until the limit lifts. Requests whose
//!   credentials are remembered (the credential cache) are checked against these marks only,
//!   a look-up in an empty map in the normal case, so a guess past the limit is refused even
//!   when it happens to be right.
//! - Checks in flight count as failures until they are recorded ([`Attempts::begin`]), so
//!   concurrent guesses cannot all slip past a limit that only their results would reach.
//! - The same wrong password for the same account is remembered for a minute (while the
//!   policy does not change): repeating it costs no argon2 and is counted once, so containerd
//!   retrying a refused `POST /token` as `GET` does not count twice, and a CI job stuck on an
//!   old secret does not lock its account out by itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::storage::prelude::*;
use crate::storage::{FailureCount, NewAuditEvent, StoreError};
use crate::throttle::{Failures, GuessLimits, Verdict, bucket};
use crate::time::unix_now as now;

/// How long a wrong password is remembered as wrong.
const REMEMBER_WRONG: Duration = Duration::from_secs(60);
/// How long a sign-in from an address makes it a usual address of the account.
pub const USUAL_ADDRESS_DAYS: i64 = 90;
/// The most entries of each in-memory map; past that the oldest are dropped.
const MAX_ENTRIES: usize = 100_000;

/// Where a password check came from, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `/token` (docker, podman, skopeo, containerd…).
    Token,
    /// The web UI's sign-in form.
    SignIn,
    /// The admin API's HTTP Basic.
    Api,
    /// The profile page's "current password".
    Profile,
}

impl Channel {
    /// How the audit log names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Token => "token",
            Channel::SignIn => "sign-in form",
            Channel::Api => "admin API",
            Channel::Profile => "profile",
        }
    }
}

/// The client address as the limits and the audit log see it.
pub fn addr_text(remote: Option<SocketAddr>) -> String {
    remote.map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Block {
    Pair(String, String),
    Account(String),
}

/// The in-memory side of the guessing limits; see the module docs.
#[derive(Debug)]
pub struct Attempts {
    limits: GuessLimits,
    any_blocked: AtomicBool,
    blocked: Mutex<HashMap<Block, i64>>,
    in_flight: Mutex<HashMap<Block, u64>>,
    wrong: Mutex<HashMap<[u8; 32], (i64, Instant)>>,
    usual: Mutex<HashMap<(i64, String), Instant>>,
}

impl Attempts {
    /// Limits applied with nothing counted yet.
    pub fn new(limits: GuessLimits) -> Attempts {
        Attempts {
            limits,
            any_blocked: AtomicBool::new(false),
            blocked: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            wrong: Mutex::new(HashMap::new()),
            usual: Mutex::new(HashMap::new()),
        }
    }

    /// The limits.
    pub fn limits(&self) -> GuessLimits {
        self.limits
    }

    /// The fast check, from memory only: how long the pair is blocked, or the account for an
    /// address that is not usual (`usual` is asked only then). `None`: not blocked.
    pub fn blocked(
        &self,
        folded: &str,
        addr: &str,
        usual: impl FnOnce() -> bool,
    ) -> Option<Duration> {
        if !self.any_blocked.load(Ordering::Relaxed) {
            return None;
        }
        let now = now();
        let (pair, account) = {
            let mut map = self.blocked.lock().ok()?;
            map.retain(|_, until| *until > now);
            if map.is_empty() {
                self.any_blocked.store(false, Ordering::Relaxed);
                return None;
            }
            (
                map.get(&Block::Pair(folded.to_owned(), addr.to_owned()))
                    .copied(),
                map.get(&Block::Account(folded.to_owned())).copied(),
            )
        };
        let wait = |until: i64| Duration::from_secs(u64::try_from(until - now).unwrap_or(1).max(1));
        if let Some(until) = pair {
            return Some(wait(until));
        }
        match account {
            Some(until) if !usual() => Some(wait(until)),
            _ => None,
        }
    }

    /// Mark what a throttled verdict says is blocked, until it lifts.
    pub fn block(&self, folded: &str, addr: &str, verdict: Verdict) {
        let Verdict::Throttled {
            retry_after,
            account_wide,
        } = verdict
        else {
            return;
        };
        let until = now() + i64::try_from(retry_after.as_secs()).unwrap_or(i64::MAX / 2);
        let key = if account_wide {
            Block::Account(folded.to_owned())
        } else {
            Block::Pair(folded.to_owned(), addr.to_owned())
        };
        if let Ok(mut map) = self.blocked.lock() {
            if map.len() >= MAX_ENTRIES {
                let now = now();
                map.retain(|_, u| *u > now);
            }
            let e = map.entry(key).or_insert(until);
            *e = (*e).max(until);
            self.any_blocked.store(true, Ordering::Relaxed);
        }
    }

    /// Whether these credentials (by their cache key) were found wrong within the last minute,
    /// under the same policy revision.
    pub fn known_wrong(&self, key: &[u8; 32], revision: i64) -> bool {
        let Ok(mut map) = self.wrong.lock() else {
            return false;
        };
        match map.get(key) {
            Some((rev, until)) if *rev == revision && *until > Instant::now() => true,
            Some(_) => {
                map.remove(key);
                false
            }
            None => false,
        }
    }

    /// Remember credentials found wrong.
    pub fn remember_wrong(&self, key: [u8; 32], revision: i64) {
        if let Ok(mut map) = self.wrong.lock() {
            if map.len() >= MAX_ENTRIES {
                let now = Instant::now();
                map.retain(|_, (_, until)| *until > now);
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
            }
            map.insert(key, (revision, Instant::now() + REMEMBER_WRONG));
        }
    }

    /// Start a password check: until the returned guard is dropped (after its failure, if
    /// any, is recorded), it counts as a failure for the checks that start meanwhile.
    pub fn begin(&self, folded: &str, addr: &str) -> InFlight<'_> {
        let pair = Block::Pair(folded.to_owned(), addr.to_owned());
        let account = Block::Account(folded.to_owned());
        let mut others = (0, 0);
        if let Ok(mut map) = self.in_flight.lock() {
            let p = map.entry(pair.clone()).or_insert(0);
            others.0 = *p;
            *p += 1;
            let a = map.entry(account.clone()).or_insert(0);
            others.1 = *a;
            *a += 1;
        }
        InFlight {
            attempts: self,
            keys: [pair, account],
            others,
        }
    }

    /// What the store counted for the account, from this address and from all.
    pub async fn failures(
        &self,
        store: &dyn Storage,
        folded: &str,
        addr: &str,
    ) -> Result<Failures, StoreError> {
        let current = bucket(now());
        let rows = store.auth_failures(folded, addr, current - 1).await?;
        Ok(failures_of(&rows, current))
    }

    /// Whether the account signed in from this address with the right password lately
    /// (remembered here for a while, else asked of the store).
    pub async fn is_usual(&self, store: &dyn Storage, user_id: i64, addr: &str) -> bool {
        let key = (user_id, addr.to_owned());
        if let Ok(map) = self.usual.lock()
            && map
                .get(&key)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(3600))
        {
            return true;
        }
        let since = now() - USUAL_ADDRESS_DAYS * 86_400;
        match store.is_usual_address(user_id, addr, since).await {
            Ok(true) => {
                self.note_usual(key);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the account's usual addresses");
                false
            }
        }
    }

    /// Whether the address is known here as usual for the account (memory only).
    pub fn is_usual_cached(&self, user_id: i64, addr: &str) -> bool {
        self.usual.lock().is_ok_and(|map| {
            map.get(&(user_id, addr.to_owned()))
                .is_some_and(|t| t.elapsed() < Duration::from_secs(3600))
        })
    }

    fn note_usual(&self, key: (i64, String)) {
        if let Ok(mut map) = self.usual.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, Instant::now());
        }
    }

    /// Record a sign-in with the right password: the address becomes (or stays) usual. Written
    /// to the store at most once an hour per account and address.
    pub async fn succeeded(&self, store: &dyn Storage, user_id: i64, addr: &str) {
        if self.is_usual_cached(user_id, addr) {
            return;
        }
        if let Err(e) = store.record_user_address(user_id, addr).await {
            tracing::warn!(error = %e, "could not record the address of a sign-in");
            return;
        }
        self.note_usual((user_id, addr.to_owned()));
    }

    /// Count a failure in the store (and its audit row) and, if it makes a limit hold, block.
    pub async fn failed(
        &self,
        store: &dyn Storage,
        folded: &str,
        addr: &str,
        seen: Failures,
        usual: bool,
        channel: Channel,
    ) {
        let now = now();
        let minute = bucket(now);
        let event = NewAuditEvent {
            actor: Some(folded.to_owned()),
            action: "auth.failed".to_owned(),
            target: None,
            detail: Some(format!(
                "wrong password, unknown or disabled account ({})",
                channel.as_str()
            )),
            remote_addr: Some(addr.to_owned()),
        };
        let dedup = format!("auth.failed\u{0}{folded}\u{0}{addr}\u{0}{minute}");
        if let Err(e) = store
            .record_auth_failure(folded, addr, minute, &event, &dedup)
            .await
        {
            tracing::warn!(error = %e, "could not count a failed password check");
        }
        self.block(
            folded,
            addr,
            self.limits.judge(&seen.plus_one(), usual, now),
        );
    }

    /// Count a refused (throttled) attempt into the audit log: one row per account, address
    /// and minute.
    pub async fn throttled(&self, store: &dyn Storage, folded: &str, addr: &str, channel: Channel) {
        let minute = bucket(now());
        let event = NewAuditEvent {
            actor: Some(folded.to_owned()),
            action: "auth.throttled".to_owned(),
            target: None,
            detail: Some(format!(
                "too many failed password checks: refused unchecked ({})",
                channel.as_str()
            )),
            remote_addr: Some(addr.to_owned()),
        };
        let dedup = format!("auth.throttled\u{0}{folded}\u{0}{addr}\u{0}{minute}");
        if let Err(e) = store.count_audit_event(&event, &dedup).await {
            tracing::warn!(error = %e, "could not count a throttled attempt");
        }
    }
}

/// A password check in flight ([`Attempts::begin`]).
#[derive(Debug)]
pub struct InFlight<'a> {
    attempts: &'a Attempts,
    keys: [Block; 2],
    /// The checks of the same account (and address, and any address) in flight before it.
    others: (u64, u64),
}

impl InFlight<'_> {
    /// The store's counts with the checks in flight before this one added as failures now.
    pub fn add_to(&self, mut seen: Failures) -> Failures {
        seen.pair_current += self.others.0;
        seen.account_current += self.others.1;
        seen
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.attempts.in_flight.lock() {
            for key in &self.keys {
                if let Some(n) = map.get_mut(key) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        map.remove(key);
                    }
                }
            }
        }
    }
}

/// The per-minute rows of the store as the two buckets the limits look at.
fn failures_of(rows: &[FailureCount], current: i64) -> Failures {
    let mut f = Failures::default();
    for r in rows {
        let (pair, all) = (
            u64::try_from(r.from_addr).unwrap_or(0),
            u64::try_from(r.total).unwrap_or(0),
        );
        if r.minute == current {
            f.pair_current += pair;
            f.account_current += all;
        } else if r.minute == current - 1 {
            f.pair_previous += pair;
            f.account_previous += all;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_two_buckets() {
        let rows = [
            FailureCount {
                minute: 9,
                from_addr: 2,
                total: 5,
            },
            FailureCount {
                minute: 10,
                from_addr: 1,
                total: 7,
            },
        ];
        assert_eq!(
            failures_of(&rows, 10),
            Failures {
                pair_current: 1,
                pair_previous: 2,
                account_current: 7,
                account_previous: 5
            }
        );
        assert_eq!(failures_of(&rows, 12), Failures::default());
    }

    #[test]
    fn blocks_lift_and_spare_usual_addresses() {
        let a = Attempts::new(GuessLimits::default());
        assert_eq!(a.blocked("alice", "1.2.3.4", || false), None);
        a.block(
            "alice",
            "1.2.3.4",
            Verdict::Throttled {
                retry_after: Duration::from_secs(30),
                account_wide: false,
            },
        );
        assert!(a.blocked("alice", "1.2.3.4", || false).is_some());
        assert_eq!(a.blocked("alice", "5.6.7.8", || false), None);
        assert_eq!(a.blocked("bob", "1.2.3.4", || false), None);
        a.block(
            "bob",
            "1.2.3.4",
            Verdict::Throttled {
                retry_after: Duration::from_secs(30),
                account_wide: true,
            },
        );
        assert!(a.blocked("bob", "9.9.9.9", || false).is_some());
        assert_eq!(
            a.blocked("bob", "9.9.9.9", || true),
            None,
            "a usual address"
        );
        a.block("carol", "1.2.3.4", Verdict::Allowed);
        assert_eq!(a.blocked("carol", "1.2.3.4", || false), None);
    }

    #[test]
    fn checks_in_flight_count_until_they_end() {
        let a = Attempts::new(GuessLimits::default());
        let first = a.begin("alice", "1.2.3.4");
        let second = a.begin("alice", "1.2.3.4");
        let elsewhere = a.begin("alice", "5.6.7.8");
        let other = a.begin("bob", "1.2.3.4");
        assert_eq!(first.add_to(Failures::default()), Failures::default());
        let f = elsewhere.add_to(Failures::default());
        assert_eq!((f.pair_current, f.account_current), (0, 2));
        let f = second.add_to(Failures::default());
        assert_eq!((f.pair_current, f.account_current), (1, 1));
        assert_eq!(other.add_to(Failures::default()), Failures::default());
        drop((first, second, elsewhere, other));
        let again = a.begin("alice", "1.2.3.4");
        assert_eq!(again.add_to(Failures::default()), Failures::default());
        drop(again);
        assert!(a.in_flight.lock().unwrap().is_empty());
    }

    #[test]
    fn wrong_passwords_are_remembered_per_revision() {
        let a = Attempts::new(GuessLimits::default());
        let key = [7u8; 32];
        assert!(!a.known_wrong(&key, 1));
        a.remember_wrong(key, 1);
        assert!(a.known_wrong(&key, 1));
        assert!(!a.known_wrong(&key, 2), "the policy changed");
        assert!(!a.known_wrong(&key, 1), "forgotten once stale");
    }
}
