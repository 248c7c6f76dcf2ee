//! The administrator's side of the keystore: system clients' keys (registered with the
//! client or added later), certificate imports for an identity, revocation, and the
//! JWKS search that answers "which keys were active at T". Every refusal is checked
//! to have changed nothing.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, SecondsFormat, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};
use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;

// ---- helpers --------------------------------------------------------------------

/// `GET /keys/jwks` with the parameters URL-encoded.
async fn search(app: &TestApp, token: &str, params: &[(&str, &str)]) -> reqwest::Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    app.get(&format!("/keys/jwks?{query}"), token).await
}

/// The keys a search finds (panics unless 200).
async fn found(app: &TestApp, token: &str, params: &[(&str, &str)]) -> Vec<Value> {
    let response = search(app, token, params).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "search {params:?}: {body}");
    body["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    let mut kids: Vec<String> = keys
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

fn key<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid} in {keys:?}"))
}

/// Asserts an RFC 9457 answer with this status and returns it.
async fn problem(response: reqwest::Response, status: u16, what: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: content-type {content_type}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], status, "{what}: {body}");
    body
}

/// Asserts a 422 naming `field` and returns the problem.
async fn invalid_field(response: reqwest::Response, field: &str, what: &str) -> Value {
    let body = problem(response, 422, what).await;
    assert_eq!(body["field"], field, "{what}: {body}");
    body
}

/// RFC 7638 thumbprint of an EC public JWK, computed here independently.
fn ec_jkt(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    B64.encode(openssl::sha::sha256(canonical.as_bytes()))
}

fn time(view: &Value, member: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(view[member].as_str().unwrap_or_else(|| {
        panic!("{member} missing in {view}");
    }))
    .unwrap()
    .with_timezone(&Utc)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A client key's public JWK with the given `kid` and neither `use` nor `alg`.
fn bare_jwk(key: &ClientKey) -> Value {
    let mut jwk = key.public_jwk.clone();
    let object = jwk.as_object_mut().unwrap();
    object.remove("use");
    object.remove("alg");
    jwk
}

/// An identifier with its last digit changed, so that its check digits fail (for an
/// SSIN, under both the 1900s and the 2000s rule: they differ by 68, not by 1 or 9).
fn spoiled(identifier: &str) -> String {
    let mut text = identifier.to_owned();
    let last = text.pop().unwrap().to_digit(10).unwrap();
    text.push(char::from_digit((last + 1) % 10, 10).unwrap());
    text
}

/// Registers a system client as `register_system_client` does, with a key that names
/// neither `use` nor `alg` (a key for both uses, RFC 7517 §4.2).
async fn bare_system_client(app: &TestApp, id: &str, scopes: &[&str], extra: Value) -> TestClient {
    let mut key = ClientKey::generate(&format!("{id}-key-1"));
    key.public_jwk = bare_jwk(&key);
    let mut body = json!({
        "client_id": id, "type": "system", "name": format!("System {id}"),
        "scopes": scopes, "jwks": key.jwks(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.admin_create("/admin/clients", &body).await;
    TestClient { id: id.into(), key }
}

/// The `keys` claim of a fresh token of `client`, sorted by kid.
async fn token_keys(app: &TestApp, client: &TestClient) -> Vec<Value> {
    let token = app.token_for(client, &[]).await;
    let mut keys = jwt_claims(&token)["keys"].as_array().unwrap().clone();
    keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
    keys
}

/// A token request signed by `client` (with its current key).
async fn token_attempt(app: &TestApp, client: &TestClient) -> reqwest::Response {
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    app.token_request(&assertion, &[]).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

// ---- certificates -----------------------------------------------------------------

const DAY: i64 = 86_400;

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

struct Ca {
    cert: X509,
    key: PKey<Private>,
}

/// A certificate for `subject`, valid over [not_before, not_after] (Unix seconds),
/// signed by `issuer` (self-signed when none); a CA certificate when `ca`.
fn issue(
    subject: &PKey<Private>,
    cn: &str,
    issuer: Option<&Ca>,
    not_before: i64,
    not_after: i64,
    ca: bool,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder
        .set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))
        .unwrap();
    builder.set_pubkey(subject).unwrap();
    builder
        .set_not_before(&Asn1Time::from_unix(not_before).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(not_after).unwrap())
        .unwrap();
    if ca {
        builder
            .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        builder
            .append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
    } else {
        builder
            .append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        builder
            .append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_agreement()
                    .key_encipherment()
                    .build()
                    .unwrap(),
            )
            .unwrap();
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
        .unwrap();
    builder.append_extension(ski).unwrap();
    if let Some(issuer) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(issuer.cert.as_ref()), None))
            .unwrap();
        builder.append_extension(aki).unwrap();
    }
    let signer = issuer.map_or(subject, |i| &i.key);
    builder.sign(signer, MessageDigest::sha256()).unwrap();
    builder.build()
}

