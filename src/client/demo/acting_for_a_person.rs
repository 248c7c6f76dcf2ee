//! Seed figures 9 and 10: Alice's app acts for her towards other services (token
//! exchange, RFC 8693). Her login asks for `exchange` too; the app trades her access
//! token, with an actor token signed by her registered device key, for a SAML 2.0
//! holder-of-key assertion that a SOAP service checks against `GET /saml/metadata`
//! (signature, NameID, and the holder's key, which must be her device key), and for
//! an access token in which the app is the actor (`act`), held by the same key.

use super::setup::{Login, person_login_asking};
use super::{Person, SCOPES, Scene, Steps};
use crate::client::ClientError;
use crate::client::login::{ActorKey, ClientAuth, Exchange, Exchanged};
use crate::client::saml;
use crate::keys::KeyUse;

pub(super) async fn acting_for_a_person(
    steps: &mut Steps,
    scene: &Scene<'_>,
    alice: Person,
    (alice_ssin, alice_nihii): (&str, &str),
) -> Result<(), ClientError> {
    println!(
        "\n== Figures 9 and 10: the app acts for Alice (token exchange, RFC 8693): a SAML holder-of-key assertion for SOAP services, and an access token with act"
    );
    steps.step(
        "9.1",
        "Alice logs in again; the app asks that it may also act for her (scope exchange)",
    );
    let profile = format!("professional:{alice_nihii}");
    let scope = format!("{SCOPES} exchange");
    let who = Login {
        name: "Alice",
        ssin: alice_ssin,
        profile: Some(&profile),
        scope: &scope,
    };
    let alice =
        person_login_asking(scene.http, scene.issuer, scene.app, &who, alice.device).await?;
    let claims = alice.session.claims()?;
    let scopes = claims["scope"].as_str().unwrap_or_default();
    steps.check(
        scopes.split(' ').any(|s| s == "exchange"),
        format!("she consented: her token's scope is {scopes:?}"),
    );
    let token_endpoint = format!("{}/oauth2/token", scene.issuer);
    steps.check(
        claims["aud"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a == token_endpoint.as_str()))
            && claims["permissions"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "token:exchange")),
        "the token is for the token endpoint too, with the permission token:exchange",
    );
    let device_key = alice.device.signing_key().cloned().ok_or_else(|| {
        ClientError::Device("Alice's device has no registered signing key".into())
    })?;
    let actor = ActorKey::device(scene.app, &device_key)?;

    steps.step(
        "9.2",
        "her app exchanges her token for a SAML assertion, with an actor token signed by her registered device key",
    );
    let exchanged = alice
        .session
        .exchange(ClientAuth::public(scene.app), &Exchange::saml2(&actor))
        .await?;
    let Exchanged::Saml2 { assertion, answer } = exchanged else {
        return Err(ClientError::Protocol("not an assertion".into()));
    };
    steps.check(
        answer.issued_token_type.as_deref() == Some(crate::client::login::token_exchange::SAML2_TOKEN_TYPE)
            && answer.token_type == "N_A",
        format!(
            "issued_token_type saml2, token_type N_A, {} bytes of XML, valid {} s (actor token kid {})",
            assertion.len(),
            answer.expires_in,
            actor.kid()
        ),
    );

    steps.step(
        "9.3",
        "a SOAP service checks it: signature by the certificate of /saml/metadata, NameID, holder-of-key",
    );
    let metadata = saml::metadata(scene.http, scene.issuer).await?;
    steps.check(
        metadata.entity_id == scene.issuer,
        format!(
            "the metadata's entityID is the issuer, {}",
            metadata.entity_id
        ),
    );
    let verified = saml::verify(&assertion, &metadata.certificate);
    steps.check(
        verified.is_ok(),
        "the enveloped XML signature verifies with the published certificate (libxmlsec1)",
    );
    let verified = verified?;
    steps.check(
        verified.issuer == scene.issuer && verified.name_id == alice_ssin,
        format!(
            "Issuer {}, NameID {} = Alice's SSIN",
            verified.issuer, verified.name_id
        ),
    );
    let soap = format!("{}/soap", scene.issuer);
    steps.check(
        verified.audiences == [soap.as_str()],
        format!("for the audience {soap}"),
    );
    let registered = alice
        .session
        .key_at(&device_key.kid, chrono::Utc::now())
        .await?
        .unwrap_or_default();
    let holder = crate::keys::jwk::from_openssl(&verified.holder, &device_key.kid, KeyUse::Sig)
        .map_err(ClientError::Crypto)?
        .jwk;
    let same_point = ["kty", "crv", "x", "y", "n", "e"]
        .iter()
        .all(|m| holder.get(*m) == registered.get(*m));
    let device_private = device_key.private_key()?;
    steps.check(
        registered.is_object() && same_point && verified.held_by(&device_private),
        format!(
            "the holder-of-key is her device key: its EC point is that of key {} in the keystore",
            device_key.kid
        ),
    );
    let forged = assertion.replacen(alice_ssin, &super::setup::ssin(), 1);
    steps.check(
        forged != assertion && saml::verify(&forged, &metadata.certificate).is_err(),
        "a copy naming someone else does not verify",
    );

    steps.step(
        "10.1",
        "her app exchanges her token for an access token in which it acts for her",
    );
    let exchanged = alice
        .session
        .exchange(
            ClientAuth::public(scene.app),
            &Exchange::access_token(Some(&actor)),
        )
        .await?;
    let Exchanged::AccessToken(tokens) = exchanged else {
        return Err(ClientError::Protocol("not an access token".into()));
    };
    let holder_key = device_key.dpop_key()?;
    let acting = alice.session.exchanged(&tokens, Some(&holder_key));
    let claims = acting.claims()?;
    steps.check(
        claims["act"]["client_id"] == scene.app && claims["act"]["sub"] == scene.app,
        format!("act = {}: the app acts", claims["act"]),
    );
    steps.check(
        claims["sub"] == alice.session.claims()?["sub"]
            && claims["identity"]["nihii"] == alice_nihii,
        "for Alice: her sub and identity",
    );
    steps.check(
        tokens.is_dpop() && claims["cnf"]["jkt"] == holder_key.jkt(),
        format!(
            "held by her device key: cnf.jkt {} is its thumbprint",
            claims["cnf"]["jkt"]
        ),
    );
    let scopes = claims["scope"].as_str().unwrap_or_default();
    steps.check(
        !scopes.split(' ').any(|s| s == "exchange"),
        "without exchange (a chain goes on only when asked)",
    );
    let listing = acting.list("inbox", None).await;
    steps.check(
        listing.is_ok(),
        "the depot takes it, with DPoP proofs by her device key",
    );
    Ok(())
}
