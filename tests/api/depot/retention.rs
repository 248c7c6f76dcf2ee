//! How long messages live: `expiresAt` (default the configured retention), gone for
//! everyone once passed and removed by the purge, as is a message no box holds any more;
//! and messages sealed to a symmetric key (API.md "Symmetric keys"), accepted while the
//! key lives.

use chrono::Duration as Span;
use josekit::jwe;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use super::*;
use crate::keys::problem;
use crate::symkeys::{
    create as create_symkey, delete as delete_symkey, key_id, key_request, raw_key, sel,
};

async fn message_rows(app: &TestApp, id: &str) -> (u64, u64) {
    let db = &app.state.db;
    let messages = entity::message::Entity::find_by_id(id.to_owned())
        .count(db)
        .await
        .unwrap();
    let entries = entity::box_entry::Entity::find()
        .filter(entity::box_entry::Column::MessageId.eq(id))
        .count(db)
        .await
        .unwrap();
    (messages, entries)
}

async fn purge(app: &TestApp) {
    depot::depot::store::purge(&app.state.db, app.clock.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn expired_and_abandoned_messages_are_gone_and_purged() {
    let app = depot_app().await;
    let mut sender = system_party(&app, "hospital-gw", "03123456").await;
    let mut recipient = system_party(&app, "gp-gw", "05123456").await;
    let r = &recipient.id;
    let sealed = || quoted(&seal_compact(b"short-lived", recipient.key()));
    let soon = (app.clock.now() + Span::seconds(120)).to_rfc3339();
    let short = send(
        &app,
        &sender.token,
        &message_with("ehbox", &[r], &sealed(), &[("expiresAt", json!(soon))]),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept = send_small(&app, &sender, "ehbox", &[r], "kept").await;
    let latest = (app.clock.now() + Span::days(365) - Span::minutes(1)).to_rfc3339();
    send(
        &app,
        &sender.token,
        &message_with("ehbox", &[r], &sealed(), &[("expiresAt", json!(latest))]),
    )
    .await;
    let row = entity::message::Entity::find_by_id(kept.clone())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    // The default is counted from acceptance (the request's parse, a moment before
    // `receivedAt` is taken).
    let expected = Span::days(i64::from(app.config.settings.depot.message_retention_days));
    let off = (row.expires_at - row.received_at - expected)
        .num_seconds()
        .abs();
    assert!(off <= 60, "the default expiry is {off} s off");

    // Past its expiry, nobody sees it, and the purge removes it with its box entries.
    app.clock.advance(180);
    sender.refresh(&app).await;
    recipient.refresh(&app).await;
    problem(
        fetch(&app, &recipient.token, &short).await,
        404,
        "expired, recipient",
    )
    .await;
    problem(
        fetch(&app, &sender.token, &short).await,
        404,
        "expired, sender",
    )
    .await;
    problem(
        mark_read(&app, &recipient.token, &short).await,
        404,
        "expired, read",
    )
    .await;
    assert!(!listed_ids(&list(&app, &recipient.token, "").await).contains(&short));
    assert!(!listed_ids(&list(&app, &sender.token, "box=sent").await).contains(&short));
    assert_eq!(box_summary(&app, &recipient.token).await["messages"], 2);
    assert_eq!(message_rows(&app, &short).await, (1, 2), "until the purge");
    purge(&app).await;
    assert_eq!(message_rows(&app, &short).await, (0, 0), "purged");
    assert_eq!(message_rows(&app, &kept).await, (1, 2), "the others stay");

    // Removed by the recipient, it stays while the sender's box holds it.
    assert_eq!(remove(&app, &recipient.token, &kept).await.status(), 204);
    purge(&app).await;
    assert_eq!(
        message_rows(&app, &kept).await.0,
        1,
        "the sent box holds it"
    );
    fetched(&app, &sender.token, &kept, "the sender").await;
    assert_eq!(remove(&app, &sender.token, &kept).await.status(), 204);
    purge(&app).await;
    assert_eq!(message_rows(&app, &kept).await, (0, 0), "no box holds it");
    assert_eq!(stored(&app).await.0, 1, "the one kept a year");
}

#[tokio::test]
async fn a_live_symmetric_key_may_seal_a_message_a_deleted_or_expired_one_not() {
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let r = &recipient.id;
    let created = create_symkey(
        &app,
        &sender.token,
        &key_request(
            json!([sel("cbe", r["value"].as_str().unwrap())]),
            None,
            None,
            3600,
        ),
    )
    .await;
    let kid = key_id(&created).to_owned();
    let raw = raw_key(&created["jwk"]);

    let compact = seal_to_symkey(b"for whoever may read the key", &kid, &raw);
    let id = send(
        &app,
        &sender.token,
        &message("ehbox", &[r], &quoted(&compact)),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = fetched(&app, &recipient.token, &id, "the recipient").await;
    let decrypter = jwe::A256KW.decrypter_from_bytes(&raw).unwrap();
    let (plaintext, _) =
        jwe::deserialize_compact(got["sealed"].as_str().unwrap(), &decrypter).unwrap();
    assert_eq!(plaintext, b"for whoever may read the key");

    // Deleted by its creator: no longer a key to seal to.
    assert_eq!(delete_symkey(&app, &sender.token, &kid).await.status(), 204);
    let again = seal_to_symkey(b"too late", &kid, &raw);
    let response = post_message(
        &app,
        &sender.token,
        &message("ehbox", &[r], &quoted(&again)),
        None,
    )
    .await;
    let body = problem(response, 422, "a deleted symmetric key").await;
    assert_eq!(body["field"], "sealed", "{body}");

    // Expired: the same.
    let brief = create_symkey(
        &app,
        &sender.token,
        &key_request(
            json!([sel("cbe", r["value"].as_str().unwrap())]),
            None,
            None,
            60,
        ),
    )
    .await;
    let brief_raw = raw_key(&brief["jwk"]);
    let sealed = seal_to_symkey(b"soon", key_id(&brief), &brief_raw);
    send(
        &app,
        &sender.token,
        &message("ehbox", &[r], &quoted(&sealed)),
    )
    .await;
    app.clock.advance(120);
    let response = post_message(
        &app,
        &sender.token,
        &message("ehbox", &[r], &quoted(&sealed)),
        None,
    )
    .await;
    let body = problem(response, 422, "an expired symmetric key").await;
    assert_eq!(body["field"], "sealed", "{body}");
    assert_eq!(stored(&app).await, (2, 2));
}