fn root(cn: &str) -> Ca {
    let key = p256();
    let now = Utc::now().timestamp();
    let cert = issue(&key, cn, None, now - DAY, now + 3650 * DAY, true);
    Ca { cert, key }
}

fn b64(cert: &X509) -> String {
    STANDARD.encode(cert.to_der().unwrap())
}

/// `x5t#S256` of a certificate, computed here.
fn x5t(cert: &X509) -> String {
    B64.encode(openssl::sha::sha256(&cert.to_der().unwrap()))
}

/// An import request for an `enc` certificate.
fn cert_body(identity: Value, x5c: Vec<String>) -> Value {
    json!({"identity": identity, "use": "enc", "name": "ETK", "x5c": x5c})
}

/// An app trusting `ca`, with the PEM file kept in `dir`.
async fn app_trusting(ca: &Ca, dir: &tempfile::TempDir) -> TestApp {
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.cert.to_pem().unwrap()).unwrap();
    spawn_app_with(move |s| s.certificate_trust_roots = Some(path)).await
}

/// A refused search: what it shows, its parameters, the field the 422 names.
type SearchCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);

// ---- tests --------------------------------------------------------------------------

#[tokio::test]
async fn a_system_clients_keys_fill_its_tokens_answer_the_search_and_revoke() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let gw = bare_system_client(
        &app,
        "gw",
        &["keys:read", "keys:register"],
        json!({"organization": CBE}),
    )
    .await;
    let first_kid = gw.key.kid.clone();
    let first_jkt = ec_jkt(&gw.key.public_jwk);

    // The key registered with the client is in the keystore and in its tokens.
    let claims = token_keys(&app, &gw).await;
    assert_eq!(
        claims,
        vec![json!({"kid": first_kid, "use": "sig+enc", "jkt": first_jkt})]
    );
    let token = app.token_for(&gw, &[]).await;
    assert_eq!(
        jwt_claims(&token)["aud"],
        json!(format!("{}/keys", app.issuer))
    );
    let by_client = found(&app, &token, &[("client_id", "gw")]).await;
    assert_eq!(kids(&by_client), vec![first_kid.clone()]);
    let view = &by_client[0];
    assert_eq!(view["identity"], json!({"type": "cbe", "value": CBE}));
    assert_eq!(view["client_id"], "gw");
    assert_eq!(view["status"], "active");
    assert_eq!(view["x"], gw.key.public_jwk["x"]);
    assert_eq!(view["y"], gw.key.public_jwk["y"]);
    assert!(
        view.get("use").is_none() && view.get("alg").is_none(),
        "a sig+enc key names neither use nor alg: {view}"
    );
    assert!(view.get("revoked_at").is_none(), "{view}");
    assert!(time(view, "not_before") <= app.clock.now());
    assert!(time(view, "not_after") > app.clock.now());
    let by_cbe = found(
        &app,
        &token,
        &[("identity_type", "cbe"), ("identity_value", CBE)],
    )
    .await;
    assert_eq!(by_cbe, by_client);

    // The administrator adds an encryption key and a second signing key.
    let admin = app.admin_token().await;
    let enc = ClientKey::generate("gw-enc-1");
    let response = app
        .post_json(
            "/admin/keys",
            &admin,
            &json!({"client_id": "gw", "use": "enc", "name": "Gateway encryption",
                    "jwk": bare_jwk(&enc)}),
        )
        .await;
    let status = response.status();
    let location = response.headers().get("location").cloned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        status, 201,
        "an enc EC P-256 JWK for a system client: {created}"
    );
    assert_eq!(location.unwrap(), "/keys/gw-enc-1");
    assert_eq!(created["kid"], "gw-enc-1");
    assert_eq!(created["x"], enc.public_jwk["x"]);
    assert_eq!(created["use"], "enc");
    assert_eq!(created["key_use"], "enc");
    assert_eq!(created["status"], "active");
    assert_eq!(created["client_id"], "gw");
    assert_eq!(created["identity"], json!({"type": "cbe", "value": CBE}));
    assert_eq!(created["name"], "Gateway encryption");
    assert_eq!(created["source"], "admin");
    for member in ["not_before", "not_after", "created_at", "last_used_at"] {
        time(&created, member);
    }
    let second = ClientKey::generate("gw-key-2");
    let created: Value = app
        .admin_create(
            "/admin/keys",
            &json!({"client_id": "gw", "use": "sig", "name": "Gateway signing 2",
                    "jwk": bare_jwk(&second)}),
        )
        .await;
    assert_eq!(created["use"], "sig");
    let gw2 = TestClient {
        id: "gw".into(),
        key: second.clone(),
    };

    // Both appear in the next token; the new signing key authenticates the client.
    let expected_claims = vec![
        json!({"kid": "gw-enc-1", "use": "enc", "jkt": ec_jkt(&enc.public_jwk)}),
        json!({"kid": first_kid, "use": "sig+enc", "jkt": first_jkt}),
        json!({"kid": "gw-key-2", "use": "sig", "jkt": ec_jkt(&second.public_jwk)}),
    ];
    assert_eq!(token_keys(&app, &gw).await, expected_claims);
    assert_eq!(token_keys(&app, &gw2).await, expected_claims);
    let token = app.token_for(&gw2, &[]).await;
    let all = vec![
        "gw-enc-1".to_owned(),
        first_kid.clone(),
        "gw-key-2".to_owned(),
    ];
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        all
    );
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw"), ("use", "enc")]).await),
        vec!["gw-enc-1".to_owned(), first_kid.clone()],
        "use=enc finds the enc key and the sig+enc key"
    );
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw"), ("use", "sig")]).await),
        vec![first_kid.clone(), "gw-key-2".to_owned()],
        "use=sig finds the sig key and the sig+enc key, not the enc key"
    );
    assert_eq!(
        kids(&found(&app, &token, &[("kid", "gw-enc-1")]).await),
        vec!["gw-enc-1".to_owned()]
    );

    // The administrator revokes the first signing key.
    app.clock.advance(60);
    let before_revocation = app.clock.now();
    app.clock.advance(60);
    let unknown = delete(&app, "/admin/keys/no-such-kid", &admin).await;
    problem(unknown, 404, "revoking an unknown kid").await;
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        all
    );
    let response = delete(&app, &format!("/admin/keys/{first_kid}"), &admin).await;
    assert_eq!(response.status(), 204);
    let after_revocation = app.clock.now();

    // It no longer authenticates the client, nor appears in tokens or searches.
    expect_oauth_error(token_attempt(&app, &gw).await, 401, "invalid_client").await;
    assert_eq!(
        token_keys(&app, &gw2).await,
        vec![expected_claims[0].clone(), expected_claims[2].clone()]
    );
    let token = app.token_for(&gw2, &[]).await;
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        vec!["gw-enc-1".to_owned(), "gw-key-2".to_owned()]
    );
    assert!(found(&app, &token, &[("kid", &first_kid)]).await.is_empty());
    assert_eq!(
        kids(
            &found(
                &app,
                &token,
                &[("identity_type", "cbe"), ("identity_value", CBE)]
            )
            .await
        ),
        vec!["gw-enc-1".to_owned(), "gw-key-2".to_owned()]
    );

    // History: the owner still sees it, revoked, and a search as of before the
    // revocation still finds it.
    let own: Value = app.get("/keys", &token).await.json().await.unwrap();
    let own = own["keys"].as_array().unwrap().clone();
    assert_eq!(kids(&own), all);
    let revoked = key(&own, &first_kid);
    assert_eq!(revoked["status"], "revoked");
    let revoked_at = time(revoked, "revoked_at");
    assert!(revoked_at > before_revocation && revoked_at <= after_revocation);
    assert_eq!(revoked["source"], "admin");
    assert_eq!(key(&own, "gw-key-2")["status"], "active");
    let then = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_revocation))],
    )
    .await;
    assert_eq!(kids(&then), all);
    assert_eq!(key(&then, &first_kid)["status"], "active");
    let now = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(after_revocation))],
    )
    .await;
    assert_eq!(
        kids(&now),
        vec!["gw-enc-1".to_owned(), "gw-key-2".to_owned()]
    );
    // Revoking again changes nothing.
    let again = delete(&app, &format!("/admin/keys/{first_kid}"), &admin).await;
    assert_eq!(again.status(), 204);
    let own_again: Value = app.get("/keys", &token).await.json().await.unwrap();
    assert_eq!(
        time(
            key(own_again["keys"].as_array().unwrap(), &first_kid),
            "revoked_at"
        ),
        revoked_at
    );

    // Another client cannot revoke gw's key; gw revokes its own encryption key.
    let other = app
        .register_system_client("other", &["keys:register"], json!({}))
        .await;
    let other_token = app.token_for(&other, &[]).await;
    let refused = delete(&app, "/keys/gw-enc-1", &other_token).await;
    problem(refused, 404, "revoking another client's key").await;
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw"), ("use", "enc")]).await),
        vec!["gw-enc-1".to_owned()]
    );
    let response = delete(&app, "/keys/gw-enc-1", &token).await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        token_keys(&app, &gw2).await,
        vec![expected_claims[2].clone()]
    );
    assert!(
        found(&app, &token, &[("client_id", "gw"), ("use", "enc")])
            .await
            .is_empty()
    );
    let own: Value = app.get("/keys", &token).await.json().await.unwrap();
    let own = own["keys"].as_array().unwrap().clone();
    assert_eq!(key(&own, "gw-enc-1")["status"], "revoked");
    assert_eq!(key(&own, "gw-key-2")["status"], "active");
    // The remaining signing key still authenticates.
    assert_eq!(token_attempt(&app, &gw2).await.status(), 200);

    // API.md: every JWK of the search carries `alg` and `use` unless it is sig+enc;
    // an administrator's enc key too.
    let then = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_revocation))],
    )
    .await;
    for (kid, key_use, alg) in [
        ("gw-key-2", "sig", "ES256"),
        ("gw-enc-1", "enc", "ECDH-ES+A256KW"),
    ] {
        let view = key(&then, kid);
        assert_eq!(view["use"], key_use, "{view}");
        assert_eq!(
            view["alg"], alg,
            "a key added by an administrator names its alg: {view}"
        );
    }
}

