//! Refresh tokens (docker logins) for the token service: issued, resolved through a cache of
//! verified tokens, and their uses written in batches.
//!
//! After `docker login`, docker sends its refresh token with every token request: the path of
//! most pulls and pushes. A token the store found valid is remembered, keyed by its SHA-256
//! (never the token), for the credential cache's lifetime ([`AccountsConfig::cache_ttl`];
//! zero: not at all), so that the next requests cost a hash and a look-up in memory instead of
//! a query. A remembered token is never honoured once the store would refuse it:
//!
//! - a hit needs its owner in the current policy [`Snapshot`](super::Snapshot): the same id,
//!   active (not disabled, not expired) and with the password fingerprint the token was
//!   verified with (a password change, disabling, expiry or removal shows there, on this
//!   server at once, on another within its one-second reload);
//! - every change that ends or suspends logins (a revocation, a password change that revoked
//!   them, disabling or removing the account) bumps the store's login revision in its
//!   transaction; each server polls it every second, with the policy revision, and drops every
//!   remembered token when it moves; an operation made here drops them at once
//!   ([`Accounts::forget_logins`], [`Accounts::forget_credentials`]);
//! - a look-up that began before a drop does not remember its answer (a generation count), so
//!   a revocation racing a request cannot leave the revoked token remembered;
//! - the idle rule ([`AccountsConfig::refresh_idle`]) holds on hits too.
//!
//! Uses (time and address) are kept in memory, one per token, and written in one transaction
//! every [`AccountsConfig::use_flush`] (10 s) by the watcher, and at shutdown
//! ([`Accounts::flush_token_uses`]): the store's `last_used_at`, which the idle rule and the
//! login lists read, lags a use by at most that.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use aws_lc_rs::digest;

use super::{Accounts, AccountsConfig, Snapshot, addr_text, now, password_fingerprint};
use crate::acl::Principal;
use crate::secret::random_token;
use crate::service::{BackendError, RefreshTokens, RequestContext};
use crate::storage::{NewAuditEvent, NewRefreshToken, RefreshTokenUse};

/// At most this many verified tokens are remembered (past it, expired ones are dropped, then
/// all).
const MAX_ENTRIES: usize = 10_000;

/// A refresh token the store found valid.
struct Verified {
    token_id: i64,
    user_id: i64,
    /// The owner's name in lower case (the snapshot's key).
    folded: String,
    password_fingerprint: u64,
    client_id: String,
    service: String,
    /// The last use known here (unix seconds).
    last_used: i64,
    until: Instant,
}

#[derive(Clone, Copy)]
struct Use {
    at: i64,
    addr: Option<IpAddr>,
}

#[derive(Default)]
struct State {
    /// Moves with every drop: a look-up that began under another generation is not kept.
    generation: u64,
    /// The store's login revision last seen.
    revision: Option<i64>,
    verified: HashMap<[u8; 32], Verified>,
    /// The latest use of each token not yet written, by token id.
    uses: HashMap<i64, Use>,
}

/// The verified refresh tokens and the uses to write.
#[derive(Default)]
pub(super) struct LoginCache {
    state: Mutex<State>,
}

impl LoginCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the maps consistent: a panic elsewhere cannot break them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The principal of a remembered token, if it may be honoured now (its use recorded).
    #[allow(clippy::too_many_arguments)]
    fn hit(
        &self,
        key: &[u8; 32],
        client_id: &str,
        service: &str,
        idle_since: i64,
        at: i64,
        addr: Option<IpAddr>,
        snap: &Snapshot,
    ) -> Option<Principal> {
        let mut guard = self.lock();
        let State { verified, uses, .. } = &mut *guard;
        let entry = verified.get_mut(key)?;
        let principal = (entry.until > Instant::now()
            && entry.client_id == client_id
            && entry.service == service
            && entry.last_used >= idle_since)
            .then(|| {
                snap.users
                    .get(&entry.folded)
                    .filter(|u| u.password_fingerprint == entry.password_fingerprint)?;
                snap.principal_of(entry.user_id, &entry.folded, at)
            })
            .flatten();
        let Some(principal) = principal else {
            // The store decides (and words the refusal).
            verified.remove(key);
            return None;
        };
        entry.last_used = at;
        uses.insert(entry.token_id, Use { at, addr });
        Some(principal)
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Remember a token verified under `generation`, unless a drop came since.
    fn remember(&self, key: [u8; 32], generation: u64, entry: Verified) {
        let mut st = self.lock();
        if st.generation != generation {
            return;
        }
        if st.verified.len() >= MAX_ENTRIES {
            let now = Instant::now();
            st.verified.retain(|_, e| e.until > now);
            if st.verified.len() >= MAX_ENTRIES {
                st.verified.clear();
            }
        }
        st.verified.insert(key, entry);
    }

    fn record_use(&self, token_id: i64, at: i64, addr: Option<IpAddr>) {
        self.lock().uses.insert(token_id, Use { at, addr });
    }

    /// Drop every remembered token of this account (`None`: of every account).
    pub(super) fn forget(&self, folded: Option<&str>) {
        let mut st = self.lock();
        st.generation += 1;
        match folded {
            Some(name) => st.verified.retain(|_, e| e.folded != name),
            None => st.verified.clear(),
        }
    }

    /// The store's login revision is `revision`: drop everything if it moved (or was not
    /// known: then nothing remembered can be trusted to predate a change).
    fn observe(&self, revision: i64) -> bool {
        let mut st = self.lock();
        if st.revision == Some(revision) {
            return false;
        }
        st.revision = Some(revision);
        st.generation += 1;
        st.verified.clear();
        true
    }

    fn take_uses(&self) -> Vec<(i64, Use)> {
        let mut st = self.lock();
        std::mem::take(&mut st.uses).into_iter().collect()
    }

    /// Put back uses that could not be written, unless a later one was recorded since.
    fn restore(&self, failed: Vec<(i64, Use)>) {
        let mut st = self.lock();
        for (id, u) in failed {
            let slot = st.uses.entry(id).or_insert(u);
            if slot.at < u.at {
                *slot = u;
            }
        }
    }
}

