//! This instance's copy of the log's Merkle tree, and the proofs it gives.

use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use entity::key_log;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use sha2_11::Sha256;

use super::index;

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
    tree: Mutex<MemoryBackedTree<Sha256, Vec<u8>>>,
}

impl KeyLog {
    fn tree(&self) -> std::sync::MutexGuard<'_, MemoryBackedTree<Sha256, Vec<u8>>> {
        // A push is the only change; a panic cannot leave it half done to a reader
        // that takes the tree as it is (a missing leaf is read again).
        self.tree
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        head_of(&tree)
    }

    /// The proof that entry `index` is in the current tree, with that tree's head.
    pub fn inclusion(&self, index: u64) -> Result<(Inclusion, TreeHead), ProofError> {
        let tree = self.tree();
        let size = tree.len();
        let at = usize::try_from(index).ok().filter(|_| index < size);
        let at = at.ok_or(ProofError::NoSuchEntry { index, size })?;
        let proof = tree.prove_inclusion(at);
        Ok((
            Inclusion {
                index,
                tree_size: size,
                proof: hashes(proof.as_bytes()),
            },
            head_of(&tree),
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
            hashes(tree.prove_consistency(additions).as_bytes())
        };
        Ok((
            Consistency {
                from,
                tree_size: size,
                proof,
            },
            head_of(&tree),
        ))
    }
}

impl KeyLog {
    /// The proofs of several entries, all against one head (indices past the tree are
    /// left out).
    pub fn inclusions(&self, indices: &[u64]) -> (Vec<Inclusion>, TreeHead) {
        let tree = self.tree();
        let size = tree.len();
        let proofs = indices
            .iter()
            .filter_map(|&index| {
                let at = usize::try_from(index).ok().filter(|_| index < size)?;
                Some(Inclusion {
                    index,
                    tree_size: size,
                    proof: hashes(tree.prove_inclusion(at).as_bytes()),
                })
            })
            .collect();
        (proofs, head_of(&tree))
    }

    /// Up to `count` entries from `start`, as the canonical JSON their leaves hash.
    pub fn entries(&self, start: u64, count: u64) -> Vec<(u64, String)> {
        let tree = self.tree();
        let items = tree.items();
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
