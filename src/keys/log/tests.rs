//! The log's storage and tree against SQLite, and its proofs against ct-merkle's verifier.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2_11::Sha256;

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
