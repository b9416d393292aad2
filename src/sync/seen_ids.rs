//! The ids a sweep has received, as keyed fingerprints: what tells a new connection from one
//! seen before, in little memory.

use std::collections::HashSet;
use std::hash::{BuildHasher as _, BuildHasherDefault, Hasher, RandomState};

/// The ids a sweep has received, kept as keyed 64-bit fingerprints: about 16 bytes an id
/// where the ids themselves took about 100, so that a sweep's memory stays flat from 10,000 to
/// 100,000 connections. The key is chosen at random in each process (`RandomState`), so no
/// server can pick ids that collide; by chance, two of 100,000 ids share a fingerprint once in
/// some billions of sweeps (and one then counts as received before).
#[derive(Default)]
pub struct SeenIds {
    key: RandomState,
    fingerprints: HashSet<u64, BuildHasherDefault<AsIs>>,
}

/// Hashes a fingerprint as itself: it is a keyed hash already, and hashing it again cost a
/// SipHash per lookup.
#[derive(Default)]
struct AsIs(u64);

impl Hasher for AsIs {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is called (a set of u64); any other input still hashes.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, fingerprint: u64) {
        self.0 = fingerprint;
    }
}

impl SeenIds {
    fn fingerprint(&self, id: &str) -> u64 {
        self.key.hash_one(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.fingerprints.contains(&self.fingerprint(id))
    }

    /// Adds `id`; whether it was new.
    pub fn insert(&mut self, id: &str) -> bool {
        let fingerprint = self.fingerprint(id);
        self.fingerprints.insert(fingerprint)
    }

    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }
}

impl<'a> Extend<&'a str> for SeenIds {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, ids: I) {
        for id in ids {
            let fingerprint = self.fingerprint(id);
            self.fingerprints.insert(fingerprint);
        }
    }
}

impl<'a> FromIterator<&'a str> for SeenIds {
    fn from_iter<I: IntoIterator<Item = &'a str>>(ids: I) -> Self {
        let mut seen = Self::default();
        seen.extend(ids);
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_seen_once_extended_in_and_counted_once() {
        let mut seen: SeenIds = ["a", "b"].into_iter().collect();
        assert!(seen.contains("a") && !seen.contains("c"));
        seen.extend(["c", "a"]);
        assert!(seen.contains("c"));
        assert_eq!(seen.len(), 3);
        assert!(seen.insert("d") && !seen.insert("a"));
        assert_eq!(seen.len(), 4);
    }
}
