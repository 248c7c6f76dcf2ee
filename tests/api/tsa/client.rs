//! The depot's TSA client: against the co-hosted TSA with its own client-credentials
//! token, and against TSAs we did not write, played by `openssl ts -reply` behind a
//! small HTTP server. Replies that must be refused are made by openssl and then
//! altered the way an attacker or a broken TSA would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use cms::cert::CertificateChoices;
use cms::signed_data::{CertificateSet, SignedData, SignerIdentifier, SignerInfos};
use depot::tsa::{TsaClient, TsaClientConfig, TsaError};
use der::asn1::{Any, OctetString, SetOfVec, Uint};
use der::{Decode, Encode};
use openssl::x509::X509;
use x509_tsp::TimeStampReq;

use super::pki::{Pki, openssl};
use crate::helpers::{jwt_claims, spawn_app, spawn_app_with};

type Behaviour = Arc<dyn Fn(Vec<u8>) -> HttpResponse + Send + Sync>;

/// An HTTP front for a TSA we did not write; counts the requests it got.
struct Peer {
    url: String,
    calls: Arc<AtomicUsize>,
}

impl Peer {
    async fn start(behaviour: impl Fn(Vec<u8>) -> HttpResponse + Send + Sync + 'static) -> Self {
        let behaviour: Behaviour = Arc::new(behaviour);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/tsr", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let behaviour = behaviour.clone();
            let calls = counted.clone();
            App::new().route(
                "/tsr",
                web::post().to(move |body: web::Bytes| {
                    let behaviour = behaviour.clone();
                    calls.fetch_add(1, Ordering::SeqCst);
                    async move { behaviour(body.to_vec()) }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, calls }
    }

    fn client(&self, anchors: Vec<X509>, retries: u32) -> TsaClient {
        TsaClient::new(TsaClientConfig {
            url: self.url.clone(),
            auth: None,
            anchors,
            timeout: Duration::from_secs(10),
            retries,
        })
        .unwrap()
    }
}

fn reply(bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/timestamp-reply")
        .body(bytes)
}

/// The query with its parts changed by `edit`.
fn edited(query: &[u8], edit: impl Fn(&mut TimeStampReq)) -> Vec<u8> {
    let mut parsed = TimeStampReq::from_der(query).unwrap();
    edit(&mut parsed);
    parsed.to_der().unwrap()
}

const DATA: &[u8] = b"the exact bytes of a sealed message";

#[tokio::test]
async fn the_depot_gets_a_verified_proof_from_its_own_tsa_with_its_own_token() {
    let app = spawn_app().await;
    let proof = app.state.stamper.client.stamp(DATA).await.unwrap();
    let drift = (proof.gen_time - app.clock.now()).num_seconds().abs();
    assert!(drift <= 2, "genTime is {drift} s off");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("data.bin"), DATA).unwrap();
    std::fs::write(dir.join("r.tsr"), &proof.response).unwrap();
    let chain = app.tsa_chain().await;
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    let verified = openssl(
        dir,
        &[
            "ts",
            "-verify",
            "-data",
            "data.bin",
            "-in",
            "r.tsr",
            "-CAfile",
            "chain.pem",
        ],
    );
    assert!(verified.contains("Verification: OK"), "{verified}");
    let text = openssl(dir, &["ts", "-reply", "-in", "r.tsr", "-text"]);
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("Serial number: 0x"))
        .unwrap();
    assert_eq!(
        proof.serial,
        u64::from_str_radix(hex.trim(), 16).unwrap().to_string()
    );

    // The token came from the token endpoint, for the depot's own client, and is
    // reused while it is fresh.
    let resource = format!("{}/tsa", app.issuer);
    let client = &app.state.service_client;
    let token = client.token("tsa", &resource).await.unwrap();
    let claims = jwt_claims(&token.access_token);
    assert_eq!(claims["client_id"], "depot-service");
    assert_eq!(claims["aud"], resource);
    app.state.stamper.client.stamp(DATA).await.unwrap();
    assert_eq!(client.token("tsa", &resource).await.unwrap(), token);

