//! Interoperability with an independent JOSE implementation, Python's jwcrypto: a
//! message it signs and seals (general JSON, one entry per key) is accepted by the
//! depot and opened by our client; one our client seals is opened and verified by it.

use depot::client::open::open;
use depot::client::seal::{Sealed, seal_for_recipients};
use serde_json::json;

use super::World;
use crate::symkeys::{jwcrypto, jwcrypto_available};

/// Signs (ES256, kid) and encrypts for every given public JWK (ECDH-ES+A256KW,
/// A256GCM), JWE general JSON.
const SEAL: &str = r#"
import json, sys
from jwcrypto import jwe, jwk, jws
given = json.load(sys.stdin)
signer = jwk.JWK.from_pem(given["pem"].encode())
token = jws.JWS(given["payload"].encode())
token.add_signature(signer, alg="ES256", protected=json.dumps({"alg": "ES256", "kid": given["kid"]}))
signed = token.serialize(compact=True)
sealed = jwe.JWE(signed.encode(), protected=json.dumps({"enc": "A256GCM"}))
for key in given["keys"]:
    public = jwk.JWK(**{k: key[k] for k in ("kty", "crv", "x", "y")})
    sealed.add_recipient(public, header=json.dumps({"alg": "ECDH-ES+A256KW", "kid": key["kid"]}))
sys.stdout.write(sealed.serialize())
"#;

/// Decrypts a general-JSON JWE with a private key, then verifies the JWS inside with
/// the signer's public JWK; prints the payload.
const OPEN: &str = r#"
import json, sys
from jwcrypto import jwe, jwk, jws
given = json.load(sys.stdin)
private = jwk.JWK.from_pem(given["pem"].encode())
sealed = jwe.JWE()
sealed.deserialize(json.dumps(given["sealed"]), key=private)
signer = jwk.JWK(**{k: given["signer"][k] for k in ("kty", "crv", "x", "y")})
token = jws.JWS()
token.deserialize(sealed.payload.decode())
token.verify(signer)
assert token.jose_header["kid"] == given["signer"]["kid"], token.jose_header
sys.stdout.write(token.payload.decode())
"#;

#[tokio::test]
async fn what_jwcrypto_seals_we_open_and_what_we_seal_jwcrypto_opens() {
    if !jwcrypto_available() {
        return;
    }
    let world = World::new().await;
    let mut alice = world.person(true).await;
    alice.register(&world, "sig").await;
    let mut bob = world.person(false).await;
    bob.register(&world, "enc").await;
    let bob_tablet = {
        let mut tablet = bob.new_device(&world).await;
        tablet.register(&world, "enc").await;
        tablet
    };
    let to = [bob.identifier()];

    // jwcrypto seals with Alice's signing key, for both of Bob's devices.
    let signing = alice.device.signing_key().unwrap();
    let keys = alice.session.enc_keys_of(&bob.identifier()).await.unwrap();
    assert_eq!(keys.len(), 2);
    let sealed = jwcrypto(
        SEAL,
        &json!({"pem": signing.private_pem, "kid": signing.kid, "keys": keys,
                "payload": "sealed by jwcrypto"}),
    );
    let sealed = Sealed::Json(serde_json::from_str(&sealed).unwrap());
    let answer = alice.session.send("ehbox", &to, &sealed).await.unwrap();
    let id = answer["id"].as_str().unwrap();
    for device in [&bob, &bob_tablet] {
        let fetched = device.session.fetch(id).await.unwrap();
        let verdict = open(&device.session, &device.device, &fetched, &world.trust).await;
        assert!(verdict.valid(), "{verdict}");
        assert_eq!(verdict.payload.as_deref(), Some(&b"sealed by jwcrypto"[..]));
    }

    // Ours seals; jwcrypto opens it with Bob's tablet key and verifies Alice's signature.
    let (sealed, _) = seal_for_recipients(&alice.session, &alice.device, &to, b"sealed by us")
        .await
        .unwrap();
    let Sealed::Json(sealed) = sealed else {
        panic!("a message to registered keys is general JSON");
    };
    let signer = bob
        .session
        .jwks(&[("kid", signing.kid.as_str())])
        .await
        .unwrap()
        .remove(0);
    let tablet_key = &bob_tablet.device.keys[0];
    let opened = jwcrypto(
        OPEN,
        &json!({"pem": tablet_key.private_pem, "sealed": sealed, "signer": signer}),
    );
    assert_eq!(opened, "sealed by us");
}