/// SHA-256 of a token: the cache's key; its hex is the store's.
fn digest_of(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    super::unavailable(e)
}

impl AccountsConfig {
    fn idle_secs(&self) -> i64 {
        i64::try_from(self.refresh_idle.as_secs()).unwrap_or(i64::MAX)
    }
}

impl Accounts {
    /// Forget every refresh token verified here (after a revocation made here; those made
    /// elsewhere are caught by the login revision's poll).
    pub fn forget_logins(&self) {
        self.inner.logins.forget(None);
    }

    /// Poll the store's login revision and drop the verified refresh tokens if it moved:
    /// `true` when it did.
    pub async fn poll_logins(&self) -> Result<bool, super::AccountError> {
        let revision = self.inner.store.login_revision().await?;
        Ok(self.inner.logins.observe(revision))
    }

    /// Write the refresh-token uses recorded since the last write, in one transaction: how
    /// many tokens. On failure they are kept for the next write.
    pub async fn flush_token_uses(&self) -> Result<u64, super::AccountError> {
        let taken = self.inner.logins.take_uses();
        if taken.is_empty() {
            return Ok(0);
        }
        let batch: Vec<RefreshTokenUse> = taken
            .iter()
            .map(|(id, u)| RefreshTokenUse {
                id: *id,
                at: u.at,
                addr: u.addr.map(|a| a.to_string()),
            })
            .collect();
        match self.inner.store.record_refresh_token_uses(&batch).await {
            Ok(_) => Ok(batch.len() as u64),
            Err(e) => {
                self.inner.logins.restore(taken);
                Err(e.into())
            }
        }
    }

    async fn refused_refresh_token(&self, why: &str, ctx: &RequestContext) {
        let addr = addr_text(ctx.remote_addr);
        let minute = crate::throttle::bucket(now());
        let event = NewAuditEvent {
            actor: None,
            action: "token.refused".to_owned(),
            target: None,
            detail: Some(why.to_owned()),
            remote_addr: Some(addr.clone()),
        };
        let dedup = format!("token.refused\u{0}{addr}\u{0}{minute}");
        if let Err(e) = self.inner.store.count_audit_event(&event, &dedup).await {
            tracing::warn!(error = %e, "could not count a refused refresh token");
        }
        tracing::info!(reason = why, "refused a refresh token");
    }
}

impl RefreshTokens for Accounts {
    async fn issue_refresh_token(
        &self,
        principal: &Principal,
        client_id: &str,
        service: &str,
        ctx: &RequestContext,
    ) -> Result<Option<String>, BackendError> {
        let username = principal
            .account
            .as_deref()
            .ok_or_else(|| BackendError("no refresh token for anonymous".to_owned()))?;
        let user_id = self
            .snapshot()
            .user(username)
            .map(|u| u.id)
            .ok_or_else(|| BackendError("the user vanished".to_owned()))?;
        let token = random_token()?;
        self.inner
            .store
            .insert_refresh_token(
                &NewRefreshToken {
                    user_id,
                    token_hash: crate::secret::token_hash(&token),
                    client_id: client_id.to_owned(),
                    service: service.to_owned(),
                    created_addr: ctx.remote_addr.map(|a| a.ip().to_string()),
                },
                &|_| {
                    vec![NewAuditEvent {
                        actor: Some(username.to_owned()),
                        target: Some(username.to_owned()),
                        detail: Some(format!(
                            "docker login (refresh token) for client_id={client_id}"
                        )),
                        remote_addr: ctx.remote_addr.map(|a| a.ip().to_string()),
                        ..NewAuditEvent::new("token.login")
                    }]
                },
            )
            .await
            .map_err(unavailable)?;
        Ok(Some(token))
    }

