//! A bounded LRU cache of filter bitmaps, keyed by the filter's canonical JSON.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use roaring::RoaringBitmap;

/// Entries are few (a filter's bitmap is at most one bit per document), so a count
/// bound suffices; capacity 0 turns caching off.
pub(crate) struct BitmapCache {
    entries: Option<Mutex<LruCache<String, Arc<RoaringBitmap>>>>,
}

impl BitmapCache {
    pub(crate) fn new(capacity: usize) -> Self {
        BitmapCache {
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
        }
    }

    fn lock(
        entries: &Mutex<LruCache<String, Arc<RoaringBitmap>>>,
    ) -> MutexGuard<'_, LruCache<String, Arc<RoaringBitmap>>> {
        // A panic elsewhere cannot leave the cache inconsistent: every operation on it
        // is a single lru call.
        entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<RoaringBitmap>> {
        let entries = self.entries.as_ref()?;
        Self::lock(entries).get(key).cloned()
    }

    pub(crate) fn insert(&self, key: String, bitmap: Arc<RoaringBitmap>) {
        if let Some(entries) = &self.entries {
            Self::lock(entries).put(key, bitmap);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| Self::lock(e).len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = BitmapCache::new(2);
        let bitmap = |n: u32| Arc::new(RoaringBitmap::from_iter([n]));
        cache.insert("a".into(), bitmap(1));
        cache.insert("b".into(), bitmap(2));
        assert!(cache.get("a").is_some()); // a is now the most recent
        cache.insert("c".into(), bitmap(3));
        assert!(cache.get("b").is_none());
        assert_eq!(cache.get("a"), Some(bitmap(1)));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = BitmapCache::new(0);
        cache.insert("a".into(), Arc::new(RoaringBitmap::new()));
        assert!(cache.get("a").is_none());
        assert_eq!(cache.len(), 0);
    }
}
