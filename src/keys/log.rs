//! The keystore's transparency log: every registration, revocation and expiry of a key
//! is a leaf of an append-only Merkle tree (RFC 9162 §2.1: SHA-256, leaf hash
//! `H(0x00 || entry)`, node hash `H(0x01 || left || right)`), so that the directory
//! cannot rewrite whose key was valid when without the tree heads it signed before
//! disagreeing with the new ones.
//!
//! - **Entries.** An event's entry is the RFC 8785 canonical JSON of what a JWKS answer
//!   shows of the key ([`entry`]): a client holding a key from `GET /keys/jwks` rebuilds
//!   the entry's bytes itself, so a key row changed in the database no longer matches
//!   its logged leaf. Times are cut to milliseconds, as the API shows them.
//! - **Storage.** Table `key_log`, one row per leaf, indices dense from 0. A row is
//!   appended in the transaction of the key change it records ([`append`]); the next
//!   index is taken under a transaction-scoped advisory lock on PostgreSQL (so indices
//!   commit in order across instances) and under SQLite's one writer otherwise.
//! - **The tree.** Each instance keeps the tree in memory ([`KeyLog`]) and reads the rows
//!   appended since (by any instance) before it answers, so what it proves is what is
//!   committed.

use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use entity::key_log;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2_11::Sha256;

use super::Owner;
use entity::public_key::Model as KeyRow;

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Registered,
    Revoked,
    Expired,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Registered => "registered",
            Event::Revoked => "revoked",
            Event::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Event::Registered, Event::Revoked, Event::Expired]
            .into_iter()
            .find(|e| e.as_str() == text)
    }
}

/// The JWT `typ` of a signed tree head.
pub const HEAD_TYP: &str = "tree-head+jwt";

/// The key of the PostgreSQL advisory lock under which leaves are numbered: `keylog`
/// in ASCII.
pub const APPEND_LOCK: i64 = 0x6b65_796c_6f67;

/// A time as log entries (and the API) write it: RFC 3339, UTC, milliseconds.
pub fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The entry of `event` for the key `row`: the public JWK as registered, whose it is,
/// the client it was registered through, its validity, and for a revocation when.
pub fn entry(row: &KeyRow, event: Event) -> Value {
    let mut entry = json!({
        "event": event.as_str(),
        "kid": row.kid,
        "jwk": row.jwk,
        "identity": Owner::of_key(row).identifier(),
        "client_id": row.client_id,
        "not_before": millis(row.not_before),
        "not_after": millis(row.not_after),
    });
    if event == Event::Revoked
        && let Some(at) = row.revoked_at
    {
        entry["revoked_at"] = json!(millis(at));
    }
    entry
}

/// The bytes a leaf hashes: the entry in RFC 8785 canonical form.
pub fn canonical(entry: &Value) -> Result<Vec<u8>, DbErr> {
    serde_jcs::to_vec(entry).map_err(|e| DbErr::Custom(format!("canonical JSON: {e}")))
}

/// Appends `event` of `row` as the next leaf. Call it inside the transaction that
/// makes the change, after the change's own write (on SQLite that write holds the
/// database's write lock, under which the next index is read).
pub async fn append(
    txn: &impl ConnectionTrait,
    row: &KeyRow,
    event: Event,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock($1)",
            [APPEND_LOCK.into()],
        ))
        .await?;
    }
    let bytes = canonical(&entry(row, event))?;
    let text = String::from_utf8(bytes).map_err(|e| DbErr::Custom(e.to_string()))?;
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO key_log (idx, kid, event, entry, logged_at) \
         SELECT COALESCE(MAX(idx) + 1, 0), $1, $2, $3, $4 FROM key_log",
        [
            row.kid.clone().into(),
            event.as_str().into(),
            text.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Whether `kid` has an `event` in the log already.
pub async fn logged(db: &impl ConnectionTrait, kid: &str, event: Event) -> Result<bool, DbErr> {
    Ok(key_log::Entity::find()
        .filter(key_log::Column::Kid.eq(kid))
        .filter(key_log::Column::Event.eq(event.as_str()))
        .one(db)
        .await?
        .is_some())
}

/// The latest event of each of `kids` that has one: (kid, index, event).
pub async fn latest(
    db: &impl ConnectionTrait,
    kids: &[String],
) -> Result<Vec<(String, u64, Event)>, DbErr> {
    if kids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = key_log::Entity::find()
        .filter(key_log::Column::Kid.is_in(kids.iter().cloned()))
        .order_by_asc(key_log::Column::Idx)
        .all(db)
        .await?;
    let mut latest: Vec<(String, u64, Event)> = Vec::new();
    for row in rows {
        let Some(event) = Event::parse(&row.event) else {
            continue;
        };
        let idx = index(row.idx)?;
        match latest.iter_mut().find(|(kid, _, _)| *kid == row.kid) {
            Some(found) => *found = (row.kid, idx, event),
            None => latest.push((row.kid, idx, event)),
        }
    }
    Ok(latest)
}

fn index(idx: i64) -> Result<u64, DbErr> {
    u64::try_from(idx).map_err(|_| DbErr::Custom(format!("negative log index {idx}")))
}

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

/// Logs what the log is missing: keys registered before it existed (their
/// registration and, when revoked, their revocation), in the order they were created.
/// Idempotent, and safe for instances starting together (each key is checked under
/// the append lock).
pub async fn backfill(db: &sea_orm::DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::TransactionTrait;
    let missing: Vec<KeyRow> = entity::public_key::Entity::find()
        .filter(
            entity::public_key::Column::Kid.not_in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(key_log::Column::Kid)
                    .from(key_log::Entity)
                    .to_owned(),
            ),
        )
        .order_by_asc(entity::public_key::Column::CreatedAt)
        .order_by_asc(entity::public_key::Column::Kid)
        .all(db)
        .await?;
    let mut appended = 0;
    for row in missing {
        let txn = db.begin().await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [APPEND_LOCK.into()],
            ))
            .await?;
        }
        if logged(&txn, &row.kid, Event::Registered).await? {
            continue;
        }
        append(&txn, &row, Event::Registered, now).await?;
        appended += 1;
        if row.revoked_at.is_some() {
            append(&txn, &row, Event::Revoked, now).await?;
            appended += 1;
        }
        txn.commit().await?;
    }
    Ok(appended)
}