#[tokio::test]
async fn administrators_key_requests_that_fail_change_nothing() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let gw = app
        .register_system_client("gw", &["keys:read"], json!({"organization": CBE}))
        .await;
    app.register_app("portal", false, &["keys:register"], json!({}))
        .await;
    let token = app.token_for(&gw, &[]).await;
    let before = found(&app, &token, &[("client_id", "gw")]).await;
    let claims_before = token_keys(&app, &gw).await;
    let admin = app.admin_token().await;
    let fresh = bare_jwk(&ClientKey::generate("gw-new"));
    let mut private = ClientKey::generate("gw-private");
    let pair = openssl::ec::EcKey::private_key_from_pem(&private.private_pem).unwrap();
    private.public_jwk["d"] = json!(B64.encode(pair.private_key().to_vec()));
    let rsa = Rsa::generate(1024).unwrap();
    let small_rsa = json!({"kty": "RSA", "kid": "gw-rsa",
        "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(rsa.e().to_vec())});
    let base = json!({"client_id": "gw", "use": "sig", "name": "New key", "jwk": fresh});
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (
            "unknown client",
            with(json!({"client_id": "nobody"})),
            "client_id",
        ),
        ("no client", with(json!({"client_id": null})), "client_id"),
        (
            "a public app",
            with(json!({"client_id": "portal"})),
            "client_id",
        ),
        ("bad use", with(json!({"use": "wrap"})), "use"),
        ("empty name", with(json!({"name": "  "})), "name"),
        (
            "control character",
            with(json!({"name": "a\u{7}b"})),
            "name",
        ),
        ("long name", with(json!({"name": "n".repeat(101)})), "name"),
        (
            "identity with a jwk",
            with(json!({"identity": {"type": "cbe", "value": CBE}})),
            "identity",
        ),
        (
            "private jwk",
            with(json!({"jwk": private.public_jwk})),
            "jwk",
        ),
        ("RSA 1024", with(json!({"jwk": small_rsa})), "jwk"),
        ("not a key", with(json!({"jwk": {"kty": "EC"}})), "jwk"),
        ("neither jwk nor x5c", with(json!({"jwk": null})), "jwk"),
    ];
    for (what, body, field) in cases {
        let response = app.post_json("/admin/keys", &admin, &body).await;
        invalid_field(response, field, what).await;
        assert_eq!(
            found(&app, &token, &[("client_id", "gw")]).await,
            before,
            "{what}"
        );
        assert!(
            found(&app, &token, &[("kid", "gw-new")]).await.is_empty(),
            "{what}"
        );
    }
    // Both a jwk and an x5c: 422 naming one of them.
    let both = with(json!({"x5c": ["AAAA"]}));
    let body = problem(
        app.post_json("/admin/keys", &admin, &both).await,
        422,
        "both",
    )
    .await;
    assert!(body["field"] == "jwk" || body["field"] == "x5c", "{body}");

    // The key registered with the client exists: 409.
    let duplicate = with(json!({"jwk": bare_jwk(&gw.key)}));
    problem(
        app.post_json("/admin/keys", &admin, &duplicate).await,
        409,
        "duplicate",
    )
    .await;

    // Not an administrator.
    let anonymous = app
        .http
        .post(app.url("/admin/keys"))
        .json(&base)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    problem(
        app.post_json("/admin/keys", &token, &base).await,
        403,
        "non-admin",
    )
    .await;
    problem(
        delete(&app, &format!("/admin/keys/{}", gw.key.kid), &token).await,
        403,
        "non-admin revocation",
    )
    .await;

    assert_eq!(found(&app, &token, &[("client_id", "gw")]).await, before);
    assert!(found(&app, &token, &[("kid", "gw-new")]).await.is_empty());
    assert_eq!(token_keys(&app, &gw).await, claims_before);
    // The valid request still works after all that.
    assert_eq!(
        app.post_json("/admin/keys", &admin, &base).await.status(),
        201
    );
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        vec![gw.key.kid.clone(), "gw-new".to_owned()]
    );
}

