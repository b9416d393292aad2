//! The ids a sweep has received, as keyed fingerprints: what tells a new connection from one
//! seen before, in little memory.

use std::collections::HashSet;
use std::hash::{BuildHasher as _, BuildHasherDefault, Hasher, RandomState};

/// How many fingerprints are kept in a hash set before they join the sorted ones.
const RECENT_MOST: usize = 1 << 14;

/// The ids a sweep has received, kept as keyed 64-bit fingerprints: 8 bytes an id where the
/// ids themselves took about 100. The key is chosen at random in each process (`RandomState`),
/// so no server can pick ids that collide; by chance, two of 1,000,000 ids share a fingerprint
/// once in tens of millions of sweeps (and one then counts as received before).
///
/// Most fingerprints are in one sorted vector, searched by halves, which takes no more than
/// their 8 bytes: a hash set of 1,000,000 took 19 MB, and 28 MB while it grew (its old and
/// new tables at once), half a sweep's peak memory. The latest few thousand are in a small
/// hash set, and are merged into the vector in place when it is full.
pub struct SeenIds {
    key: RandomState,
    recent: HashSet<u64, BuildHasherDefault<AsIs>>,
    sorted: Vec<u64>,
    recent_most: usize,
}

impl Default for SeenIds {
    fn default() -> Self {
        Self::with_recent_most(RECENT_MOST)
    }
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
    fn with_recent_most(recent_most: usize) -> Self {
        Self {
            key: RandomState::new(),
            recent: HashSet::default(),
            sorted: Vec::new(),
            recent_most,
        }
    }

    fn fingerprint(&self, id: &str) -> u64 {
        self.key.hash_one(id)
    }

    fn holds(&self, fingerprint: u64) -> bool {
        self.recent.contains(&fingerprint) || self.sorted.binary_search(&fingerprint).is_ok()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.holds(self.fingerprint(id))
    }

    /// Adds `id`; whether it was new.
    pub fn insert(&mut self, id: &str) -> bool {
        let fingerprint = self.fingerprint(id);
        if self.holds(fingerprint) {
            return false;
        }
        self.recent.insert(fingerprint);
        if self.recent.len() >= self.recent_most {
            self.merge_recent();
        }
        true
    }

    pub fn len(&self) -> usize {
        self.recent.len() + self.sorted.len()
    }

    /// Moves the recent fingerprints into the sorted vector, merging from its end: the vector
    /// grows in place (a large one by remapping its pages, not copying them) and nothing else
    /// as large is allocated.
    fn merge_recent(&mut self) {
        let mut recent: Vec<u64> = self.recent.drain().collect();
        recent.sort_unstable();
        let old = self.sorted.len();
        self.sorted.resize(old + recent.len(), 0);
        let (mut from, mut to) = (old, self.sorted.len());
        while let Some(&newest) = recent.last() {
            to -= 1;
            if from > 0 && self.sorted[from - 1] > newest {
                from -= 1;
                self.sorted[to] = self.sorted[from];
            } else {
                self.sorted[to] = newest;
                recent.pop();
            }
        }
    }
}

impl<'a> Extend<&'a str> for SeenIds {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, ids: I) {
        for id in ids {
            self.insert(id);
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
    use proptest::prelude::*;

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

    proptest! {
        /// Whatever the order and the repeats, and however often the recent ones are merged,
        /// the fingerprints answer as a set of the ids would.
        #[test]
        fn merged_or_recent_an_id_is_known_as_a_set_knows_it(
            ids in proptest::collection::vec(0u16..600, 0..2_000),
            recent_most in 1usize..40,
        ) {
            let mut seen = SeenIds::with_recent_most(recent_most);
            let mut model = std::collections::HashSet::new();
            for id in ids {
                let id = id.to_string();
                prop_assert_eq!(seen.contains(&id), model.contains(&id));
                prop_assert_eq!(seen.insert(&id), model.insert(id.clone()));
                prop_assert!(seen.contains(&id));
                prop_assert_eq!(seen.len(), model.len());
            }
            prop_assert!(seen.sorted.is_sorted(), "{:?}", seen.sorted);
            for absent in ["600", "x", ""] {
                prop_assert!(!seen.contains(absent));
            }
        }
    }
}
