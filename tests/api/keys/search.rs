//! The JWKS search (`GET /keys/jwks`), which answers "which keys were active at T":
//! each bad parameter is refused with a 422 that names it, and changes nothing.

use super::*;
use crate::forms::*;

/// A refused search: what it shows, its parameters, the field the 422 names.
type SearchCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);

#[tokio::test]
async fn the_jwks_search_names_each_bad_parameter() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({"organization": CBE}))
        .await;
    let token = app.token_for(&reader, &[]).await;
    let by_client = [("client_id", "reader")];
    let before = found(&app, &token, &by_client).await;
    assert_eq!(kids(&before), vec![reader.key.kid.clone()]);

    let bad_ssin = spoiled(&ssin("850730033"));
    let good_nihii = nihii(123456, "004");
    let bad_nihii = format!(
        "{}{}{}",
        &good_nihii[..7],
        if &good_nihii[7..8] == "9" { '0' } else { '9' },
        &good_nihii[8..]
    );
    let bad_cbe = spoiled(CBE);
    let cases: Vec<SearchCase> = vec![
        (
            "bad SSIN checksum",
            vec![("identity_type", "ssin"), ("identity_value", &bad_ssin)],
            Some("identity_value"),
        ),
        (
            "bad NIHII checksum",
            vec![("identity_type", "nihii"), ("identity_value", &bad_nihii)],
            Some("identity_value"),
        ),
        (
            "bad CBE checksum",
            vec![("identity_type", "cbe"), ("identity_value", &bad_cbe)],
            Some("identity_value"),
        ),
        (
            "short CBE",
            vec![("identity_type", "cbe"), ("identity_value", "0203")],
            Some("identity_value"),
        ),
        (
            "unknown identity type",
            vec![
                ("identity_type", "email"),
                ("identity_value", "a@b.example"),
            ],
            Some("identity_type"),
        ),
        (
            "value without type",
            vec![("identity_value", CBE)],
            Some("identity_type"),
        ),
        (
            "type without value",
            vec![("identity_type", "cbe")],
            Some("identity_value"),
        ),
        (
            "unknown use",
            vec![("client_id", "reader"), ("use", "wrap")],
            Some("use"),
        ),
        (
            "sig+enc is not a search use",
            vec![("client_id", "reader"), ("use", "sig+enc")],
            Some("use"),
        ),
        (
            "not a time",
            vec![("client_id", "reader"), ("at", "yesterday")],
            Some("at"),
        ),
        (
            "a date without time",
            vec![("client_id", "reader"), ("at", "2024-01-01")],
            Some("at"),
        ),
        ("no selector", vec![], None),
        ("only a use", vec![("use", "sig")], None),
        ("only a time", vec![("at", "2024-01-01T00:00:00Z")], None),
    ];
    for (what, params, field) in cases {
        let response = search(&app, &token, &params).await;
        let body = problem(response, 422, what).await;
        match field {
            Some(field) => assert_eq!(body["field"], field, "{what}: {body}"),
            None => assert!(body.get("field").is_none(), "{what}: {body}"),
        }
        assert_eq!(found(&app, &token, &by_client).await, before, "{what}");
    }

    // A valid time with an offset is fine (the `+` properly encoded).
    let later = (app.clock.now() + chrono::Duration::hours(1))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339();
    assert!(later.contains('+'));
    assert_eq!(
        found(&app, &token, &[("client_id", "reader"), ("at", &later)]).await,
        before
    );

    // An unknown parameter: a 4xx problem.
    let response = search(&app, &token, &[("client_id", "reader"), ("owner", "x")]).await;
    let status = response.status().as_u16();
    assert!(
        status == 400 || status == 422,
        "unknown parameter: {status}"
    );
    problem(response, status, "unknown parameter").await;

    // No token: 401 with a challenge; a token without keys:read: 403.
    let anonymous = app
        .http
        .get(app.url("/keys/jwks?client_id=reader"))
        .send()
        .await
        .unwrap();
    let challenge = anonymous
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    problem(anonymous, 401, "no token").await;
    let garbage = search(&app, "not.a.token", &by_client).await;
    assert!(garbage.headers().contains_key("www-authenticate"));
    problem(garbage, 401, "garbage token").await;

    let tsa = app
        .register_system_client("stamper", &["tsa"], json!({}))
        .await;
    let tsa_token = app.token_for(&tsa, &[]).await;
    problem(search(&app, &tsa_token, &by_client).await, 403, "tsa only").await;
    let register = app
        .register_system_client("registrar", &["keys:register"], json!({}))
        .await;
    let register_token = app.token_for(&register, &[]).await;
    let response = search(&app, &register_token, &by_client).await;
    let body = problem(response, 403, "keys:register only").await;
    assert!(
        body["detail"].as_str().unwrap().contains("keys:read"),
        "{body}"
    );
    let admin = app.admin_token().await;
    problem(search(&app, &admin, &by_client).await, 403, "admin token").await;
    // And the scope checks come before the parameter checks.
    problem(search(&app, &tsa_token, &[]).await, 403, "tsa, no selector").await;
    assert_eq!(found(&app, &token, &by_client).await, before);
}
