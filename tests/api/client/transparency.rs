//! `open` against the keystore's transparency log (`depot::client::open::logged`): the
//! signer's key as the keystore shows it must be the logged one, in a log that only
//! grew since the head the client trusted last.

use depot::client::open::{Trust, checks, open};
use depot::client::seal::seal_for_recipients;
use depot::client::{Fetched, Session, Verdict};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{Person, World};

/// Alice (sig key `kid`) sends Bob (enc key) a message; Bob fetches it.
async fn sent(world: &World) -> (Person, String, Fetched) {
    let mut alice = world.person(true).await;
    let kid = alice.register(world, "sig").await;
    let mut bob = world.person(false).await;
    bob.register(world, "enc").await;
    let to = [bob.identifier()];
    let (sealed, _) = seal_for_recipients(&alice.session, &alice.device, &to, b"lab results")
        .await
        .unwrap();
    let answer = alice.session.send("ehbox", &to, &sealed).await.unwrap();
    let fetched = bob
        .session
        .fetch(answer["id"].as_str().unwrap())
        .await
        .unwrap();
    (bob, kid, fetched)
}

async fn trust(world: &World) -> Trust {
    Trust::from_service(&Session::new(world.http.clone(), &world.app.issuer, ""))
        .await
        .unwrap()
}

fn refused(verdict: &Verdict, why: &str) {
    assert!(!verdict.valid(), "{verdict}");
    assert!(verdict.payload.is_none());
    let failure = verdict.failure().unwrap();
    assert_eq!(failure.name, checks::KEY_LOGGED, "{verdict}");
    assert!(failure.detail.contains(why), "{verdict}");
}

#[tokio::test]
async fn a_signers_key_changed_in_the_database_fails_its_proof() {
    let world = World::new().await;
    let (bob, kid, fetched) = sent(&world).await;
    let verdict = open(&bob.session, &bob.device, &fetched, &world.trust).await;
    assert!(verdict.valid(), "{verdict}");
    assert!(!verdict.failed(checks::KEY_LOGGED));

    // Someone with access to the database gives the key to another person: the
    // keystore now shows it as theirs, the thumbprint still matches, the proof not.
    let db = &world.app.state.db;
    db.execute_unprepared(&format!(
        "UPDATE public_key SET ssin = '{}' WHERE kid = '{kid}'",
        bob.ssin
    ))
    .await
    .unwrap();
    let verdict = open(&bob.session, &bob.device, &fetched, &trust(&world).await).await;
    refused(&verdict, "is not entry");
    assert!(!verdict.failed(checks::KEY_AT_TIMESTAMP), "{verdict}");

    // Or erases a revocation: back to the row as it was, then revoked, then
    // un-revoked behind the log's back.
    db.execute_unprepared(&format!(
        "UPDATE public_key SET ssin = '{}' WHERE kid = '{kid}'",
        fetched.sender["identity"]["ssin"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert!(
        open(&bob.session, &bob.device, &fetched, &trust(&world).await)
            .await
            .valid()
    );
    world.app.clock.advance(2);
    let admin = world.app.admin_token().await;
    let response = world
        .app
        .http
        .delete(world.app.url(&format!("/admin/keys/{kid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(
        open(&bob.session, &bob.device, &fetched, &trust(&world).await)
            .await
            .valid(),
        "revoked after the timestamp: still valid"
    );
    db.execute_unprepared(&format!(
        "UPDATE public_key SET revoked_at = NULL, revoked_by = NULL WHERE kid = '{kid}'"
    ))
    .await
    .unwrap();
    refused(
        &open(&bob.session, &bob.device, &fetched, &trust(&world).await).await,
        "shows it unrevoked",
    );
}

#[tokio::test]
async fn the_trusted_head_is_kept_and_a_rewritten_log_is_refused() {
    let world = World::new().await;
    let (bob, _, fetched) = sent(&world).await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("log_head.json");

    // The first head is trusted on first use and kept.
    let first = trust(&world)
        .await
        .keeping_log_head_in(file.clone())
        .unwrap();
    let verdict = open(&bob.session, &bob.device, &fetched, &first).await;
    assert!(verdict.valid(), "{verdict}");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(Some(kept.clone()), first.log.last().map(|h| json!(h)));
    let size = kept["tree_size"].as_u64().unwrap();

    // The log grows; a client reading the kept head checks the growth and moves on.
    let mut carol = world.person(false).await;
    carol.register(&world, "enc").await;
    let again = trust(&world)
        .await
        .keeping_log_head_in(file.clone())
        .unwrap();
    let verdict = open(&bob.session, &bob.device, &fetched, &again).await;
    assert!(verdict.valid(), "{verdict}");
    let detail = &verdict
        .checks
        .iter()
        .find(|c| c.name == checks::KEY_LOGGED)
        .unwrap()
        .detail;
    assert!(
        detail.contains(&format!("extends the log of {size} entries trusted before")),
        "{detail}"
    );
    assert!(again.log.last().unwrap().tree_size > size);

    // A head of the same size with another root, or an earlier head the current
    // tree does not extend: the log was rewritten behind the client.
    let forged_root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (forged_size, why) in [
        (again.log.last().unwrap().tree_size, "has another root"),
        (size, "is not a prefix"),
    ] {
        std::fs::write(
            &file,
            json!({"tree_size": forged_size, "root_hash": forged_root}).to_string(),
        )
        .unwrap();
        let forged = trust(&world)
            .await
            .keeping_log_head_in(file.clone())
            .unwrap();
        refused(
            &open(&bob.session, &bob.device, &fetched, &forged).await,
            why,
        );
        let still: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(
            still["root_hash"], forged_root,
            "a refused log does not replace the head"
        );
    }
    std::fs::write(&file, "not json").unwrap();
    assert!(trust(&world).await.keeping_log_head_in(file).is_err());
}
