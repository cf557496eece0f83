//! Accounts: the token service's backend over the SQL store.
//!
//! - Passwords are argon2id, verified off the async executor and at most as many at once as
//!   there are cores. An unknown user costs the same as a known one (a dummy hash is
//!   verified).
//! - Every password check — `/token`, the sign-in form, the admin API's Basic, the profile's
//!   current password — goes through [`Accounts::check`], which applies the guessing limits
//!   ([`super::attempts`]) before looking at the password.
//! - Verified credentials are remembered for a short time, keyed by an HMAC of the username and
//!   password under a random per-process key (never the password itself), so argon2 runs at
//!   most once per user and password per cache lifetime. An entry is dropped as soon as the
//!   user's password changes, or the user is disabled, expires or is removed.
//! - Refresh tokens are 256 random bits, stored as SHA-256 hashes, reusable until revoked,
//!   honoured only for the `client_id` and `service` they were issued to and only while used
//!   within [`AccountsConfig::refresh_idle`]; verified ones are remembered, and their uses
//!   written in batches (`refresh`: what drops them and why none outlives a revocation).
//! - The policy — rules, users' flags and groups — is a [`Snapshot`] compiled once and
//!   updated whenever the store's policy revision grows (polled every second, so changes made
//!   by the CLI or another replica are seen), or at once after a change made here: by the
//!   store's change log, re-reading only what changed, or rebuilt when the log cannot tell.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::acl::Principal;
use crate::names::Username;
use crate::scope::{Actions, Scope};
use crate::service::{AuthError, Authenticator, BackendError, PolicySource, RequestContext};
use crate::storage::prelude::*;
use crate::storage::{NewAuditEvent, StoreError, User};
use crate::throttle::{GuessLimits, Verdict};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use aws_lc_rs::{digest, hmac};

use super::attempts::{Attempts, Channel, addr_text};
use super::passwords::PasswordPool;
use crate::telemetry::AccountsMetrics;
use crate::time::unix_now as now;

mod refresh;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed (out of memory, no randomness).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

pub use super::snapshot::{Snapshot, UserEntry, compile_rules};

struct CacheEntry {
    /// The user's name in lower case (the snapshot's key).
    folded: String,
    user_id: i64,
    password_fingerprint: u64,
    until: Instant,
}

/// The first 8 bytes of SHA-256 of a stored password hash (0 when there is none).
pub fn password_fingerprint(hash: Option<&str>) -> u64 {
    hash.map_or(0, |h| {
        let d = digest::digest(&digest::SHA256, h.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&d.as_ref()[..8]);
        u64::from_be_bytes(b)
    })
}

const CACHE_MAX_ENTRIES: usize = 10_000;

/// A policy follows the change log for up to this many changed rows, or half its size if
/// that is more; beyond, a rebuild is about as cheap.
const MIN_LOGGED_CHANGES: u64 = 10_000;

/// Settings of [`Accounts`].
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// How long verified credentials are remembered (zero: not at all).
    pub cache_ttl: Duration,
    /// The guessing limits.
    pub limits: GuessLimits,
    /// A refresh token unused for this long is no longer honoured (default 90 days).
    pub refresh_idle: Duration,
    /// How often the watcher writes the refresh tokens' uses (default 10 s).
    pub use_flush: Duration,
}

impl AccountsConfig {
    /// The defaults, with this credential cache lifetime.
    pub fn new(cache_ttl: Duration) -> AccountsConfig {
        AccountsConfig {
            cache_ttl,
            limits: GuessLimits::default(),
            refresh_idle: Duration::from_secs(90 * 86_400),
            use_flush: Duration::from_secs(10),
        }
    }
}

/// What a password check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The right password of an active account.
    Valid {
        /// Who it is (the account's own spelling of its name, its groups, admin or not).
        principal: Principal,
        /// The store's id of the account.
        user_id: i64,
    },
    /// A wrong password, an unknown user, or a disabled or expired account.
    Invalid,
    /// Too many failed checks: refused without looking at the password.
    Throttled(Duration),
}

/// The accounts service; cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

