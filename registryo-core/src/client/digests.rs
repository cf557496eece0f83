//! What the client has learnt of which manifest each tag points to, so that finding the tags
//! that share a manifest (distribution 2.8's tag delete takes them all) does not cost one
//! `HEAD` per tag every time: the registry has no reverse index.
//!
//! Entries are filled by every tag resolved ([`RegistryClient::manifest_digest`]) and kept for
//! a time to live; a repository's entries are dropped when the client deletes in it. Only the
//! sibling look-up reads them ([`RegistryClient::tags_sharing_cached`]): checks that must be
//! exact (has the tag moved since the confirmation?) always ask the registry.
//!
//! [`RegistryClient::manifest_digest`]: super::RegistryClient::manifest_digest
//! [`RegistryClient::tags_sharing_cached`]: super::RegistryClient::tags_sharing_cached

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::digest::Digest;

/// How long a tag's digest is trusted by default.
pub const DIGEST_TTL: Duration = Duration::from_secs(300);
/// The most entries kept (a few tens of bytes each): beyond it, the expired ones go, and if
/// that is not enough, all.
const MAX_ENTRIES: usize = 200_000;

/// Tag → manifest digest, per repository, each with when it was learnt.
#[derive(Debug)]
pub(crate) struct DigestIndex {
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), (Digest, Instant)>>,
}

impl Default for DigestIndex {
    fn default() -> DigestIndex {
        DigestIndex::new(DIGEST_TTL)
    }
}

impl DigestIndex {
    pub(crate) fn new(ttl: Duration) -> DigestIndex {
        DigestIndex {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Digest, Instant)>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The digest `tag` of `repo` pointed to, if learnt within the time to live.
    pub(crate) fn get(&self, repo: &str, tag: &str) -> Option<Digest> {
        let entries = self.lock();
        let (digest, at) = entries.get(&(repo.to_owned(), tag.to_owned()))?;
        (at.elapsed() < self.ttl).then(|| digest.clone())
    }

    /// Remembers that `tag` of `repo` points to `digest` now.
    pub(crate) fn put(&self, repo: &str, tag: &str, digest: &Digest) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            (repo.to_owned(), tag.to_owned()),
            (digest.clone(), Instant::now()),
        );
    }

    /// Forgets everything learnt of `repo` (after a delete in it).
    pub(crate) fn forget_repository(&self, repo: &str) {
        self.lock().retain(|(r, _), _| r != repo);
    }

    /// How many entries are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn entries_expire_and_are_forgotten_per_repository() {
        let index = DigestIndex::new(Duration::from_millis(50));
        index.put("a/b", "1", &digest('a'));
        index.put("a/c", "1", &digest('b'));
        assert_eq!(index.get("a/b", "1"), Some(digest('a')));
        assert_eq!(index.get("a/b", "2"), None);
        index.forget_repository("a/b");
        assert_eq!(index.get("a/b", "1"), None);
        assert_eq!(index.get("a/c", "1"), Some(digest('b')));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(index.get("a/c", "1"), None, "expired");
        // A zero time to live keeps nothing.
        let off = DigestIndex::new(Duration::ZERO);
        off.put("a/b", "1", &digest('a'));
        assert_eq!(off.len(), 0);
    }
}