/// Logs the expiry of every key whose `not_after` has passed (and that was not revoked
/// before), once each; returns how many. The purge loop calls it every minute, so an
/// expiry is logged within a minute of it; its entry carries the exact `not_after`.
pub async fn expire_due(
    db: &sea_orm::DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use entity::public_key::{Column, Entity};
    use sea_orm::TransactionTrait;
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let due: Vec<KeyRow> = Entity::find()
        .filter(Column::NotAfter.lte(now))
        .filter(
            sea_orm::Condition::any()
                .add(Column::RevokedAt.is_null())
                .add(Expr::col(Column::RevokedAt).gt(Expr::col(Column::NotAfter))),
        )
        .filter(
            Column::Kid.not_in_subquery(
                Query::select()
                    .column(key_log::Column::Kid)
                    .from(key_log::Entity)
                    .and_where(key_log::Column::Event.eq(Event::Expired.as_str()))
                    .to_owned(),
            ),
        )
        .order_by_asc(Column::NotAfter)
        .order_by_asc(Column::Kid)
        .all(db)
        .await?;
    let mut logged_now = 0;
    for row in due {
        let txn = db.begin().await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [APPEND_LOCK.into()],
            ))
            .await?;
        }
        if logged(&txn, &row.kid, Event::Expired).await? {
            continue;
        }
        append(&txn, &row, Event::Expired, now).await?;
        txn.commit().await?;
        logged_now += 1;
    }
    Ok(logged_now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, Set};

    async fn database() -> DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        db
    }

    /// A key row written as the code before the log wrote them (no log entry).
    async fn key(
        db: &DatabaseConnection,
        kid: &str,
        created: i64,
        not_after: i64,
        revoked: Option<i64>,
    ) -> KeyRow {
        let at = |s: i64| DateTime::from_timestamp(s, 123_456_789).unwrap();
        entity::public_key::ActiveModel {
            kid: Set(kid.into()),
            owner: Set("cbe:0203201340".into()),
            ssin: Set(None),
            profile: Set("organization".into()),
            nihii: Set(None),
            cbe: Set(Some("0203201340".into())),
            identity: Set(json!({"profile": "organization"})),
            client_id: Set(Some("gw".into())),
            name: Set(kid.into()),
            key_use: Set("sig".into()),
            alg: Set(Some("ES256".into())),
            jwk: Set(json!({"kty": "EC", "crv": "P-256", "x": kid, "y": "y", "kid": kid})),
            jkt: Set(format!("jkt-{kid}")),
            source: Set("admin".into()),
            attestation: Set(None),
            created_at: Set(at(created)),
            not_before: Set(at(created)),
            not_after: Set(at(not_after)),
            last_used_at: Set(at(created)),
            revoked_at: Set(revoked.map(at)),
            revoked_by: Set(revoked.map(|_| "admin".into())),
        }
        .insert(db)
        .await
        .unwrap()
    }

    async fn events(db: &DatabaseConnection) -> Vec<(String, String)> {
        key_log::Entity::find()
            .order_by_asc(key_log::Column::Idx)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.event, row.kid))
            .collect()
    }

    fn pair(event: &str, kid: &str) -> (String, String) {
        (event.into(), kid.into())
    }

    /// Keys from before the log are logged once, oldest first, a revoked one with its
    /// revocation; expiries are logged once each, not for a key revoked before it
    /// expired; and each entry is the canonical JSON of what the JWKS shows.
    #[tokio::test]
    async fn earlier_keys_and_expiries_are_logged_once_each() {
        let db = database().await;
        let now = DateTime::from_timestamp(2_000, 0).unwrap();
        key(&db, "b", 20, 5_000, None).await;
        key(&db, "a", 10, 1_000, Some(500)).await;
        key(&db, "c", 30, 1_500, Some(1_600)).await;
        assert_eq!(backfill(&db, now).await.unwrap(), 5);
        assert_eq!(backfill(&db, now).await.unwrap(), 0, "idempotent");
        let expected = [
            pair("registered", "a"),
            pair("revoked", "a"),
            pair("registered", "b"),
            pair("registered", "c"),
            pair("revoked", "c"),
        ];
        assert_eq!(events(&db).await, expected);

        // "a" was revoked before it expired: no expiry; "c" expired, then was revoked.
        assert_eq!(expire_due(&db, now).await.unwrap(), 1);
        assert_eq!(expire_due(&db, now).await.unwrap(), 0, "once");
        assert_eq!(events(&db).await.last(), Some(&pair("expired", "c")));

        let stored = key_log::Entity::find_by_id(1)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.entry,
            r#"{"client_id":"gw","event":"revoked","identity":{"type":"cbe","value":"0203201340"},"jwk":{"crv":"P-256","kid":"a","kty":"EC","x":"a","y":"y"},"kid":"a","not_after":"1970-01-01T00:16:40.123Z","not_before":"1970-01-01T00:00:10.123Z","revoked_at":"1970-01-01T00:08:20.123Z"}"#
        );
    }

    /// The tree read back from the rows proves inclusion and consistency as ct-merkle's
    /// verifier expects, and a second reader catches up with rows appended since.
    #[tokio::test]
    async fn the_tree_follows_the_rows_and_its_proofs_verify() {
        let db = database().await;
        let now = DateTime::from_timestamp(2_000, 0).unwrap();
        for (i, kid) in ["a", "b", "c"].into_iter().enumerate() {
            key(&db, kid, i as i64, 5_000, None).await;
        }
        backfill(&db, now).await.unwrap();
        let log = KeyLog::default();
        assert_eq!(log.catch_up(&db).await.unwrap(), 3);
        let old = log.head();
        let row = key(&db, "d", 40, 5_000, None).await;
        let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
        txn.execute_unprepared("UPDATE public_key SET name = name WHERE kid = 'd'")
            .await
            .unwrap();
        append(&txn, &row, Event::Registered, now).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(log.catch_up(&db).await.unwrap(), 4);

        let root = |head: &TreeHead| {
            let bytes = B64.decode(&head.root_hash).unwrap();
            RootHash::<Sha256>::new(
                sha2_11::digest::Output::<Sha256>::try_from(bytes.as_slice()).unwrap(),
                head.tree_size,
            )
        };
        let proof_bytes = |hashes: &[String]| -> Vec<u8> {
            hashes.iter().flat_map(|h| B64.decode(h).unwrap()).collect()
        };
        let entries = log.entries(0, 10);
        assert_eq!(entries.len(), 4);
        for (index, entry) in &entries {
            let (inclusion, head) = log.inclusion(*index).unwrap();
            let proof =
                InclusionProof::<Sha256>::try_from_bytes(proof_bytes(&inclusion.proof)).unwrap();
            root(&head)
                .verify_inclusion(&entry.as_bytes(), *index, &proof)
                .unwrap();
            let other = &entries[(*index as usize + 1) % entries.len()].1;
            assert!(
                root(&head)
                    .verify_inclusion(&other.as_bytes(), *index, &proof)
                    .is_err()
            );
        }
        let (consistency, head) = log.consistency(3).unwrap();
        let proof =
            ConsistencyProof::<Sha256>::try_from_bytes(proof_bytes(&consistency.proof)).unwrap();
        root(&head).verify_consistency(&root(&old), &proof).unwrap();
        assert!(matches!(
            log.inclusion(4),
            Err(ProofError::NoSuchEntry { index: 4, size: 4 })
        ));
        assert!(matches!(
            log.consistency(0),
            Err(ProofError::BadSize { .. })
        ));
        assert!(matches!(
            log.consistency(5),
            Err(ProofError::BadSize { .. })
        ));
        assert!(log.consistency(4).unwrap().0.proof.is_empty());
    }
}