struct Inner {
    store: Arc<dyn Storage>,
    config: AccountsConfig,
    verifier: PasswordPool,
    inflight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    /// The HMAC key of the credential cache's keys (random per process).
    cache_key: hmac::Key,
    cache: Mutex<HashMap<[u8; 32], CacheEntry>>,
    /// Verified refresh tokens and their uses to write.
    logins: refresh::LoginCache,
    attempts: Attempts,
    snapshot: RwLock<Arc<Snapshot>>,
    reload: tokio::sync::Mutex<()>,
    /// The hash an unknown user's password is checked against, so that they cost what a
    /// known one does; made at the first such check (an admin command that checks no
    /// password never pays for it), with the same parameters as every new hash.
    dummy_hash: tokio::sync::OnceCell<String>,
    /// Its counters, histograms and gauges ([`crate::telemetry`]), taken when it is made.
    metrics: AccountsMetrics,
}

pub use crate::secret::token_hash;

/// Hash a password with argon2id and a random salt (blocking: call off the executor).
pub fn hash_password_blocking(password: &str) -> Result<String, AccountError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| AccountError::Hash("no randomness".to_owned()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

impl Accounts {
    /// Accounts over a store with the default settings and this credential cache lifetime.
    pub async fn new(
        store: Arc<dyn Storage>,
        cache_ttl: Duration,
    ) -> Result<Accounts, AccountError> {
        Accounts::with_config(store, AccountsConfig::new(cache_ttl)).await
    }

    /// Accounts over a store. Loads the policy once; call [`Accounts::spawn_watcher`] to follow
    /// changes made elsewhere.
    pub async fn with_config(
        store: Arc<dyn Storage>,
        config: AccountsConfig,
    ) -> Result<Accounts, AccountError> {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key)
            .map_err(|_| AccountError::Hash("no randomness".to_owned()))?;
        let cache_key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let verifier = PasswordPool::new(cores).map_err(|e| AccountError::Hash(e.to_string()))?;
        let snapshot = Arc::new(load_snapshot(store.as_ref()).await?);
        let metrics = AccountsMetrics::new();
        set_policy_size(&metrics, &snapshot);
        Ok(Accounts {
            inner: Arc::new(Inner {
                store,
                attempts: Attempts::new(config.limits),
                config,
                verifier,
                inflight: Mutex::new(HashMap::new()),
                cache_key,
                cache: Mutex::new(HashMap::new()),
                logins: refresh::LoginCache::default(),
                snapshot: RwLock::new(snapshot),
                reload: tokio::sync::Mutex::new(()),
                dummy_hash: tokio::sync::OnceCell::new(),
                metrics,
            }),
        })
    }

    async fn dummy_hash(&self) -> Result<String, AccountError> {
        let hash = self
            .inner
            .dummy_hash
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(|| hash_password_blocking("registryo-dummy-password"))
                    .await
                    .map_err(|e| AccountError::Hash(e.to_string()))?
            })
            .await?;
        Ok(hash.clone())
    }

    /// How many argon2 verifications ran since start (the credential cache and the single
    /// flight keep this low).
    pub fn password_verifications(&self) -> u64 {
        self.inner.verifier.verifications()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &AccountsConfig {
        &self.inner.config
    }

    /// The policy in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.inner.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Bring the policy up to the store's revision, if it moved (or without asking first,
    /// with `force`: an operation that just wrote). Follows the store's change log
    /// ([`Snapshot::apply`]: the cost of the change), and rebuilds the whole policy only when
    /// the log cannot tell (pruned, or a change too large to be worth following).
    pub async fn reload(&self, force: bool) -> Result<(), AccountError> {
        let _guard = self.inner.reload.lock().await;
        let current = self.snapshot();
        if !force {
            let rev = self.inner.store.policy_revision().await?;
            if rev.revision == current.revision {
                return Ok(());
            }
        }
        let started = Instant::now();
        let size = current.acl.len() + current.user_count();
        let max_changes = u64::try_from(size / 2)
            .unwrap_or(u64::MAX)
            .max(MIN_LOGGED_CHANGES);
        let store = self.inner.store.as_ref();
        let metrics = &self.inner.metrics;
        let (snap, took) = match store.policy_changes(current.revision, max_changes).await? {
            Some(delta) if delta.revision == current.revision => return Ok(()),
            Some(delta) => (current.apply(&delta), &metrics.reload_changes),
            None => (load_snapshot(store).await?, &metrics.reload_rebuild),
        };
        took.record(started.elapsed().as_secs_f64());
        for (id, why) in &snap.broken_rules {
            if !current.broken_rules.iter().any(|(old, _)| old == id) {
                tracing::warn!(rule = id, reason = %why, "skipping a rule that does not parse");
            }
        }
        self.replace_snapshot(snap);
        Ok(())
    }

    /// Rebuild the whole policy from the store (what [`Accounts::reload`] falls back to).
    pub async fn rebuild(&self) -> Result<(), AccountError> {
        let _guard = self.inner.reload.lock().await;
        let started = Instant::now();
        let snap = load_snapshot(self.inner.store.as_ref()).await?;
        (self.inner.metrics.reload_rebuild).record(started.elapsed().as_secs_f64());
        self.replace_snapshot(snap);
        Ok(())
    }

    fn replace_snapshot(&self, snap: Snapshot) {
        set_policy_size(&self.inner.metrics, &snap);
        if let Ok(mut s) = self.inner.snapshot.write() {
            *s = Arc::new(snap);
        }
    }

    /// Poll the store's policy and login revisions every `every`, reloading the policy and
    /// dropping the verified refresh tokens on change, and write the refresh tokens' uses
    /// every [`AccountsConfig::use_flush`], until the returned handle is aborted (then call
    /// [`Accounts::flush_token_uses`] once more).
    pub fn spawn_watcher(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut flushed = Instant::now();
            loop {
                tick.tick().await;
                if let Err(e) = this.reload(false).await {
                    tracing::warn!(error = %e, "policy reload failed");
                }
                if let Err(e) = this.poll_logins().await {
                    tracing::warn!(error = %e, "could not read the login revision");
                }
                if flushed.elapsed() >= this.inner.config.use_flush {
                    flushed = Instant::now();
                    if let Err(e) = this.flush_token_uses().await {
                        tracing::warn!(error = %e, "could not record refresh token uses");
                    }
                }
            }
        })
    }

    /// Hash a password (argon2id) on the password pool: off the executor, at most one per
    /// core at a time, in the pool's reused memory.
    pub async fn hash_password(&self, password: &str) -> Result<String, AccountError> {
        self.inner
            .verifier
            .hash(password.to_owned())
            .await
            .map_err(AccountError::Hash)
    }

    fn cache_key(&self, username: &Username, password: &str) -> [u8; 32] {
        let mut mac = hmac::Context::with_key(&self.inner.cache_key);
        // The folded name: the same account in any case is the same credentials.
        let folded = username.folded();
        mac.update(&(folded.len() as u64).to_be_bytes());
        mac.update(folded.as_bytes());
        mac.update(password.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(mac.sign().as_ref());
        out
    }

    /// Forget every remembered credential and verified refresh token of a user (after a
    /// password change, disabling or removal made here; changes made elsewhere are caught by
    /// the policy reload and the login revision's poll).
    pub fn forget_credentials(&self, username: &str) {
        let folded = username.to_ascii_lowercase();
        if let Ok(mut c) = self.inner.cache.lock() {
            c.retain(|_, e| e.folded != folded);
        }
        self.inner.logins.forget(Some(&folded));
    }

    /// Remembered credentials: the principal, while the user's password is the same.
    fn cached(&self, key: &[u8; 32], username: &Username) -> Option<(Principal, i64)> {
        if self.inner.config.cache_ttl.is_zero() {
            return None;
        }
        let snap = self.snapshot();
        let mut cache = self.inner.cache.lock().ok()?;
        let entry = cache.get(key)?;
        let user = snap.users.get(&entry.folded);
        let valid = entry.until > Instant::now()
            && username.eq_ignore_case(&entry.folded)
            && user.is_some_and(|u| u.password_fingerprint == entry.password_fingerprint);
        if !valid {
            cache.remove(key);
            return None;
        }
        let user_id = entry.user_id;
        snap.principal_of(user_id, &entry.folded, now())
            .map(|p| (p, user_id))
    }

    fn remember(&self, key: [u8; 32], user: &User) {
        if self.inner.config.cache_ttl.is_zero() {
            return;
        }
        let Ok(mut cache) = self.inner.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_MAX_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, e| e.until > now);
            if cache.len() >= CACHE_MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            key,
            CacheEntry {
                folded: user.username.to_ascii_lowercase(),
                user_id: user.id,
                password_fingerprint: password_fingerprint(user.password_hash.as_deref()),
                until: Instant::now() + self.inner.config.cache_ttl,
            },
        );
    }

    /// Record an audit event of something that changes nothing in the store (a sign-in, a
    /// registry deletion); failures are logged, never fatal. A change writes its events in its
    /// own transaction instead ([`Audit`](crate::storage::Audit)).
    pub async fn audit(
        &self,
        actor: Option<&str>,
        action: &str,
        target: Option<&str>,
        detail: Option<String>,
        remote: Option<SocketAddr>,
    ) {
        let ev = NewAuditEvent {
            actor: actor.map(str::to_owned),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            detail,
            remote_addr: remote.map(|a| a.ip().to_string()),
        };
        if let Err(e) = self.inner.store.insert_audit_event(&ev).await {
            tracing::warn!(error = %e, action, "could not write an audit event");
        }
    }

    /// Check a username and password, under the guessing limits: every password check of the
    /// server comes here. Costs one argon2 verification (also for unknown users) unless the
    /// credentials are remembered, the same wrong password was just tried, or a limit holds.
    pub async fn check(
        &self,
        username: &Username,
        password: &str,
        remote: Option<SocketAddr>,
        channel: Channel,
    ) -> Result<Checked, AccountError> {
        let addr = addr_text(remote);
        let folded = username.folded();
        let metrics = &self.inner.metrics;
        if let Some(wait) = self.blocked(&folded, &addr).await {
            metrics.throttled[channel as usize].increment(1);
            return Ok(Checked::Throttled(wait));
        }
        let key = self.cache_key(username, password);
        let cached = self.cached(&key, username);
        metrics.password_cache.record(cached.is_some());
        if let Some((principal, user_id)) = cached {
            return Ok(Checked::Valid { principal, user_id });
        }
        // Single flight: concurrent requests with the same credentials (a client pulling
        // layers in parallel) wait for the first check instead of each running argon2.
        let gate = match self.inner.inflight.lock() {
            Ok(mut m) => Arc::clone(m.entry(key).or_default()),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        };
        let result = {
            let _turn = gate.lock().await;
            match self.cached(&key, username) {
                Some((principal, user_id)) => Ok(Checked::Valid { principal, user_id }),
                None => {
                    self.check_uncached(key, username, &folded, password, &addr, channel)
                        .await
                }
            }
        };
        if let Ok(mut m) = self.inner.inflight.lock()
            && m.get(&key).is_some_and(|g| Arc::ptr_eq(g, &gate))
            && Arc::strong_count(&gate) <= 2
        {
            m.remove(&key);
        }
        result
    }

    /// The in-memory marks of the guessing limits (see [`crate::attempts`]): how long to wait,
    /// or `None`. An account-wide block spares the account's usual addresses.
    async fn blocked(&self, folded: &str, addr: &str) -> Option<Duration> {
        let attempts = &self.inner.attempts;
        let wait = attempts.blocked(folded, addr, || false)?;
        let pair_blocked = attempts.blocked(folded, addr, || true).is_some();
        if !pair_blocked
            && let Some(id) = self.snapshot().users.get(folded).map(|u| u.id)
            && attempts.is_usual(self.inner.store.as_ref(), id, addr).await
        {
            return None;
        }
        Some(wait)
    }

    async fn check_uncached(
        &self,
        key: [u8; 32],
        username: &Username,
        folded: &str,
        password: &str,
        addr: &str,
        channel: Channel,
    ) -> Result<Checked, AccountError> {
        let attempts = &self.inner.attempts;
        let store = self.inner.store.as_ref();
        let snap = self.snapshot();
        if attempts.known_wrong(&key, snap.revision) {
            return Ok(Checked::Invalid);
        }
        // Counted as a failure for the checks that start before this one is recorded.
        let in_flight = attempts.begin(folded, addr);
        let seen = in_flight.add_to(attempts.failures(store, folded, addr).await?);
        let known = snap.users.get(folded).map(|u| u.id);
        let usual = match known {
            Some(id) => attempts.is_usual(store, id, addr).await,
            None => false,
        };
        let verdict = attempts.limits().judge(&seen, usual, now());
        if let Verdict::Throttled { retry_after, .. } = verdict {
            attempts.block(folded, addr, verdict);
            self.inner.metrics.throttled[channel as usize].increment(1);
            attempts.throttled(store, folded, addr, channel).await;
            return Ok(Checked::Throttled(retry_after));
        }
        let user = match store.get_user_by_name(username).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let hash = match user.as_ref().and_then(|u| u.password_hash.clone()) {
            Some(h) => h,
            None => self.dummy_hash().await?,
        };
        let matches = self.inner.verifier.verify(hash, password.to_owned()).await;
        let user = user.filter(|u| matches && u.password_hash.is_some() && u.is_active_at(now()));
        let principal = match &user {
            Some(u) => self.principal_for(u).await?,
            None => None,
        };
        let (Some(user), Some(principal)) = (user, principal) else {
            attempts.remember_wrong(key, snap.revision);
            attempts
                .failed(store, folded, addr, seen, usual, channel)
                .await;
            return Ok(Checked::Invalid);
        };
        self.remember(key, &user);
        attempts.succeeded(store, user.id, addr).await;
        if matches!(channel, Channel::Token | Channel::Api) {
            let ev = NewAuditEvent {
                actor: Some(user.username.clone()),
                action: "token.signin".to_owned(),
                target: None,
                detail: Some(format!("password checked ({})", channel.as_str())),
                remote_addr: Some(addr.to_owned()),
            };
            if let Err(e) = store.insert_audit_event(&ev).await {
                tracing::warn!(error = %e, "could not write an audit event");
            }
        }
        Ok(Checked::Valid {
            principal,
            user_id: user.id,
        })
    }

    async fn principal_for(&self, user: &User) -> Result<Option<Principal>, AccountError> {
        let t = now();
        let folded = user.username.to_ascii_lowercase();
        // The snapshot's entry must be this account: same id (SQLite may reuse the id of a
        // removed account) and the same password hash (a new account has a new salt).
        let fingerprint = password_fingerprint(user.password_hash.as_deref());
        let snap = self.snapshot();
        let same = snap
            .users
            .get(&folded)
            .is_some_and(|e| e.id == user.id && e.password_fingerprint == fingerprint);
        if same && let Some(p) = snap.principal_of(user.id, &folded, t) {
            return Ok(Some(p));
        }
        // A user created (or removed and made again) since the last reload.
        self.reload(true).await?;
        Ok(self.snapshot().principal_of(user.id, &folded, t))
    }
}

