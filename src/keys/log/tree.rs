//! This instance's copy of the log's Merkle tree, and the proofs it gives.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use entity::key_log;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::Value;
use sha2_11::Sha256;

use super::{Event, index};
use crate::cache::registry::Stamp;

/// At most this many rows are read in one query while catching up.
const CATCH_UP_PAGE: u64 = 5_000;

/// A tree head: the tree's size and root hash (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeHead {
    pub tree_size: u64,
    pub root_hash: String,
}

/// An inclusion proof: the sibling hashes from the leaf up (RFC 9162 §2.1.3).
#[derive(Debug, Clone, Serialize)]
pub struct Inclusion {
    pub index: u64,
    pub tree_size: u64,
    pub proof: Vec<String>,
}

/// A consistency proof between the tree of `from` leaves and this one (§2.1.4).
#[derive(Debug, Clone, Serialize)]
pub struct Consistency {
    pub from: u64,
    pub tree_size: u64,
    pub proof: Vec<String>,
}

/// Why a proof cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("the log has {size} entries; there is no entry {index}")]
    NoSuchEntry { index: u64, size: u64 },
    #[error("the log has {size} entries; a tree of {from} cannot be proved consistent with it")]
    BadSize { from: u64, size: u64 },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// This instance's copy of the log's Merkle tree.
#[derive(Default)]
pub struct KeyLog {
    tree: Mutex<Tree>,
    /// The registry's stamp when the tree last caught up (see [`Self::catch_up_after`]).
    seen: Mutex<Option<Stamp>>,
    /// The last head signed, with the kid of the key that signed it.
    signed: Mutex<Option<(TreeHead, String, Value)>>,
}

/// The Merkle tree, and the latest event of each key in it (what a JWKS answer
/// proves).
#[derive(Default)]
struct Tree {
    merkle: MemoryBackedTree<Sha256, Vec<u8>>,
    latest: HashMap<String, (u64, Event)>,
}

impl Tree {
    fn len(&self) -> u64 {
        self.merkle.len()
    }

