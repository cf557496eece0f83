//! [`CowMap`], a hash map shared between versions of an index: cloning it copies one pointer,
//! and a change copies only the shard it touches.
//!
//! A policy is replaced while requests still read the old one, so a change cannot edit the
//! index in place. Copying a whole 100,000-entry map for one new rule is what made every
//! change cost the whole policy; a `CowMap` keeps its entries in shards of about
//! [`SHARD_TARGET`] behind [`Arc`]s, and a write clones the shard it lands in (and the list of
//! shard pointers), whatever the size of the map. Doubling the number of shards, when the map
//! has grown past twice its target, costs the whole map once, as a `Vec` growing does.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};
use std::sync::Arc;

/// The number of entries a shard is meant to hold (up to twice as many before a split).
pub(crate) const SHARD_TARGET: usize = 64;

/// Picks the shard: a fixed hasher (the distribution of keys over shards only decides what a
/// write copies, so it need not be keyed).
type ShardHasher = BuildHasherDefault<DefaultHasher>;

/// The shards of a [`CowMap`], each shared until written to.
type Shards<K, V> = Arc<Vec<Arc<HashMap<K, V>>>>;

/// A copy-on-write hash map in shards (see the [module documentation](self)).
pub(crate) struct CowMap<K, V> {
    /// `None` while empty, so that the many empty maps of an index cost no allocation.
    shards: Option<Shards<K, V>>,
    len: usize,
}

impl<K, V> Clone for CowMap<K, V> {
    fn clone(&self) -> Self {
        CowMap {
            shards: self.shards.clone(),
            len: self.len,
        }
    }
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        CowMap {
            shards: None,
            len: 0,
        }
    }
}

fn shard_of<Q: Hash + ?Sized>(key: &Q, shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    // `shards` is a power of two.
    (ShardHasher::default().hash_one(key) as usize) & (shards - 1)
}

impl<K: Hash + Eq + Clone, V: Clone> CowMap<K, V> {
    /// How many entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of a key.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shards = self.shards.as_ref()?;
        shards.get(shard_of(key, shards.len()))?.get(key)
    }

    /// The value of a key, made (with `V::default()`) if missing; copies the shard it is in if
    /// another version shares it.
    pub(crate) fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        if self.get(&key).is_none() {
            self.len += 1;
            self.grow();
        }
        let shards = Arc::make_mut(self.shards.get_or_insert_with(|| Arc::new(vec![])));
        if shards.is_empty() {
            shards.push(Arc::new(HashMap::new()));
        }
        let i = shard_of(&key, shards.len());
        Arc::make_mut(&mut shards[i]).entry(key).or_default()
    }

    /// The value of a key, to change it; copies its shard if another version shares it.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key)?;
        let shards = Arc::make_mut(self.shards.as_mut()?);
        let i = shard_of(key, shards.len());
        Arc::make_mut(shards.get_mut(i)?).get_mut(key)
    }

    /// Removes a key, returning its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key)?;
        let shards = Arc::make_mut(self.shards.as_mut()?);
        let i = shard_of(key, shards.len());
        let removed = Arc::make_mut(shards.get_mut(i)?).remove(key);
        if removed.is_some() {
            self.len -= 1;
            if self.len == 0 {
                self.shards = None;
            }
        }
        removed
    }

    /// Sets the value of a key; copies its shard if another version shares it.
    pub(crate) fn insert(&mut self, key: K, value: V)
    where
        V: Default,
    {
        *self.get_or_default(key) = value;
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter())
            .flat_map(|s| s.iter())
    }

    /// Every value, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Splits the shards in two when the map holds more than twice its target per shard.
    fn grow(&mut self) {
        let Some(shards) = &self.shards else {
            return;
        };
        let n = shards.len().max(1);
        if self.len <= n * SHARD_TARGET * 2 {
            return;
        }
        let n = n * 2;
        let mut split: Vec<HashMap<K, V>> = (0..n).map(|_| HashMap::new()).collect();
        for (k, v) in shards.iter().flat_map(|s| s.iter()) {
            split[shard_of(k, n)].insert(k.clone(), v.clone());
        }
        self.shards = Some(Arc::new(split.into_iter().map(Arc::new).collect()));
    }
}

impl<K, V> std::fmt::Debug for CowMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CowMap").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_leaves_the_version_it_was_cloned_from_alone() {
        let mut a: CowMap<u32, u32> = CowMap::default();
        for i in 0..1000 {
            *a.get_or_default(i) = i;
        }
        let shards = a.shards.as_ref().map_or(0, |s| s.len());
        assert!(shards >= 8, "{shards} shards for 1000 entries");
        let mut b = a.clone();
        *b.get_or_default(5) = 50;
        b.remove(&6);
        *b.get_or_default(2000) = 1;
        assert_eq!(
            (a.get(&5), a.get(&6), a.get(&2000)),
            (Some(&5), Some(&6), None)
        );
        assert_eq!(
            (b.get(&5), b.get(&6), b.get(&2000)),
            (Some(&50), None, Some(&1))
        );
        assert_eq!((a.len(), b.len()), (1000, 1000));
        assert_eq!(b.iter().count(), 1000);
        // Only the touched shards were copied.
        let (sa, sb) = (a.shards.as_ref().unwrap(), b.shards.as_ref().unwrap());
        let shared = sa
            .iter()
            .zip(sb.iter())
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert!(
            shared >= sa.len() - 3,
            "{shared} of {} shards shared",
            sa.len()
        );
        for i in 0..1000 {
            b.remove(&i);
        }
        b.remove(&2000);
        assert!(b.is_empty() && b.shards.is_none());
    }
}
