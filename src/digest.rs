//! Hashing for digests: the state digests replicas are compared by, and the trace digest
//! runs are compared by.
//!
//! [`hasher`] is foldhash with a fixed seed: fast, good avalanche, and the same in every run
//! of one build, which is all comparisons within and between runs of that build need. It is
//! not a format to store across versions.
//!
//! A [`Digest`] is the wrapping sum of a 64-bit hash of each element (a multiset hash): adding
//! an element adds its hash, removing it subtracts it, so two replicas holding the same
//! elements have the same digest whatever order they reached them in. It is kept up to date
//! in O(1) per change, so replicas can be compared after every applied index.

use std::hash::{BuildHasher, Hash, Hasher};

/// The seed of every digest hasher.
const SEED: u64 = 0x1de5_1a5e_d00d_f00d;

/// A deterministic hasher for digests.
#[inline]
pub fn hasher() -> DigestHasher {
    DigestHasher(foldhash::quality::FixedState::with_seed(SEED).build_hasher())
}

/// The hasher [`hasher`] returns (foldhash, fixed seed).
#[derive(Clone)]
pub struct DigestHasher(foldhash::quality::FoldHasher<'static>);

impl std::fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestHasher")
    }
}

impl Hasher for DigestHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0.write_u32(i)
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0.write_u64(i)
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i)
    }
}

/// A multiset hash.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Digest(pub u64);

impl Digest {
    /// Add one element.
    #[inline]
    pub fn add<T: Hash + ?Sized>(&mut self, element: &T) {
        self.add_hash(hash_of(element));
    }

    /// Remove one element that was added before.
    #[inline]
    pub fn remove<T: Hash + ?Sized>(&mut self, element: &T) {
        self.remove_hash(hash_of(element));
    }

    /// Add an element by its [`hash_of`] (kept by callers that remove it later, so removal
    /// costs no rehash).
    #[inline]
    pub fn add_hash(&mut self, hash: u64) {
        self.0 = self.0.wrapping_add(hash);
    }

    /// Remove an element added with [`Digest::add_hash`].
    #[inline]
    pub fn remove_hash(&mut self, hash: u64) {
        self.0 = self.0.wrapping_sub(hash);
    }
}

/// The 64-bit hash of one digest element.
#[inline]
pub fn hash_of<T: Hash + ?Sized>(element: &T) -> u64 {
    let mut hasher = hasher();
    element.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest depends on the set of elements, not on the order they were added in.
    #[test]
    fn order_independent_and_removable() {
        let mut a = Digest::default();
        a.add(&("k1", "v1"));
        a.add(&("k2", "v2"));
        let mut b = Digest::default();
        b.add(&("k2", "v2"));
        b.add(&("k3", "v3"));
        b.add(&("k1", "v1"));
        assert_ne!(a, b);
        b.remove(&("k3", "v3"));
        assert_eq!(a, b);
    }
}