    fn push(&mut self, entry: Vec<u8>) {
        let index = self.merkle.len();
        if let Ok(parsed) = serde_json::from_slice::<Value>(&entry)
            && let (Some(kid), Some(event)) = (
                parsed["kid"].as_str(),
                parsed["event"].as_str().and_then(Event::parse),
            )
        {
            self.latest.insert(kid.to_owned(), (index, event));
        }
        self.merkle.push(entry);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every change is one push or one assignment: a panic cannot leave one half done.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl KeyLog {
    fn tree(&self) -> std::sync::MutexGuard<'_, Tree> {
        lock(&self.tree)
    }

    /// [`Self::catch_up`], unless the registry has not changed since the last time
    /// (`stamp`, read before this call): a key's event is logged with a write to the
    /// registry, which moves the stamp at once in this process and within its watch
    /// period in the others.
    pub async fn catch_up_after(
        &self,
        db: &impl ConnectionTrait,
        stamp: Stamp,
    ) -> Result<(), DbErr> {
        if *lock(&self.seen) == Some(stamp) {
            return Ok(());
        }
        self.catch_up(db).await?;
        *lock(&self.seen) = Some(stamp);
        Ok(())
    }

    /// The head signed by `kid`, if it was signed before.
    pub fn signed(&self, head: &TreeHead, kid: &str) -> Option<Value> {
        lock(&self.signed)
            .as_ref()
            .filter(|(h, k, _)| h == head && k == kid)
            .map(|(_, _, signed)| signed.clone())
    }

    /// Keeps the head `kid` signed, for the requests that find the same head.
    pub fn keep_signed(&self, head: TreeHead, kid: &str, signed: Value) {
        *lock(&self.signed) = Some((head, kid.to_owned(), signed));
    }

    /// The latest event of each of `kids` with its inclusion proof, all against one
    /// head, in the order of `kids` (`None` for a kid not in the tree).
    pub fn vouch(&self, kids: &[&str]) -> (Vec<Option<(Inclusion, Event)>>, TreeHead) {
        let tree = self.tree();
        let size = tree.len();
        let proofs = kids
            .iter()
            .map(|kid| {
                let &(index, event) = tree.latest.get(*kid)?;
                let at = usize::try_from(index).ok()?;
                let proof = hashes(tree.merkle.prove_inclusion(at).as_bytes());
                Some((
                    Inclusion {
                        index,
                        tree_size: size,
                        proof,
                    },
                    event,
                ))
            })
            .collect();
        (proofs, head_of(&tree.merkle))
    }

    /// Reads the leaves committed since the last call (by any instance).
    pub async fn catch_up(&self, db: &impl ConnectionTrait) -> Result<u64, DbErr> {
        loop {
            let from = self.tree().len();
            let rows = key_log::Entity::find()
                .filter(key_log::Column::Idx.gte(i64::try_from(from).unwrap_or(i64::MAX)))
                .order_by_asc(key_log::Column::Idx)
                .limit(CATCH_UP_PAGE)
                .all(db)
                .await?;
            let read = rows.len() as u64;
            let mut tree = self.tree();
            for row in rows {
                let idx = index(row.idx)?;
                if idx < tree.len() {
                    continue; // another request caught up meanwhile
                }
                if idx > tree.len() {
                    return Err(DbErr::Custom(format!(
                        "the key log skips from {} to {idx}",
                        tree.len()
                    )));
                }
                tree.push(row.entry.into_bytes());
            }
            if read < CATCH_UP_PAGE {
                return Ok(tree.len());
            }
        }
    }

    /// The head of the tree as this instance has it.
    pub fn head(&self) -> TreeHead {
        let tree = self.tree();
        head_of(&tree.merkle)
    }

    /// The proof that entry `index` is in the current tree, with that tree's head.
    pub fn inclusion(&self, index: u64) -> Result<(Inclusion, TreeHead), ProofError> {
        let tree = self.tree();
        let size = tree.len();
        let at = usize::try_from(index).ok().filter(|_| index < size);
        let at = at.ok_or(ProofError::NoSuchEntry { index, size })?;
        let proof = tree.merkle.prove_inclusion(at);
        Ok((
            Inclusion {
                index,
                tree_size: size,
                proof: hashes(proof.as_bytes()),
            },
            head_of(&tree.merkle),
        ))
    }

    /// The proof that the tree of `from` leaves is a prefix of the current tree, with
    /// that tree's head. From a tree as large as the current one the proof is empty.
    pub fn consistency(&self, from: u64) -> Result<(Consistency, TreeHead), ProofError> {
        let tree = self.tree();
        let size = tree.len();
        if from == 0 || from > size {
            return Err(ProofError::BadSize { from, size });
        }
        let proof = if from == size {
            Vec::new()
        } else {
            let additions = usize::try_from(size - from).unwrap_or(usize::MAX);
            hashes(tree.merkle.prove_consistency(additions).as_bytes())
        };
        Ok((
            Consistency {
                from,
                tree_size: size,
                proof,
            },
            head_of(&tree.merkle),
        ))
    }
}

impl KeyLog {
    /// Up to `count` entries from `start`, as the canonical JSON their leaves hash.
    pub fn entries(&self, start: u64, count: u64) -> Vec<(u64, String)> {
        let tree = self.tree();
        let items = tree.merkle.items();
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(items.len());
        let end = start
            .saturating_add(usize::try_from(count).unwrap_or(usize::MAX))
            .min(items.len());
        items[start..end]
            .iter()
            .zip(start as u64..)
            .map(|(bytes, index)| (index, String::from_utf8_lossy(bytes).into_owned()))
            .collect()
    }
}

fn head_of(tree: &MemoryBackedTree<Sha256, Vec<u8>>) -> TreeHead {
    TreeHead {
        tree_size: tree.len(),
        root_hash: B64.encode(tree.root().as_bytes()),
    }
}

/// A proof's concatenated hashes as base64url strings, 32 bytes each.
fn hashes(bytes: &[u8]) -> Vec<String> {
    bytes.chunks(32).map(|h| B64.encode(h)).collect()
}
