//! The done-when of absences: a message sent to an absent doctor reaches the
//! substitute the sender chose (`send --with-substitutes`), and the absent doctor's own
//! device still opens it. Every check of `open` passes for both; a substitute with no
//! encryption key is not reached, and without the flag nobody but the doctor is.

use chrono::Duration;

use super::*;
use crate::depot::identifier;

#[tokio::test]
async fn a_message_to_an_absent_doctor_reaches_the_chosen_substitute_and_still_opens_for_her() {
    let app = service().await;
    let lab = laboratory(&app).await;
    let (absent_nihii, substitute_nihii, keyless_nihii) = (
        nihii(200_001, "004"),
        nihii(200_002, "004"),
        nihii(200_003, "004"),
    );
    let absent = person(&app, "850101021", Some(&absent_nihii)).await;
    let substitute = person(&app, "850101022", Some(&substitute_nihii)).await;
    let keyless = person(&app, "850101023", Some(&keyless_nihii)).await;
    let absent_terminal = person_at_terminal(&app, &absent, Some("enc")).await;
    let substitute_terminal = person_at_terminal(&app, &substitute, Some("enc")).await;
    let keyless_terminal = person_at_terminal(&app, &keyless, None).await;

    // Dr. A goes on leave, through the client library; both doctors substitute.
    let until = app.clock.now() + Duration::days(14);
    let substitutes = [
        depot::people::Identifier::parse("nihii", &substitute_nihii).unwrap(),
        depot::people::Identifier::parse("nihii", &keyless_nihii).unwrap(),
    ];
    absent_terminal
        .library_session()
        .set_absence(None, until, &substitutes)
        .await
        .unwrap();

    let letter = lab.file("letter.txt");
    std::fs::write(&letter, "discharge letter: follow-up in 2 weeks").unwrap();
    let to = format!("nihii:{absent_nihii}");
    let file = letter.to_str().unwrap();

    // Without the flag: the sender is told, and only Dr. A is reached.
    let told = lab
        .run(&["send", "--to", &to, "--file", file])
        .await
        .succeeded("send");
    assert!(
        told.stderr
            .contains(&format!("nihii:{absent_nihii} is absent until"))
            && told.stderr.contains("--with-substitutes"),
        "{told:#?}"
    );
    assert_eq!(told.json()["absentRecipients"][0]["reached"], json!([]));
    let quiet = told.json()["id"].as_str().unwrap().to_owned();

    // With it: the substitute with a key is reached, the one without is not.
    let sent = lab
        .run(&["send", "--to", &to, "--file", file, "--with-substitutes"])
        .await
        .succeeded("send --with-substitutes");
    let answer = sent.json();
    let absence = &answer["absentRecipients"][0];
    assert_eq!(
        absence["recipient"],
        identifier("nihii", &absent_nihii),
        "{answer}"
    );
    assert_eq!(
        absence["reached"],
        json!([identifier("nihii", &substitute_nihii)]),
        "{answer}"
    );
    assert!(
        sent.stderr.contains("encrypted for 2 keys"),
        "Dr. A's and the substitute's: {sent:#?}"
    );
    let id = answer["id"].as_str().unwrap().to_owned();

    // The substitute finds it in her inbox, standing in for Dr. A, and opens it.
    let inbox = substitute_terminal
        .run(&["inbox"])
        .await
        .succeeded("inbox")
        .json();
    let listed = inbox["messages"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "only the message encrypted for her: {inbox}"
    );
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(
        listed[0]["receipts"][0]["substituteFor"],
        identifier("nihii", &absent_nihii)
    );
    for terminal in [&substitute_terminal, &absent_terminal] {
        let opened = terminal.run(&["open", &id]).await.succeeded("open");
        assert!(
            opened.stderr.contains("VALID: every check passed"),
            "{opened:#?}"
        );
        assert_eq!(opened.stdout, "discharge letter: follow-up in 2 weeks");
    }
    // Neither message is the keyless substitute's, nor the first one the substitute's.
    for (terminal, id) in [(&keyless_terminal, &id), (&substitute_terminal, &quiet)] {
        let refused = terminal.run(&["fetch", id]).await.failed("fetch");
        assert!(
            refused.stderr.contains("is not in your boxes"),
            "{refused:#?}"
        );
    }
}