#[tokio::test]
async fn an_administrator_imports_a_certificate_for_an_identity() {
    let dir = tempfile::tempdir().unwrap();
    let ca = root("Test eHealth Root");
    let app = app_trusting(&ca, &dir).await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let token = app.token_for(&reader, &[]).await;
    let admin = app.admin_token().await;

    let person = ssin("790512345");
    let doctor = nihii(123456, "004");
    app.register_person(json!({
        "ssin": person, "name": "Dr Jan Janssens", "password": PASSWORD,
        "profiles": [{"profile": "professional", "quality": "doctor", "nihii": doctor}],
    }))
    .await;

    let now = Utc::now().timestamp();
    let (not_before, not_after) = (now - DAY, now + 30 * DAY);
    let leaf_key = p256();
    let leaf = issue(
        &leaf_key,
        "Dr Jan Janssens",
        Some(&ca),
        not_before,
        not_after,
        false,
    );
    let x5c = vec![b64(&leaf), b64(&ca.cert)];
    let by_nihii = [
        ("identity_type", "nihii"),
        ("identity_value", doctor.as_str()),
    ];
    assert!(found(&app, &token, &by_nihii).await.is_empty());

    let body = json!({"identity": {"type": "nihii", "value": doctor}, "use": "enc",
        "name": "eHealth ETK", "x5c": x5c});
    let response = app.post_json("/admin/keys", &admin, &body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    let thumbprint = x5t(&leaf);
    assert_eq!(created["x5c"], json!(x5c));
    assert_eq!(created["x5t#S256"], thumbprint);
    assert_eq!(created["kid"], thumbprint);
    assert_eq!(created["kty"], "EC");
    assert_eq!(created["crv"], "P-256");
    assert_eq!(created["use"], "enc");
    assert_eq!(created["alg"], "ECDH-ES+A256KW");
    assert_eq!(created["key_use"], "enc");
    assert_eq!(created["source"], "certificate");
    assert_eq!(created["status"], "active");
    assert_eq!(created["name"], "eHealth ETK");
    assert_eq!(
        time(&created, "not_before"),
        DateTime::from_timestamp(not_before, 0).unwrap()
    );
    assert_eq!(
        time(&created, "not_after"),
        DateTime::from_timestamp(not_after, 0).unwrap()
    );
    // The JWK's coordinates are the certificate's key.
    let ec = leaf_key.ec_key().unwrap();
    let mut x = BigNum::new().unwrap();
    let mut y = BigNum::new().unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    assert_eq!(created["x"], B64.encode(x.to_vec_padded(32).unwrap()));
    assert_eq!(created["y"], B64.encode(y.to_vec_padded(32).unwrap()));

    let listed = found(&app, &token, &by_nihii).await;
    assert_eq!(kids(&listed), vec![thumbprint.clone()]);
    let view = &listed[0];
    assert_eq!(view["x5c"], json!(x5c));
    assert_eq!(view["x5t#S256"], thumbprint);
    assert_eq!(view["status"], "active");
    assert_eq!(view["use"], "enc");
    assert_eq!(
        kids(
            &found(
                &app,
                &token,
                &[
                    ("identity_type", "nihii"),
                    ("identity_value", doctor.as_str()),
                    ("use", "enc")
                ]
            )
            .await
        ),
        vec![thumbprint.clone()]
    );
    assert!(
        found(
            &app,
            &token,
            &[
                ("identity_type", "nihii"),
                ("identity_value", doctor.as_str()),
                ("use", "sig")
            ]
        )
        .await
        .is_empty()
    );

    // The same certificate again: 409, nothing changes.
    problem(
        app.post_json("/admin/keys", &admin, &body).await,
        409,
        "the same certificate twice",
    )
    .await;
    assert_eq!(found(&app, &token, &by_nihii).await, listed);

    // Refusals, each naming its field and storing nothing.
    let stranger = root("Untrusted Root");
    let untrusted = issue(
        &p256(),
        "Mallory",
        Some(&stranger),
        not_before,
        not_after,
        false,
    );
    let expired = issue(&p256(), "Old", Some(&ca), now - 60 * DAY, now - DAY, false);
    let rsa = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    let small = issue(&rsa, "Small", Some(&ca), not_before, not_after, false);
    let other_leaf = issue(&p256(), "Other", Some(&ca), not_before, not_after, false);
    let other_kid = x5t(&other_leaf);
    let nihii_identity = json!({"type": "nihii", "value": doctor});
    let bad_ssin = spoiled(&ssin("850730033"));
    let cases = [
        (
            "untrusted CA",
            cert_body(nihii_identity.clone(), vec![b64(&untrusted)]),
            "x5c",
            x5t(&untrusted),
        ),
        (
            "untrusted CA in the chain",
            cert_body(
                nihii_identity.clone(),
                vec![b64(&untrusted), b64(&stranger.cert)],
            ),
            "x5c",
            x5t(&untrusted),
        ),
        (
            "garbage base64",
            cert_body(nihii_identity.clone(), vec!["not base64 at all!".into()]),
            "x5c",
            other_kid.clone(),
        ),
        (
            "base64 of something else",
            cert_body(nihii_identity.clone(), vec![STANDARD.encode(b"hello")]),
            "x5c",
            other_kid.clone(),
        ),
        (
            "empty chain",
            cert_body(nihii_identity.clone(), vec![]),
            "x5c",
            other_kid.clone(),
        ),
        (
            "expired",
            cert_body(nihii_identity.clone(), vec![b64(&expired)]),
            "x5c",
            x5t(&expired),
        ),
        (
            "RSA 1024",
            cert_body(nihii_identity.clone(), vec![b64(&small)]),
            "x5c",
            x5t(&small),
        ),
        (
            "bad SSIN checksum",
            cert_body(
                json!({"type": "ssin", "value": bad_ssin}),
                vec![b64(&other_leaf)],
            ),
            "identity",
            other_kid.clone(),
        ),
        (
            "unknown person",
            cert_body(
                json!({"type": "ssin", "value": ssin("850730033")}),
                vec![b64(&other_leaf)],
            ),
            "identity",
            other_kid.clone(),
        ),
        (
            "unknown identifier type",
            cert_body(
                json!({"type": "email", "value": "a@b.example"}),
                vec![b64(&other_leaf)],
            ),
            "identity",
            other_kid.clone(),
        ),
        (
            "no identity",
            json!({"use": "enc", "name": "ETK", "x5c": [b64(&other_leaf)]}),
            "identity",
            other_kid.clone(),
        ),
        (
            "neither jwk nor x5c",
            json!({"identity": nihii_identity, "use": "enc", "name": "ETK"}),
            "jwk",
            other_kid.clone(),
        ),
    ];
    for (what, body, field, kid) in cases {
        let response = app.post_json("/admin/keys", &admin, &body).await;
        let problem = invalid_field(response, field, what).await;
        if what == "RSA 1024" {
            assert!(
                problem["detail"].as_str().unwrap().contains("2048"),
                "{problem}"
            );
        }
        assert_eq!(found(&app, &token, &by_nihii).await, listed, "{what}");
        assert!(
            found(&app, &token, &[("kid", &kid)]).await.is_empty(),
            "{what}"
        );
    }
    let both = json!({"identity": nihii_identity, "use": "enc", "name": "ETK",
        "x5c": [b64(&other_leaf)], "jwk": bare_jwk(&ClientKey::generate("k"))});
    let body = problem(
        app.post_json("/admin/keys", &admin, &both).await,
        422,
        "both jwk and x5c",
    )
    .await;
    assert!(body["field"] == "jwk" || body["field"] == "x5c", "{body}");
    assert!(found(&app, &token, &[("kid", &other_kid)]).await.is_empty());
    assert!(found(&app, &token, &[("kid", "k")]).await.is_empty());

    // A certificate for a person's SSIN, and for an organization.
    let citizen = app.citizen("850730033", false).await;
    let citizen_cert = issue(
        &p256(),
        "An Peeters",
        Some(&ca),
        not_before,
        not_after,
        false,
    );
    let created = app
        .admin_create(
            "/admin/keys",
            &json!({"identity": {"type": "ssin", "value": citizen}, "use": "sig",
                    "name": "eID", "x5c": [b64(&citizen_cert)]}),
        )
        .await;
    assert_eq!(
        created["identity"],
        json!({"type": "ssin", "value": citizen})
    );
    assert_eq!(created["alg"], "ES256");
    let by_ssin = found(
        &app,
        &token,
        &[
            ("identity_type", "ssin"),
            ("identity_value", citizen.as_str()),
        ],
    )
    .await;
    assert_eq!(kids(&by_ssin), vec![x5t(&citizen_cert)]);
    let org_cert = issue(&p256(), "Hospital", Some(&ca), not_before, not_after, false);
    let created = app
        .admin_create(
            "/admin/keys",
            &json!({"identity": {"type": "cbe", "value": CBE}, "use": "sig+enc",
                    "name": "Hospital certificate", "x5c": [b64(&org_cert)]}),
        )
        .await;
    assert_eq!(created["identity"], json!({"type": "cbe", "value": CBE}));
    assert!(created.get("alg").is_none() && created.get("use").is_none());
    assert_eq!(
        kids(
            &found(
                &app,
                &token,
                &[
                    ("identity_type", "cbe"),
                    ("identity_value", CBE),
                    ("use", "enc")
                ]
            )
            .await
        ),
        vec![x5t(&org_cert)]
    );
    assert_eq!(found(&app, &token, &by_nihii).await, listed);

    // A search as of before the certificate's validity finds nothing.
    let early = DateTime::from_timestamp(not_before - 60, 0).unwrap();
    assert!(
        found(
            &app,
            &token,
            &[
                ("identity_type", "nihii"),
                ("identity_value", doctor.as_str()),
                ("at", &rfc3339(early))
            ]
        )
        .await
        .is_empty()
    );

    // Revoked by the administrator: gone from the search, in history as of before.
    app.clock.advance(60);
    let before_revocation = app.clock.now();
    app.clock.advance(60);
    let response = delete(&app, &format!("/admin/keys/{thumbprint}"), &admin).await;
    assert_eq!(response.status(), 204);
    assert!(found(&app, &token, &by_nihii).await.is_empty());
    let then = found(
        &app,
        &token,
        &[
            ("identity_type", "nihii"),
            ("identity_value", doctor.as_str()),
            ("at", &rfc3339(before_revocation)),
        ],
    )
    .await;
    assert_eq!(kids(&then), vec![thumbprint.clone()]);
    assert!(time(&then[0], "revoked_at") > before_revocation);

    // The identity of a NIHII certificate is the NIHII (API.md: `identity`, the
    // owner's identifier).
    assert_eq!(
        view["identity"],
        json!({"type": "nihii", "value": doctor}),
        "{view}"
    );
}

#[tokio::test]
async fn without_trust_roots_certificate_imports_are_refused() {
    let app = spawn_app().await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let token = app.token_for(&reader, &[]).await;
    let admin = app.admin_token().await;
    let doctor = nihii(123456, "004");
    let ca = root("Some Root");
    let now = Utc::now().timestamp();
    let leaf = issue(&p256(), "Dr", Some(&ca), now - DAY, now + 30 * DAY, false);
    for x5c in [vec![b64(&leaf)], vec![b64(&leaf), b64(&ca.cert)]] {
        let response = app
            .post_json(
                "/admin/keys",
                &admin,
                &json!({"identity": {"type": "nihii", "value": doctor}, "use": "enc",
                        "name": "ETK", "x5c": x5c}),
            )
            .await;
        let problem = invalid_field(response, "x5c", "no trust roots").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("no trust roots"),
            "{problem}"
        );
    }
    assert!(
        found(
            &app,
            &token,
            &[
                ("identity_type", "nihii"),
                ("identity_value", doctor.as_str())
            ]
        )
        .await
        .is_empty()
    );
    assert!(
        found(&app, &token, &[("kid", &x5t(&leaf))])
            .await
            .is_empty()
    );
}

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

