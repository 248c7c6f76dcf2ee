//! Organizations acting for organizations (the Norwegian case): a consumer
//! organization (the legal party) delegates the depot to a supplier organization that
//! runs the software. The administrator records the delegation; the supplier's system
//! client asks client credentials with `consumer=` and sends for the consumer, the
//! message's sender being the consumer with the supplier as `act`; once the
//! administrator ends the delegation the supplier's token is refused.

use serde_json::json;

use super::setup::{SystemClient, cbe, person_login};
use super::{APPLICATION, Scene, Steps};
use crate::client::login;
use crate::client::open::open;
use crate::client::seal::seal_for_consumer;
use crate::client::{Alg, ClientError};
use crate::people::{Cbe, Identifier};

/// What the supplier's system is registered for: its own keys, and the depot.
const SUPPLIER_SCOPES: &[&str] = &["depot:send", "depot:read", "keys:register", "keys:read"];
/// What the consumer delegates.
const DELEGATED: &str = "depot:send depot:read";

pub(super) async fn delegation(
    steps: &mut Steps,
    scene: &Scene<'_>,
    bob_ssin: &str,
) -> Result<(), ClientError> {
    let (http, issuer) = (scene.http, scene.issuer);
    println!(
        "\n== Figure 11: a supplier organization acts for a consumer organization (delegation, the Norwegian case)"
    );
    steps.step(
        "11.1",
        "two organizations, a consumer and its software supplier, and the supplier's system client",
    );
    let (consumer, supplier) = (cbe(), cbe());
    for (number, name) in [
        (&consumer, "Demo consumer hospital"),
        (&supplier, "Demo software supplier"),
    ] {
        scene
            .admin
            .post_json(
                "/admin/organizations",
                &json!({"cbe": number, "name": name}),
            )
            .await?;
    }
    let mut system =
        SystemClient::register(scene.admin, issuer, "supplier", &supplier, SUPPLIER_SCOPES).await?;
    steps.check(
        true,
        format!(
            "consumer {consumer}, supplier {supplier}, system client {} of the supplier",
            system.client_id
        ),
    );

    steps.step(
        "11.2",
        "the supplier's system logs in for itself (private_key_jwt) and registers its signing key",
    );
    let own_scope = SUPPLIER_SCOPES.join(" ");
    let tokens = login::client_credentials_with(http, issuer, &system.auth()?, &own_scope).await?;
    let own = system.session(http, issuer, &tokens)?;
    let claims = own.claims()?;
    steps.check(
        claims["identity"] == json!({"profile": "system", "cbe": supplier})
            && claims.get("act").is_none(),
        format!("it speaks for its own organization: {}", claims["identity"]),
    );
    let key = own
        .register_device_key(&mut system.device, "sig", "supplier system", Alg::Es256)
        .await?;
    steps.check(true, format!("sig key {} registered", key.kid));
    let consumer_cbe = Cbe::parse(&consumer).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let refused =
        login::client_credentials_for(http, issuer, &system.auth()?, DELEGATED, &consumer_cbe)
            .await;
    steps.check(
        refused.as_ref().err().and_then(|e| e.oauth_error()) == Some("unauthorized_client"),
        "without a delegation it cannot act for the consumer (unauthorized_client)",
    );

    steps.step(
        "11.3",
        "the administrator records the consumer's delegation to the supplier for depot:send depot:read",
    );
    let recorded = scene
        .admin
        .post_json(
            "/admin/delegations",
            &json!({"consumer": {"type": "cbe", "value": consumer},
                    "supplier": {"type": "cbe", "value": supplier},
                    "scopes": DELEGATED.split(' ').collect::<Vec<_>>(),
                    "source": "demo: the consumer's signed agreement"}),
        )
        .await?;
    let id = recorded["id"].as_str().unwrap_or_default().to_owned();
    steps.check(!id.is_empty(), format!("201: delegation {id}"));

    steps.step(
        "11.4",
        "the supplier's system asks for a token for the consumer (client_credentials, consumer=)",
    );
    let tokens =
        login::client_credentials_for(http, issuer, &system.auth()?, DELEGATED, &consumer_cbe)
            .await?;
    let delegated = system.session(http, issuer, &tokens)?;
    let claims = delegated.claims()?;
    steps.check(
        claims["identity"] == json!({"profile": "system", "cbe": consumer}),
        format!("it speaks for the consumer: {}", claims["identity"]),
    );
    steps.check(
        claims["act"]["cbe"] == supplier.as_str()
            && claims["act"]["client_id"] == system.client_id.as_str(),
        format!("with the supplier as actor: act = {}", claims["act"]),
    );

    steps.step(
        "11.5",
        "Bob registers an enc key on a new device; the supplier's system sends him a message for the consumer",
    );
    let mut bob = person_login(http, issuer, scene.app, "Bob", bob_ssin, None).await?;
    bob.session
        .register_device_key(&mut bob.device, "enc", "Bob's laptop", Alg::Es256)
        .await?;
    let bob_id =
        Identifier::parse("ssin", bob_ssin).map_err(|e| ClientError::Sealing(e.to_string()))?;
    let consumer_id = Identifier::Cbe(consumer_cbe.clone());
    let letter = "Dear Bob, your appointment at the hospital is confirmed. The consumer hospital";
    // Keys are looked up with its own token: the delegation covers the depot only.
    let (sealed, kids) = seal_for_consumer(
        &own,
        &consumer_id,
        &system.device,
        std::slice::from_ref(&bob_id),
        letter.as_bytes(),
    )
    .await?;
    let answer = delegated.send(APPLICATION, &[bob_id], &sealed).await?;
    let message = answer["id"].as_str().unwrap_or_default().to_owned();
    steps.check(
        !message.is_empty() && answer["sender"]["identity"]["cbe"] == consumer.as_str(),
        format!(
            "201: message {message}, encrypted for {} key(s), sent as the consumer",
            kids.len()
        ),
    );
    steps.check(
        answer["sender"]["act"]["cbe"] == supplier.as_str(),
        format!(
            "the stored sender claims carry act = {}",
            answer["sender"]["act"]
        ),
    );

    steps.step(
        "11.6",
        "Bob finds it from the consumer, acted for by the supplier, and opens it",
    );
    let listing = bob.session.list("inbox", None).await?;
    let listed = listing["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == message.as_str()))
        .map(|m| m["sender"].clone())
        .unwrap_or_default();
    steps.check(
        listed["identity"]["cbe"] == consumer.as_str(),
        format!("his inbox lists it from {}", listed["identity"]),
    );
    let fetched = bob.session.fetch(&message).await?;
    steps.check(
        fetched.sender["act"]["cbe"] == supplier.as_str()
            && fetched.sender["act"]["client_id"] == system.client_id.as_str(),
        format!(
            "the sender object says who acted: {}",
            fetched.sender["act"]
        ),
    );
    let verdict = open(&bob.session, &bob.device, &fetched, scene.trust).await;
    println!("{verdict}");
    steps.check(
        verdict.valid() && verdict.payload.as_deref() == Some(letter.as_bytes()),
        "decrypted; signed by the supplier system's key, referenced in the sender's claims",
    );

    steps.step(
        "11.7",
        "the administrator ends the delegation: the supplier's token for the consumer is refused",
    );
    scene
        .admin
        .call("DELETE", &format!("/admin/delegations/{id}"), None)
        .await?;
    let after = delegated.list("inbox", None).await;
    steps.check(
        after.as_ref().err().and_then(ClientError::status) == Some(401),
        "the depot refuses the delegated token (401)",
    );
    let again =
        login::client_credentials_for(http, issuer, &system.auth()?, DELEGATED, &consumer_cbe)
            .await;
    steps.check(
        again.as_ref().err().and_then(|e| e.oauth_error()) == Some("unauthorized_client"),
        "and issues no new one (unauthorized_client)",
    );
    steps.check(
        own.list("inbox", None).await.is_ok(),
        "the supplier's own token is untouched",
    );
    Ok(())
}