    async fn resolve_refresh_token(
        &self,
        token: &str,
        client_id: &str,
        service: &str,
        ctx: &RequestContext,
    ) -> Result<Option<Principal>, BackendError> {
        let config = &self.inner.config;
        let logins = &self.inner.logins;
        let at = now();
        let idle_since = at.saturating_sub(config.idle_secs());
        let addr = ctx.remote_addr.map(|a| a.ip());
        let key = digest_of(token);
        let caching = !config.cache_ttl.is_zero();
        let hit = if caching {
            logins.hit(
                &key,
                client_id,
                service,
                idle_since,
                at,
                addr,
                &self.snapshot(),
            )
        } else {
            None
        };
        self.inner.metrics.refresh_cache.record(hit.is_some());
        if let Some(p) = hit {
            return Ok(Some(p));
        }
        // Read before the store: a drop after this point keeps the answer out of the cache.
        let generation = logins.generation();
        let found = self
            .inner
            .store
            .find_active_refresh_token(&data_encoding::HEXLOWER.encode(&key), idle_since)
            .await
            .map_err(unavailable)?;
        let why = match &found {
            None => Some("unknown, revoked or idle refresh token, or its account disabled"),
            Some(f) if f.token.service != service => {
                Some("refresh token used for another service than it was issued for")
            }
            Some(f) if f.token.client_id != client_id => {
                Some("refresh token used by another client_id than it was issued to")
            }
            Some(_) => None,
        };
        let (Some(found), None) = (found, why) else {
            self.refused_refresh_token(why.unwrap_or_default(), ctx)
                .await;
            return Ok(None);
        };
        logins.record_use(found.token.id, at, addr);
        let principal = self.principal_for(&found.user).await.map_err(unavailable)?;
        if caching && principal.is_some() {
            let entry = Verified {
                token_id: found.token.id,
                user_id: found.user.id,
                folded: found.user.username.to_ascii_lowercase(),
                password_fingerprint: password_fingerprint(found.user.password_hash.as_deref()),
                client_id: found.token.client_id,
                service: found.token.service,
                last_used: at,
                until: Instant::now() + config.cache_ttl,
            };
            logins.remember(key, generation, entry);
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token_id: i64) -> Verified {
        Verified {
            token_id,
            user_id: 1,
            folded: "alice".to_owned(),
            password_fingerprint: 7,
            client_id: "docker".to_owned(),
            service: "registry".to_owned(),
            last_used: 0,
            until: Instant::now() + std::time::Duration::from_secs(60),
        }
    }

    fn remembered(cache: &LoginCache) -> usize {
        cache.lock().verified.len()
    }

    #[test]
    fn a_look_up_that_began_before_a_drop_is_not_remembered() {
        let cache = LoginCache::default();
        let before = cache.generation();
        cache.forget(None);
        cache.remember([1; 32], before, entry(1));
        assert_eq!(remembered(&cache), 0, "a revocation raced the look-up");
        let before = cache.generation();
        cache.forget(Some("bob"));
        cache.remember([1; 32], before, entry(1));
        assert_eq!(remembered(&cache), 0, "any drop counts");
        let before = cache.generation();
        assert!(cache.observe(5));
        cache.remember([1; 32], before, entry(1));
        assert_eq!(remembered(&cache), 0, "the login revision moved");
        let now = cache.generation();
        cache.remember([1; 32], now, entry(1));
        assert_eq!(remembered(&cache), 1);
    }

    #[test]
    fn the_login_revision_drops_everything_when_it_moves() {
        let cache = LoginCache::default();
        cache.remember([1; 32], cache.generation(), entry(1));
        assert!(
            cache.observe(3),
            "the first revision seen drops what came before it"
        );
        assert_eq!(remembered(&cache), 0);
        cache.remember([1; 32], cache.generation(), entry(1));
        assert!(!cache.observe(3));
        assert_eq!(remembered(&cache), 1);
        assert!(cache.observe(4));
        assert_eq!(remembered(&cache), 0);
    }

    #[test]
    fn forgetting_an_account_keeps_the_others() {
        let cache = LoginCache::default();
        cache.remember([1; 32], cache.generation(), entry(1));
        let mut bob = entry(2);
        bob.folded = "bob".to_owned();
        cache.remember([2; 32], cache.generation(), bob);
        cache.forget(Some("alice"));
        assert_eq!(remembered(&cache), 1);
        assert!(cache.lock().verified.contains_key(&[2; 32]));
    }

    #[test]
    fn uses_that_failed_to_be_written_come_back_unless_newer_ones_came() {
        let cache = LoginCache::default();
        cache.record_use(1, 100, None);
        cache.record_use(2, 100, None);
        let taken = cache.take_uses();
        assert_eq!(taken.len(), 2);
        assert!(cache.take_uses().is_empty());
        cache.record_use(1, 150, None);
        cache.restore(taken);
        let mut back: Vec<(i64, i64)> = cache
            .take_uses()
            .into_iter()
            .map(|(id, u)| (id, u.at))
            .collect();
        back.sort_unstable();
        assert_eq!(back, vec![(1, 150), (2, 100)]);
    }
}
