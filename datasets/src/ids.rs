//! Duplicate-id detection in bounded memory for streamed collections.
//!
//! MS MARCO's 8.8M passage ids are decimal integers: they go into a compressed
//! bitmap (about 1 MB for the whole collection). Other ids are remembered by a
//! 128-bit keyed hash (two independent SipHash keys), 16 bytes an id whatever its
//! length; the chance that two different ids collide is below 1e-20 even at
//! 10^8 ids, so the check is exact for any practical purpose.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::BuildHasher;

use roaring::RoaringTreemap;

use crate::error::{DatasetsError, Result};
use crate::lines::Lines;

/// A set of ids seen so far.
#[derive(Default)]
pub struct IdSet {
    integers: RoaringTreemap,
    hashed: HashSet<u128>,
    keys: (RandomState, RandomState),
}

impl IdSet {
    /// An empty set.
    pub fn new() -> Self {
        IdSet::default()
    }

    /// Adds `id`; returns `false` when it was already present.
    pub fn insert(&mut self, id: &str) -> bool {
        match canonical_integer(id) {
            Some(n) => self.integers.insert(n),
            None => {
                let hi = self.keys.0.hash_one(id) as u128;
                let lo = self.keys.1.hash_one(id) as u128;
                self.hashed.insert((hi << 64) | lo)
            }
        }
    }

    /// Records the document id on line `line` of the file `lines` reads; a repeated id
    /// is a [`DatasetsError::Duplicate`] naming the file and line.
    pub(crate) fn insert_document(&mut self, lines: &Lines, line: u64, id: &str) -> Result<()> {
        if self.insert(id) {
            return Ok(());
        }
        Err(DatasetsError::duplicate(
            lines.path(),
            line,
            "document id",
            id,
            None,
        ))
    }

    /// Number of distinct ids inserted.
    pub fn len(&self) -> u64 {
        self.integers.len() + self.hashed.len() as u64
    }
}

/// `Some(n)` when `id` is the canonical decimal spelling of `n` (no sign, no
/// leading zero), so that the string and the integer identify each other exactly.
fn canonical_integer(id: &str) -> Option<u64> {
    let b = id.as_bytes();
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn integers_and_strings_are_kept_apart_exactly() {
        let mut s = IdSet::new();
        assert!(s.insert("7"));
        assert!(s.insert("07"), "leading zero is a different id");
        assert!(s.insert("doc7"));
        assert!(!s.insert("7"));
        assert!(!s.insert("07"));
        assert!(!s.insert("doc7"));
        assert!(
            s.insert("18446744073709551616"),
            "beyond u64 goes to the hash"
        );
        assert_eq!(s.len(), 4);
    }

    proptest! {
        #[test]
        fn agrees_with_a_hash_set_of_strings(ids in proptest::collection::vec("[0-9a-c]{1,4}", 0..200)) {
            let mut ours = IdSet::new();
            let mut reference = HashSet::new();
            for id in &ids {
                prop_assert_eq!(ours.insert(id), reference.insert(id.clone()));
            }
            prop_assert_eq!(ours.len(), reference.len() as u64);
        }
    }
}
