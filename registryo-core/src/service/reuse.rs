//! Handing a recent token out again for an identical grant ([`TokenConfig::token_reuse`]):
//! clients repeat the same request on every pull, and a signature costs more than the rest of
//! the request.
//!
//! [`TokenConfig::token_reuse`]: super::TokenConfig::token_reuse

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::token::Access;

/// A token signed recently.
#[derive(Clone)]
pub(super) struct Issued {
    pub(super) jwt: Arc<str>,
    pub(super) iat: i64,
    pub(super) exp: i64,
}

/// The most tokens kept for reuse; past that the list starts afresh.
const REUSE_MAX: usize = 10_000;

/// Recently signed tokens by their grant ([`reuse_key`]).
#[derive(Default)]
pub(super) struct Reuse {
    map: Mutex<HashMap<String, Issued>>,
}

impl Reuse {
    /// A token for this key signed less than `window` seconds before `now`.
    pub(super) fn get(&self, key: &str, now: i64, window: i64) -> Option<Issued> {
        let map = self.map.lock().ok()?;
        let hit = map.get(key)?;
        (now - hit.iat < window && now >= hit.iat).then(|| hit.clone())
    }

    /// Keep a token for its key.
    pub(super) fn put(&self, key: String, issued: Issued, now: i64, window: i64) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= REUSE_MAX {
            map.retain(|_, t| now - t.iat < window);
            if map.len() >= REUSE_MAX {
                map.clear();
            }
        }
        map.insert(key, issued);
    }
}

/// The full grant, as text: equal keys mean equal tokens (apart from `jti` and times).
pub(super) fn reuse_key(epoch: u64, generation: u64, subject: &str, access: &[Access]) -> String {
    let mut key = format!("{epoch}\u{0}{generation}\u{0}{subject}");
    for a in access {
        key.push('\u{0}');
        key.push_str(&a.kind);
        key.push(':');
        key.push_str(&a.name);
        key.push(':');
        key.push_str(&a.actions.join(","));
    }
    key
}
