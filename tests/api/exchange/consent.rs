//! The person's say: the consent page names `exchange` for what it is, and the account
//! page withdraws it alone, which ends the exchanges and revokes what was exchanged.

use crate::forms::auth_query;

use super::*;

#[tokio::test]
async fn the_consent_page_says_the_app_may_act_for_the_person() {
    let app = keystore_app_with(|_| {}).await;
    let ssin = app.citizen("850103001", false).await;
    let client = app
        .register_app("gp-app", false, super::APP_SCOPES, serde_json::json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let login = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    let consent = browser
        .login(&login, &ssin, crate::forms::PASSWORD, "")
        .await;
    assert!(consent.form_with("decision").is_some());
    assert!(
        consent.body.contains("act for you towards other services"),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("(exchange)"));
}

#[tokio::test]
async fn withdrawing_exchange_at_the_account_revokes_what_was_exchanged() {
    let s = setting("850103002", true).await;
    let form = exchange_form(&s.token, None, &[("scope", "depot:read")]);
    let body = exchanged(&s.app, &s.client, &form, None).await;
    let exchanged_token = body["access_token"].as_str().unwrap().to_owned();
    assert!(active(&s.app, &exchanged_token).await);

    let account = s.browser.get("/account").await;
    assert!(account.body.contains("act for you towards other services"));
    let action = "/account/consents/gp-app/exchange/revoke";
    let csrf = account
        .hidden(action, "csrf")
        .expect("a form withdrawing exchange");
    assert_eq!(
        s.browser.post(action, &[]).await.status,
        403,
        "no CSRF token, nothing withdrawn"
    );
    assert!(active(&s.app, &exchanged_token).await);
    let done = s.browser.post(action, &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 303);

    // What was exchanged is revoked, and no exchange of the person's tokens by this
    // app goes through any more, though the token itself is still good for the rest.
    assert!(!active(&s.app, &exchanged_token).await);
    let response = exchange(&s.app, &s.client, &form, None).await;
    let description = expect_oauth_error(response, 400, "invalid_grant").await;
    assert!(description.contains("consent"), "{description}");
    assert!(active(&s.app, &s.token).await);
    let account = s.browser.get("/account").await;
    assert!(
        account.body.contains("App gp-app"),
        "the rest is still allowed"
    );
    assert!(account.hidden(action, "csrf").is_none());
    // Withdrawn twice: nothing to withdraw.
    let csrf = account
        .hidden("/account/consents/gp-app/revoke", "csrf")
        .unwrap();
    assert_eq!(s.browser.post(action, &[("csrf", &csrf)]).await.status, 404);
}

#[tokio::test]
async fn revoking_the_whole_consent_revokes_what_was_exchanged_too() {
    let s = setting("850103003", true).await;
    let form = exchange_form(&s.token, None, &[("scope", "depot:read")]);
    let body = exchanged(&s.app, &s.client, &form, None).await;
    let exchanged_token = body["access_token"].as_str().unwrap().to_owned();

    let account = s.browser.get("/account").await;
    let action = "/account/consents/gp-app/revoke";
    let csrf = account.hidden(action, "csrf").unwrap();
    assert_eq!(s.browser.post(action, &[("csrf", &csrf)]).await.status, 303);
    assert!(!active(&s.app, &exchanged_token).await);
    let response = exchange(&s.app, &s.client, &form, None).await;
    expect_oauth_error(response, 400, "invalid_grant").await;
}