/// The policy's size in its gauges.
fn set_policy_size(metrics: &AccountsMetrics, snap: &Snapshot) {
    // Counts far below 2^52: exact as f64.
    metrics.rules.set(snap.acl.len() as f64);
    metrics.users.set(snap.user_count() as f64);
}

async fn load_snapshot(store: &dyn Storage) -> Result<Snapshot, StoreError> {
    let revision = store.policy_revision().await?.revision;
    let users = store.list_users().await?;
    let memberships = store.list_memberships().await?;
    let rules = store.list_acl_rules().await?;
    Ok(Snapshot::build(revision, &users, memberships, &rules))
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    tracing::error!(error = %e, "accounts backend failed");
    BackendError("the account store is unavailable".to_owned())
}

impl Authenticator for Accounts {
    async fn authenticate(
        &self,
        username: &Username,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<Option<Principal>, AuthError> {
        let checked = self
            .check(username, password, ctx.remote_addr, Channel::Token)
            .await
            .map_err(unavailable)?;
        match checked {
            Checked::Valid { principal, .. } => Ok(Some(principal)),
            Checked::Invalid => Ok(None),
            Checked::Throttled(retry_after) => Err(AuthError::Throttled { retry_after }),
        }
    }
}

impl PolicySource for Accounts {
    fn grant(&self, principal: &Principal, scope: &Scope) -> Actions {
        self.snapshot().acl.grant(principal, scope)
    }

    fn epoch(&self) -> u64 {
        // Grows with every change of users, passwords, groups and rules.
        u64::try_from(self.snapshot().revision).unwrap_or(0)
    }
}
