//! A small process-wide memo for values that are costly to build and never go stale
//! because their key is their content (a key's bytes, a JWK thumbprint). Bounded: when
//! full it is emptied, which only costs rebuilding.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

pub struct Memo<K, V> {
    map: RwLock<Option<HashMap<K, V>>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    pub const fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(None),
            capacity,
        }
    }

    /// The value for `key`, built by `build` (and remembered) the first time.
    pub fn get_or_try_insert<Q, E>(
        &self,
        key: &Q,
        build: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    {
        let found = self
            .map
            .read()
            .ok()
            .and_then(|m| m.as_ref().and_then(|m| m.get(key).cloned()));
        if let Some(found) = found {
            return Ok(found);
        }
        let value = build()?;
        if let Ok(mut guard) = self.map.write() {
            let map = guard.get_or_insert_with(HashMap::new);
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key.to_owned(), value.clone());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_once_forgets_when_full_and_never_remembers_failures() {
        let memo: Memo<String, u32> = Memo::new(2);
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
        assert_eq!(get("c", &memo), Ok(3), "full: emptied, then c kept");
        assert_eq!(get("a", &memo), Ok(4), "a was forgotten");
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
}
