//! A bounded in-process memo for values that are costly to build and never go stale
//! because their key is their content (a key's bytes, a JWK thumbprint, a token whose
//! signature verified). Backed by `moka` (TinyLFU admission, LRU eviction): when full,
//! the entries used least are dropped one by one, never the whole memo, so a working
//! set larger than the capacity still hits for its frequent keys. Failures are never
//! remembered.

pub mod registry;

use std::hash::Hash;

use moka::Equivalent;
use moka::sync::Cache;

pub struct Memo<K, V> {
    cache: Cache<K, V>,
}

impl<K, V> Memo<K, V>
where
    K: Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A memo of at most `capacity` entries.
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: Cache::new(capacity),
        }
    }

    /// The value for `key`, built by `build` (and remembered) the first time. Two
    /// callers missing at once may both build; either value is right.
    pub fn get_or_try_insert<Q, E>(
        &self,
        key: &Q,
        build: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        Q: Equivalent<K> + Hash + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(found) = self.cache.get(key) {
            return Ok(found);
        }
        let value = build()?;
        self.cache.insert(key.to_owned(), value.clone());
        Ok(value)
    }

    /// How many entries are held now (after pending evictions are applied).
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_once_and_never_remembers_failures() {
        let memo: Memo<String, u32> = Memo::new(16);
        let mut builds = 0;
        let mut get = |key: &str, memo: &Memo<String, u32>| {
            memo.get_or_try_insert(key, || {
                builds += 1;
                Ok::<_, ()>(builds)
            })
        };
        assert_eq!(get("a", &memo), Ok(1));
        assert_eq!(get("a", &memo), Ok(1), "remembered");
        assert_eq!(get("b", &memo), Ok(2));
        assert_eq!(
            memo.get_or_try_insert("x", || Err::<u32, _>("bad")),
            Err("bad")
        );
        assert_eq!(
            memo.get_or_try_insert("x", || Ok::<_, &str>(9)),
            Ok(9),
            "failure not kept"
        );
    }

    /// Past its capacity the memo stays bounded, and a key in steady use survives a
    /// stream of keys used once (the old memo emptied itself and forgot it too).
    #[test]
    fn stays_bounded_and_keeps_what_is_used() {
        let memo: Memo<String, u32> = Memo::new(100);
        let hot = "hot".to_owned();
        let mut hot_builds = 0;
        for i in 0..10_000u32 {
            memo.get_or_try_insert(&format!("once-{i}"), || Ok::<_, ()>(i))
                .unwrap();
            memo.get_or_try_insert(hot.as_str(), || {
                hot_builds += 1;
                Ok::<_, ()>(0)
            })
            .unwrap();
        }
        assert!(memo.len() <= 100, "{} entries", memo.len());
        assert!(
            hot_builds <= 2,
            "the hot key was rebuilt {hot_builds} times"
        );
    }
}
