//! `send --to-group CBE/quality`: the command resolves "the doctors of hospital X"
//! through the keystore search, addresses each of them, and each opens the message
//! with every check passing; a nurse of the same hospital is not addressed.

use super::*;

/// A member of `hospital` with a professional profile of `quality`, logged in under it
/// at a terminal, with an `enc` key.
async fn staff(
    app: &TestApp,
    first9: &str,
    hospital: &str,
    quality: &str,
    number: u64,
) -> Terminal {
    let ssin = ssin(first9);
    let nihii = nihii(number, "004");
    app.admin_create(
        "/admin/persons",
        &json!({"ssin": ssin, "name": format!("Staff {first9}"), "password": PASSWORD,
                "profiles": [{"profile": "organization", "cbe": hospital},
                             {"profile": "professional", "quality": quality, "nihii": nihii}]}),
    )
    .await;
    let terminal = Terminal::new(app);
    terminal
        .log_in_person(&ssin, Some(&format!("professional:{nihii}")))
        .await
        .succeeded("login");
    terminal
        .run(&["register-key", "--use", "enc"])
        .await
        .succeeded("register-key");
    terminal
}

#[tokio::test]
async fn a_message_to_the_doctors_of_a_hospital_opens_for_each_of_them() {
    let app = service().await;
    let lab = laboratory(&app).await;
    let hospital = crate::symkeys::cbe("04040404");
    app.register_organization(&hospital, "AZ Sint-Jan").await;
    let doctors = [
        staff(&app, "850101031", &hospital, "doctor", 400_001).await,
        staff(&app, "850101032", &hospital, "doctor", 400_002).await,
    ];
    let nurse = staff(&app, "850101033", &hospital, "nurse", 400_003).await;

    let notice = lab.file("notice.txt");
    std::fs::write(&notice, "new sepsis protocol from Monday").unwrap();
    let group = format!("{hospital}/doctor");
    let sent = lab
        .run(&[
            "send",
            "--to-group",
            &group,
            "--file",
            notice.to_str().unwrap(),
        ])
        .await
        .succeeded("send --to-group");
    assert!(
        sent.stderr
            .contains(&format!("2 doctor of {hospital}; encrypted for 2 keys")),
        "{sent:#?}"
    );
    let id = sent.json()["id"].as_str().unwrap().to_owned();
    for doctor in &doctors {
        let opened = doctor.run(&["open", &id]).await.succeeded("open");
        assert!(
            opened.stderr.contains("VALID: every check passed"),
            "{opened:#?}"
        );
        assert_eq!(opened.stdout, "new sepsis protocol from Monday");
    }
    let refused = nurse.run(&["fetch", &id]).await.failed("the nurse's fetch");
    assert!(
        refused.stderr.contains("is not in your boxes"),
        "{refused:#?}"
    );

    // Bad groups are refused before anything is asked of the service.
    for bad in ["04040404/doctor", &format!("{hospital}/wizard"), &hospital] {
        let refused = lab
            .run(&[
                "send",
                "--to-group",
                bad,
                "--file",
                notice.to_str().unwrap(),
            ])
            .await
            .failed("a bad group");
        assert!(refused.stderr.contains(bad), "{refused:#?}");
    }
    // A group with no member who can read: nothing is sent.
    let refused = lab
        .run(&[
            "send",
            "--to-group",
            &format!("{hospital}/midwife"),
            "--file",
            notice.to_str().unwrap(),
        ])
        .await
        .failed("an empty group");
    assert!(
        refused.stderr.contains("no midwife of organization"),
        "{refused:#?}"
    );
}
