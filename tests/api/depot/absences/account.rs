//! The account page's absences: set, listed and ended without JavaScript.

use chrono::Duration;
use serde_json::json;

use super::*;

#[tokio::test]
async fn the_account_page_sets_lists_and_ends_an_absence() {
    let p = practice().await;
    let browser = p.app.browser();
    let login = browser.get("/account/absences").await;
    let login = browser.follow(login).await;
    let back = browser
        .login(&login, &p.absent.ssin, crate::forms::PASSWORD, "")
        .await;
    let page = browser.follow(back).await;
    let page = if page.body.contains("action=\"/account/absences\"") {
        page
    } else {
        browser.get("/account/absences").await
    };
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("No absence is planned."),
        "{}",
        page.body
    );
    let csrf = page.hidden("/account/absences", "csrf").unwrap();

    // A datetime-local value, read as UTC; substitutes one per line.
    let until = (p.app.clock.now() + Duration::days(3))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let substitutes = format!("nihii:{}\r\nssin:{}", p.chosen.nihii, p.other.ssin);
    let form = |csrf: &str, until: &str, substitutes: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("from".to_owned(), String::new()),
            ("until".to_owned(), until.to_owned()),
            ("substitutes".to_owned(), substitutes.to_owned()),
        ]
    };
    let post = |fields: Vec<(String, String)>| {
        let browser = &browser;
        async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            browser.post("/account/absences", &fields).await
        }
    };
    // Refused: a forged form, a bad substitute, an end in the past; nothing stored.
    assert_eq!(post(form("forged", &until, &substitutes)).await.status, 403);
    let bad = post(form(&csrf, &until, "nihii:123")).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("substitutes[0]"), "{}", bad.body);
    let past = post(form(&csrf, "2020-01-01T00:00", &substitutes)).await;
    assert_eq!(past.status, 422, "{}", past.body);
    assert!(absences(&p.app, &p.absent.token).await.is_empty());

    let set = post(form(&csrf, &until, &substitutes)).await;
    assert_eq!(set.status, 303, "{}", set.body);
    let listed = absences(&p.app, &p.absent.token).await;
    assert_eq!(listed.len(), 1, "the API sees what the page set");
    let absence = &listed[0];
    assert_eq!(
        absence["boxes"],
        json!([p.absent.id(), identifier("ssin", &p.absent.ssin)])
    );
    assert_eq!(
        absence["substitutes"],
        json!([p.chosen.id(), identifier("ssin", &p.other.ssin)])
    );
    assert_eq!(
        instant(&absence["until"])
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
        until
    );
    let page = browser.get("/account/absences").await;
    assert!(
        page.body.contains(&format!("nihii:{}", p.chosen.nihii)),
        "{}",
        page.body
    );

    // Ending: someone else's id is not found; hers ends it.
    let id = absence["id"].as_str().unwrap();
    let end = format!("/account/absences/{id}/end");
    let csrf = page.hidden(&end, "csrf").unwrap();
    let other = browser
        .post("/account/absences/not-an-absence/end", &[("csrf", &csrf)])
        .await;
    assert_eq!(other.status, 404);
    assert_eq!(browser.post(&end, &[("csrf", "forged")]).await.status, 403);
    assert_eq!(absences(&p.app, &p.absent.token).await.len(), 1);
    assert_eq!(browser.post(&end, &[("csrf", &csrf)]).await.status, 303);
    assert!(absences(&p.app, &p.absent.token).await.is_empty());
}
