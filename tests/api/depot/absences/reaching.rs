//! What reaches a substitute: the copy the sender encrypted for, and nothing else.

use serde_json::json;

use super::*;

#[tokio::test]
async fn a_message_to_an_absent_doctor_reaches_the_chosen_substitute_and_her_own_devices_open_it() {
    let p = practice().await;
    let absence = on_leave(&p).await;
    let sealed = seal_general(PLAINTEXT, &[&p.absent.key, &p.chosen.key, &p.sender.key]);
    let answer = send(
        &p.app,
        &p.sender.token,
        &message("ehbox", &[&p.absent.id()], &sealed),
    )
    .await;
    let id = answer["id"].as_str().unwrap();
    assert_eq!(
        answer["absentRecipients"],
        json!([{
            "recipient": p.absent.id(), "absent": true, "from": absence["from"], "until": absence["until"],
            "substitutes": absence["substitutes"], "reached": [p.chosen.id()],
        }]),
        "{answer}"
    );

    // The chosen substitute finds it in her inbox, naming whom she stands in for, and
    // opens it with her own key.
    let listing = list(&p.app, &p.chosen.token, "").await;
    let listed = item(&listing, id);
    assert_eq!(
        listed["receipts"],
        json!([{"recipient": p.chosen.id(), "substituteFor": p.absent.id(), "receivedAt": null, "readAt": null}]),
        "{listed}"
    );
    let fetched_by_substitute = fetched(&p.app, &p.chosen.token, id, "the substitute").await;
    assert_eq!(
        fetched_by_substitute["recipients"],
        json!([p.absent.id()]),
        "addressed as sent"
    );
    let text = serde_json::to_string(&fetched_by_substitute["sealed"]).unwrap();
    assert_eq!(open_json(&text, &p.chosen.key), PLAINTEXT);
    assert_eq!(mark_read(&p.app, &p.chosen.token, id).await.status(), 204);

    // The absent doctor's own device opens it as well.
    let fetched_by_doctor = fetched(&p.app, &p.absent.token, id, "the absent doctor").await;
    let text = serde_json::to_string(&fetched_by_doctor["sealed"]).unwrap();
    assert_eq!(open_json(&text, &p.absent.key), PLAINTEXT);
    assert_eq!(
        fetched_by_doctor["receipts"].as_array().unwrap().len(),
        1,
        "a recipient sees her own receipt only: {fetched_by_doctor}"
    );

    // The sender sees both receipts, the substitute's read.
    let sent = fetched(&p.app, &p.sender.token, id, "the sender").await;
    let receipts = sent["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2, "{sent}");
    let substitute = receipts
        .iter()
        .find(|r| r["recipient"] == p.chosen.id())
        .unwrap();
    assert_eq!(substitute["substituteFor"], p.absent.id());
    assert!(substitute["readAt"].is_string(), "{substitute}");

    // The other substitute was not encrypted for: nothing in her box, and a 404.
    assert!(listed_ids(&list(&p.app, &p.other.token, "").await).is_empty());
    problem(
        fetch(&p.app, &p.other.token, id).await,
        404,
        "the substitute not chosen",
    )
    .await;
}

#[tokio::test]
async fn a_substitute_reads_nothing_the_sender_did_not_encrypt_for_her() {
    let p = practice().await;
    // Before the absence: a message to Dr. Claes alone.
    let before = send(
        &p.app,
        &p.sender.token,
        &message(
            "ehbox",
            &[&p.absent.id()],
            &seal_general(PLAINTEXT, &[&p.absent.key, &p.sender.key]),
        ),
    )
    .await;
    let absence = on_leave(&p).await;
    // During it, encrypted for her only: the answer tells, nobody else is reached.
    let during = send(
        &p.app,
        &p.sender.token,
        &message(
            "ehbox",
            &[&p.absent.id()],
            &seal_general(PLAINTEXT, &[&p.absent.key, &p.sender.key]),
        ),
    )
    .await;
    assert_eq!(
        during["absentRecipients"][0]["reached"],
        json!([]),
        "{during}"
    );
    assert_eq!(
        during["absentRecipients"][0]["substitutes"],
        absence["substitutes"]
    );
    for id in [&before["id"], &during["id"]] {
        let id = id.as_str().unwrap();
        for substitute in [&p.chosen, &p.other] {
            problem(
                fetch(&p.app, &substitute.token, id).await,
                404,
                "not encrypted for her",
            )
            .await;
            assert_eq!(mark_read(&p.app, &substitute.token, id).await.status(), 404);
        }
    }
    assert!(listed_ids(&list(&p.app, &p.chosen.token, "").await).is_empty());
    assert!(listed_ids(&list(&p.app, &p.other.token, "").await).is_empty());

    // A key of someone who is no substitute: refused, nothing stored.
    let stored_before = stored(&p.app).await;
    let stranger = doctor_with_key(
        &p.app,
        &p.app
            .register_app("other-app", false, APP_SCOPES, json!({}))
            .await,
        "800101005",
        "Dr. Stranger",
        100_005,
    )
    .await;
    let to_stranger = seal_general(PLAINTEXT, &[&p.absent.key, &stranger.key]);
    invalid_field(
        post_message(
            &p.app,
            &p.sender.token,
            &message("ehbox", &[&p.absent.id()], &to_stranger),
            None,
        )
        .await,
        "sealed",
        "a stranger's key",
    )
    .await;

    // The absence ended: the substitute's key is refused again.
    let id = absence["id"].as_str().unwrap();
    assert_eq!(end_absence(&p.app, &p.absent.token, id).await.status(), 204);
    let to_substitute = seal_general(PLAINTEXT, &[&p.absent.key, &p.chosen.key]);
    invalid_field(
        post_message(
            &p.app,
            &p.sender.token,
            &message("ehbox", &[&p.absent.id()], &to_substitute),
            None,
        )
        .await,
        "sealed",
        "after the absence",
    )
    .await;
    // An absence that has not begun yet does not let the substitute in either.
    let from = p.app.clock.now() + Duration::days(1);
    let response = set_absence(
        &p.app,
        &p.absent.token,
        &json!({"from": time(from), "until": time(from + Duration::days(2)), "substitutes": [p.chosen.id()]}),
    )
    .await;
    assert_eq!(response.status(), 201);
    invalid_field(
        post_message(
            &p.app,
            &p.sender.token,
            &message("ehbox", &[&p.absent.id()], &to_substitute),
            None,
        )
        .await,
        "sealed",
        "before the absence",
    )
    .await;
    assert_eq!(stored(&p.app).await, stored_before, "nothing stored");
    assert!(listed_ids(&list(&p.app, &p.chosen.token, "").await).is_empty());
}
