//! Seed figure 8: Alice writes to Carol, who has no registered key, under a symmetric
//! key whose policy only lets Carol read it.

use serde_json::json;

use super::setup::person_login;
use super::{APPLICATION, Person, Steps};
use crate::client::ClientError;
use crate::client::open::{Trust, open};
use crate::client::seal::seal_with_symkey;
use crate::people::Identifier;

/// Seed figure 8: a message to an unknown addressee, under a symmetric key whose
/// policy says who may read it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn unknown_addressee(
    steps: &mut Steps,
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    trust: &Trust,
    alice: &Person,
    (carol_ssin, carol_nihii): (&str, &str),
    bob_ssin: &str,
) -> Result<(), ClientError> {
    println!("\n== Figure 8: unknown addressee (symmetric key with an access policy)");
    steps.step(
        "8.1",
        "Carol has no registered key: Alice finds none to encrypt to",
    );
    let carol_id =
        Identifier::parse("ssin", carol_ssin).map_err(|e| ClientError::Sealing(e.to_string()))?;
    let keys = alice.session.enc_keys_of(&carol_id).await?;
    steps.check(keys.is_empty(), "the keystore has no enc key for Carol");

    steps.step(
        "8.2",
        "Alice asks symkeys for a key only Carol may read, signs and encrypts with it, posts",
    );
    let policy = json!({"allow": [{"type": "nihii", "value": carol_nihii}]});
    let letter = "Dear colleague, a patient of yours was seen today. Dr. Alice";
    let (sealed, key_id) = seal_with_symkey(
        &alice.session,
        &alice.device,
        &policy,
        3600,
        letter.as_bytes(),
    )
    .await?;
    let answer = alice
        .session
        .send(APPLICATION, std::slice::from_ref(&carol_id), &sealed)
        .await?;
    let id = answer["id"].as_str().unwrap_or_default().to_owned();
    steps.check(
        !id.is_empty(),
        format!("201: message {id}, compact JWE, A256KW with key {key_id} (kid in clear)"),
    );

    steps.step(
        "8.3",
        "Carol logs in, fetches the message and the key with her own token, opens it",
    );
    let carol = person_login(
        http,
        issuer,
        app,
        "Carol",
        carol_ssin,
        Some(&format!("professional:{carol_nihii}")),
    )
    .await?;
    let fetched = carol.session.fetch(&id).await?;
    let verdict = open(&carol.session, &carol.device, &fetched, trust).await;
    println!("{verdict}");
    steps.check(
        verdict.valid() && verdict.payload.as_deref() == Some(letter.as_bytes()),
        "symkeys let her read the key (the policy allows her NIHII); timestamp, key reference, key at genTime and signature verified",
    );

    steps.step(
        "8.4",
        "Bob, whom the policy does not allow, cannot have the key",
    );
    let bob = person_login(http, issuer, app, "Bob", bob_ssin, None).await?;
    let refused = bob.session.symkey(&key_id).await;
    steps.check(
        refused.as_ref().err().and_then(ClientError::status) == Some(403),
        "symkeys refuses him (403), and the refusal is audited",
    );
    Ok(())
}
