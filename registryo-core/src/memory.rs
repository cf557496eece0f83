//! An in-memory backend for the [`TokenService`](crate::service::TokenService): users with
//! plain-text passwords, refresh tokens kept as SHA-256 hashes, and a replaceable [`Acl`].
//!
//! Meant for tests, examples and small embedded uses; the reference server keeps its users in
//! SQL with argon2id hashes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::secret::{random_token, same_secret};

use crate::acl::{Acl, Principal};
use crate::names::Username;
use crate::scope::{Actions, Scope};
use crate::service::{
    AuthError, Authenticator, BackendError, PolicySource, RefreshTokens, RequestContext,
};

#[derive(Clone)]
struct User {
    /// The name as added (the users map is keyed by its lower case).
    name: String,
    password: String,
    groups: Vec<String>,
    admin: bool,
    disabled: bool,
}

#[derive(Clone)]
struct RefreshEntry {
    /// The user's name in lower case (the users map's key).
    username: String,
    client_id: String,
    service: String,
}

#[derive(Default)]
struct State {
    users: HashMap<String, User>,
    refresh: HashMap<[u8; 32], RefreshEntry>,
}

/// Users, refresh tokens and the ACL, in memory. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct MemoryBackend {
    state: RwLock<State>,
    acl: RwLock<Arc<Acl>>,
    epoch: AtomicU64,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users = self.state.read().map(|s| s.users.len()).unwrap_or(0);
        f.debug_struct("MemoryBackend")
            .field("users", &users)
            .finish_non_exhaustive()
    }
}

/// Moves the epoch on when dropped: after the change it guards is made.
struct EpochBump<'a>(&'a AtomicU64);

impl Drop for EpochBump<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn hash(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl MemoryBackend {
    /// An empty backend: no users, no rules.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// Add or replace a user (names are compared without regard to case).
    pub fn add_user(&self, username: &str, password: &str, groups: &[&str], admin: bool) {
        let _bump = EpochBump(&self.epoch);
        if let Ok(mut s) = self.state.write() {
            s.users.insert(
                username.to_ascii_lowercase(),
                User {
                    name: username.to_owned(),
                    password: password.to_owned(),
                    groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                    admin,
                    disabled: false,
                },
            );
        }
    }

    /// Disable or enable a user. A disabled user gets no token, by password or refresh token.
    /// Returns whether the user exists.
    pub fn set_disabled(&self, username: &str, disabled: bool) -> bool {
        let _bump = EpochBump(&self.epoch);
        let Ok(mut s) = self.state.write() else {
            return false;
        };
        match s.users.get_mut(&username.to_ascii_lowercase()) {
            Some(u) => {
                u.disabled = disabled;
                true
            }
            None => false,
        }
    }

    /// Remove a user and every refresh token of theirs.
    pub fn remove_user(&self, username: &str) -> bool {
        let _bump = EpochBump(&self.epoch);
        let Ok(mut s) = self.state.write() else {
            return false;
        };
        let key = username.to_ascii_lowercase();
        s.refresh.retain(|_, e| e.username != key);
        s.users.remove(&key).is_some()
    }

    /// Replace the rules.
    pub fn set_acl(&self, acl: Acl) {
        let _bump = EpochBump(&self.epoch);
        if let Ok(mut a) = self.acl.write() {
            *a = Arc::new(acl);
        }
    }

    /// The rules in force.
    pub fn acl(&self) -> Arc<Acl> {
        self.acl
            .read()
            .map(|a| Arc::clone(&a))
            .unwrap_or_else(|_| Arc::new(Acl::new([])))
    }

    /// Revoke a user's refresh tokens (only those of `client_id` when given); returns how many.
    pub fn revoke_refresh_tokens(&self, username: &str, client_id: Option<&str>) -> usize {
        let Ok(mut s) = self.state.write() else {
            return 0;
        };
        let before = s.refresh.len();
        let key = username.to_ascii_lowercase();
        s.refresh
            .retain(|_, e| !(e.username == key && client_id.is_none_or(|c| c == e.client_id)));
        before - s.refresh.len()
    }

    fn principal(user: &User) -> Principal {
        Principal {
            account: Some(user.name.clone()),
            groups: user.groups.clone(),
            admin: user.admin,
        }
    }

    fn poisoned() -> BackendError {
        BackendError("in-memory state poisoned".to_owned())
    }
}

impl Authenticator for MemoryBackend {
    async fn authenticate(
        &self,
        username: &Username,
        password: &str,
        _ctx: &RequestContext,
    ) -> Result<Option<Principal>, AuthError> {
        let s = self.state.read().map_err(|_| Self::poisoned())?;
        Ok(s.users.get(&username.folded()).and_then(|u| {
            (same_secret(u.password.as_bytes(), password.as_bytes()) && !u.disabled)
                .then(|| Self::principal(u))
        }))
    }
}

impl RefreshTokens for MemoryBackend {
    async fn issue_refresh_token(
        &self,
        principal: &Principal,
        client_id: &str,
        service: &str,
        _ctx: &RequestContext,
    ) -> Result<Option<String>, BackendError> {
        let username = principal
            .account
            .as_deref()
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| BackendError("no refresh token for anonymous".to_owned()))?;
        let token = random_token()?;
        let mut s = self.state.write().map_err(|_| Self::poisoned())?;
        s.refresh.insert(
            hash(&token),
            RefreshEntry {
                username,
                client_id: client_id.to_owned(),
                service: service.to_owned(),
            },
        );
        Ok(Some(token))
    }

    async fn resolve_refresh_token(
        &self,
        token: &str,
        client_id: &str,
        service: &str,
        _ctx: &RequestContext,
    ) -> Result<Option<Principal>, BackendError> {
        let s = self.state.read().map_err(|_| Self::poisoned())?;
        Ok(s.refresh
            .get(&hash(token))
            .filter(|e| e.service == service && e.client_id == client_id)
            .and_then(|e| {
                s.users
                    .get(&e.username)
                    .filter(|u| !u.disabled)
                    .map(Self::principal)
            }))
    }
}

impl PolicySource for MemoryBackend {
    fn grant(&self, principal: &Principal, scope: &Scope) -> Actions {
        match self.acl.read() {
            Ok(acl) => acl.grant(principal, scope),
            Err(_) => Actions::NONE,
        }
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }
}