#[tokio::test]
async fn deleting_a_system_client_revokes_its_keys() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let gw = app
        .register_system_client("gw", &["keys:register"], json!({"organization": CBE}))
        .await;
    let enc = ClientKey::generate("gw-enc-1");
    app.admin_create(
        "/admin/keys",
        &json!({"client_id": "gw", "use": "enc", "name": "Encryption", "jwk": bare_jwk(&enc)}),
    )
    .await;
    let token = app.token_for(&reader, &[]).await;
    let by_client = [("client_id", "gw")];
    let by_cbe = [("identity_type", "cbe"), ("identity_value", CBE)];
    let all = vec!["gw-enc-1".to_owned(), gw.key.kid.clone()];
    assert_eq!(kids(&found(&app, &token, &by_client).await), all);
    assert_eq!(kids(&found(&app, &token, &by_cbe).await), all);
    assert_eq!(token_attempt(&app, &gw).await.status(), 200);

    app.clock.advance(60);
    let before_deletion = app.clock.now();
    app.clock.advance(60);
    let admin = app.admin_token().await;
    let response = delete(&app, "/admin/clients/gw", &admin).await;
    assert_eq!(response.status(), 204);

    let token = app.token_for(&reader, &[]).await;
    assert!(found(&app, &token, &by_client).await.is_empty());
    assert!(found(&app, &token, &by_cbe).await.is_empty());
    assert!(found(&app, &token, &[("kid", "gw-enc-1")]).await.is_empty());
    let then = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_deletion))],
    )
    .await;
    assert_eq!(kids(&then), all);
    for view in &then {
        assert_eq!(view["status"], "active", "{view}");
        assert!(time(view, "revoked_at") > before_deletion, "{view}");
    }
    let then_by_cbe = found(
        &app,
        &token,
        &[
            ("identity_type", "cbe"),
            ("identity_value", CBE),
            ("at", &rfc3339(before_deletion)),
        ],
    )
    .await;
    assert_eq!(kids(&then_by_cbe), all);
    // The client cannot authenticate any more; deleting it again is 404, and
    // revoking its already revoked key is a no-op.
    expect_oauth_error(token_attempt(&app, &gw).await, 401, "invalid_client").await;
    problem(
        delete(&app, "/admin/clients/gw", &admin).await,
        404,
        "deleting twice",
    )
    .await;
    assert_eq!(
        delete(&app, "/admin/keys/gw-enc-1", &admin).await.status(),
        204
    );
    let again = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_deletion))],
    )
    .await;
    assert_eq!(again, then);
    // The reader's own key is untouched.
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "reader")]).await),
        vec![reader.key.kid.clone()]
    );
}