    // It is DPoP-bound to the depot's own client key, the one registered for it (whose
    // kid is its thumbprint): taken from the depot and sent as a bearer token, or
    // without a proof, the TSA refuses it.
    assert!(token.dpop, "{token:?}");
    let registered = depot::authz::store::get_client(&app.state.db, "depot-service")
        .await
        .unwrap()
        .unwrap();
    let kid = &registered.jwks.as_ref().unwrap().keys[0].kid;
    assert_eq!(claims["cnf"]["jkt"], kid.as_str(), "{claims}");
    assert_eq!(client.jkt(), kid);
    let query = std::fs::read(dir.join("r.tsr")).unwrap();
    for authorization in [
        format!("Bearer {}", token.access_token),
        format!("DPoP {}", token.access_token),
    ] {
        let refused = app
            .http
            .post(app.url("/tsa"))
            .header("authorization", &authorization)
            .header("content-type", "application/timestamp-query")
            .body(query.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{authorization:.10}");
    }

    // Revoked behind its back: the TSA answers 401, the client gets a new token once
    // and the timestamp is still obtained.
    let exp = chrono::DateTime::from_timestamp(claims["exp"].as_i64().unwrap(), 0).unwrap();
    depot::authz::store::revoke_token(
        &app.state.db,
        claims["jti"].as_str().unwrap(),
        "depot-service",
        app.clock.now(),
        exp,
    )
    .await
    .unwrap();
    app.state.stamper.client.stamp(DATA).await.unwrap();
    assert_ne!(client.token("tsa", &resource).await.unwrap(), token);

    // Near its expiry the cached token is replaced before anyone refuses it.
    let current = client.token("tsa", &resource).await.unwrap();
    app.clock.advance(280);
    assert_ne!(client.token("tsa", &resource).await.unwrap(), current);
    app.state.stamper.client.stamp(DATA).await.unwrap();
}

/// With `DEPOT_DPOP_NONCE=required`, the depot's client gives the token endpoint and
/// its TSA the nonce each asks for, and still gets its timestamps.
#[tokio::test]
async fn the_depot_gives_its_tsa_the_dpop_nonce_it_requires() {
    let app = spawn_app_with(|s| {
        s.authz.dpop_nonce = depot::config::DpopNonce::Required;
        s.authz.access_token_ttl_seconds = 3600;
    })
    .await;
    let client = &app.state.service_client;
    let resource = format!("{}/tsa", app.issuer);
    app.state.stamper.client.stamp(DATA).await.unwrap();
    let token = client.token("tsa", &resource).await.unwrap();
    assert!(token.dpop, "{token:?}");

    // Ten minutes on, the nonce it holds is stale but its token is not: the TSA asks
    // for its current nonce and gets it with the same token, which is not renewed.
    app.clock.advance(700);
    app.state.stamper.client.stamp(DATA).await.unwrap();
    assert_eq!(client.token("tsa", &resource).await.unwrap(), token);
    // The depot's own proofs of reception go the same way.
    app.state.stamper.stamp(DATA).await.unwrap();
}

#[tokio::test]
async fn replies_of_openssl_ts_are_accepted() {
    let pki = Arc::new(Pki::new());
    for section in ["honest", "ess_v1"] {
        let p = pki.clone();
        let section = section.to_owned();
        let peer = Peer::start(move |query| reply(p.reply(&section, &query))).await;
        let proof = peer
            .client(vec![pki.cert("ca")], 0)
            .stamp(DATA)
            .await
            .unwrap();
        assert_eq!(peer.calls.load(Ordering::SeqCst), 1);
        assert!(!proof.serial.is_empty());
        // What we keep verifies with openssl too.
        std::fs::write(pki.dir.join("data.bin"), DATA).unwrap();
        std::fs::write(pki.dir.join("kept.tsr"), &proof.response).unwrap();
        let verified = openssl(
            &pki.dir,
            &[
                "ts", "-verify", "-data", "data.bin", "-in", "kept.tsr", "-CAfile", "ca.crt",
            ],
        );
        assert!(verified.contains("Verification: OK"), "{verified}");
    }
}

async fn refused(
    pki: &Arc<Pki>,
    behaviour: impl Fn(&Pki, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> TsaError {
    let p = pki.clone();
    let peer = Peer::start(move |query| reply(behaviour(&p, query))).await;
    let error = peer
        .client(vec![pki.cert("ca")], 2)
        .stamp(DATA)
        .await
        .unwrap_err();
    // A reply that does not verify is final: no retry.
    assert_eq!(peer.calls.load(Ordering::SeqCst), 1, "{error}");
    error
}

#[tokio::test]
async fn replies_that_do_not_prove_what_was_asked_are_refused() {
    let pki = Arc::new(Pki::new());

    let error = refused(&pki, |pki, query| {
        pki.reply(
            "honest",
            &edited(&query, |q| {
                let mut digest = q.message_imprint.hashed_message.as_bytes().to_vec();
                digest[0] ^= 1;
                q.message_imprint.hashed_message = OctetString::new(digest).unwrap();
            }),
        )
    })
    .await;
    assert!(
        matches!(&error, TsaError::Invalid(m) if m.contains("imprint")),
        "{error}"
    );

    let error = refused(&pki, |pki, query| {
        pki.reply(
            "honest",
            &edited(&query, |q| {
                q.nonce = Some(der::asn1::Int::from(Uint::new(&[7, 7, 7]).unwrap()));
            }),
        )
    })
    .await;
    assert!(
        matches!(&error, TsaError::Invalid(m) if m.contains("nonce")),
        "{error}"
    );

    let error = refused(&pki, |pki, query| {
        pki.reply("honest", &edited(&query, |q| q.nonce = None))
    })
    .await;
    assert!(
        matches!(&error, TsaError::Invalid(m) if m.contains("nonce")),
        "{error}"
    );

    let error = refused(&pki, |pki, query| {
        pki.resign(&pki.reply("honest", &query), "other.key", None)
    })
    .await;
    assert!(
        matches!(&error, TsaError::Invalid(m) if m.contains("signature does not verify")),
        "{error}"
    );

    let error = refused(&pki, |pki, query| {
        pki.resign(&pki.reply("honest", &query), "tsa.key", Some("noeku"))
    })
    .await;
    assert!(
        matches!(&error, TsaError::Invalid(m) if m.contains("extended key usage")),
        "{error}"
    );

    // Certificate substitution: another valid TSA certificate of the same CA, and a
    // signature by its key, while the signed ESS attribute still names the first.
    let error = refused(&pki, |pki, query| {
        let honest = pki.reply("honest", &query);
        let mut response = x509_tsp::TimeStampResp::from_der(&honest).unwrap();
        let mut token = response.time_stamp_token.take().unwrap();
        let mut signed = SignedData::from_der(&token.content.to_der().unwrap()).unwrap();
        let other = x509_cert::Certificate::from_der(&pki.cert("other").to_der().unwrap()).unwrap();
        let mut signer = signed.signer_infos.0.get(0).unwrap().clone();
        signer.sid =
            SignerIdentifier::IssuerAndSerialNumber(depot::tsa::asn1::issuer_and_serial(&other));
        signed.signer_infos = SignerInfos(SetOfVec::try_from(vec![signer]).unwrap());
        signed.certificates = Some(CertificateSet(
            SetOfVec::try_from(vec![CertificateChoices::Certificate(other)]).unwrap(),
        ));
        token.content = Any::encode_from(&signed).unwrap();
        response.time_stamp_token = Some(token);
        pki.resign(&response.to_der().unwrap(), "other.key", None)
    })
    .await;
    assert!(
        matches!(&error, TsaError::Invalid(m) if m.contains("signing-certificate attribute")),
        "{error}"
    );

    let error = refused(&pki, |pki, query| pki.reply("sha512_only", &query)).await;
    assert!(
        matches!(&error, TsaError::Rejected(m) if m.contains("Rejection") && m.contains("badAlg")),
        "{error}"
    );

    // Garbage instead of a TimeStampResp.
    let error = refused(&pki, |_, _| b"<html>proxy error</html>".to_vec()).await;
    assert!(matches!(&error, TsaError::Invalid(_)), "{error}");

    // A sound reply from a TSA chained to a root we do not trust.
    let p = pki.clone();
    let peer = Peer::start(move |query| reply(p.reply("honest", &query))).await;
    let error = peer
        .client(vec![pki.cert("foreign")], 0)
        .stamp(DATA)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TsaError::Invalid(m) if m.contains("does not chain")),
        "{error}"
    );
}

#[tokio::test]
async fn an_unavailable_tsa_is_retried_a_bounded_number_of_times() {
    let pki = Arc::new(Pki::new());
    // Two failures, then an answer: the third attempt gets it.
    let p = pki.clone();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let peer = Peer::start(move |query| {
        if count.fetch_add(1, Ordering::SeqCst) < 2 {
            HttpResponse::ServiceUnavailable().finish()
        } else {
            reply(p.reply("honest", &query))
        }
    })
    .await;
    peer.client(vec![pki.cert("ca")], 2)
        .stamp(DATA)
        .await
        .unwrap();
    assert_eq!(peer.calls.load(Ordering::SeqCst), 3);

    // Always failing: retries + 1 attempts, then Unavailable.
    let peer = Peer::start(|_| HttpResponse::BadGateway().finish()).await;
    let error = peer
        .client(vec![pki.cert("ca")], 2)
        .stamp(DATA)
        .await
        .unwrap_err();
    assert_eq!(peer.calls.load(Ordering::SeqCst), 3);
    assert!(
        matches!(&error, TsaError::Unavailable(m) if m.contains("3 attempts")),
        "{error}"
    );

    // Nobody listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = TsaClient::new(TsaClientConfig {
        url: format!("http://127.0.0.1:{port}/tsa"),
        auth: None,
        anchors: vec![pki.cert("ca")],
        timeout: Duration::from_secs(2),
        retries: 1,
    })
    .unwrap();
    let error = client.stamp(DATA).await.unwrap_err();
    assert!(
        matches!(&error, TsaError::Unavailable(m) if m.contains("2 attempts")),
        "{error}"
    );

    // Too slow: the timeout ends the attempt.
    let peer = Peer::start(|_| {
        std::thread::sleep(Duration::from_millis(1500));
        HttpResponse::Ok().finish()
    })
    .await;
    let slow = TsaClient::new(TsaClientConfig {
        url: peer.url.clone(),
        auth: None,
        anchors: vec![pki.cert("ca")],
        timeout: Duration::from_millis(300),
        retries: 0,
    })
    .unwrap();
    let error = slow.stamp(DATA).await.unwrap_err();
    assert!(matches!(&error, TsaError::Unavailable(_)), "{error}");
}
