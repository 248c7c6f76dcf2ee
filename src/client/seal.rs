//! Sealing: sign the payload with this device's registered `sig` key (a compact JWS
//! whose `kid` is the key's id), then encrypt the JWS once, A256GCM, with one
//! recipient entry per key (JWE general JSON, RFC 7516 §7.2.1): every active `enc`
//! key of every recipient and the sender's own, so the sent box stays readable. For
//! an unknown addressee the content key is wrapped with a symmetric key instead
//! (A256KW, `kid` = the key id), in a compact JWE.

use josekit::jwe::{self, JweEncrypter, JweHeader, JweHeaderSet};
use josekit::jws::{self, JwsHeader};
use serde_json::Value;

use super::{ClientError, Device, DeviceKey, Session};
use crate::people::Identifier;

/// A sealed message as it is posted.
#[derive(Debug, Clone, PartialEq)]
pub enum Sealed {
    Compact(String),
    Json(Value),
}

impl Sealed {
    /// The `sealed` member of `POST /depot/messages`.
    pub fn as_json(&self) -> Value {
        match self {
            Self::Compact(text) => Value::String(text.clone()),
            Self::Json(value) => value.clone(),
        }
    }
}

/// The signed payload: a compact JWS with this device's `sig` key, in the algorithm
/// it was registered with (ES256, EdDSA, RS256 or PS256).
pub fn sign(payload: &[u8], key: &DeviceKey) -> Result<String, ClientError> {
    if !key.signs() {
        return Err(ClientError::Sealing(format!(
            "key {} is registered for {}, not for signing",
            key.kid, key.key_use
        )));
    }
    let crypto = |e: josekit::JoseError| ClientError::Crypto(e.to_string());
    let signer = super::keypair::jws_signer(&key.private_key()?, key.sig_alg()?)?;
    let mut header = JwsHeader::new();
    header.set_key_id(&key.kid);
    jws::serialize_compact(payload, &header, signer.as_ref()).map_err(crypto)
}

/// One encryption of `plaintext` for every key in `keys` (public JWKs with `kid`).
pub fn encrypt_for_keys(plaintext: &[u8], keys: &[Value]) -> Result<Sealed, ClientError> {
    if keys.is_empty() {
        return Err(ClientError::Sealing(
            "no encryption key: nobody could open the message".into(),
        ));
    }
    let mut headers = Vec::with_capacity(keys.len());
    let mut encrypters: Vec<Box<dyn JweEncrypter>> = Vec::with_capacity(keys.len());
    for key in keys {
        let kid = key["kid"]
            .as_str()
            .ok_or_else(|| ClientError::Sealing("an encryption key has no kid".into()))?;
        let mut header = JweHeader::new();
        header.set_key_id(kid);
        headers.push(header);
        encrypters.push(
            crate::keys::jwk::jwe_encrypter(key)
                .map_err(|e| ClientError::Sealing(format!("key {kid}: {e}")))?,
        );
    }
    let mut shared = JweHeaderSet::new();
    shared.set_content_encryption("A256GCM", true);
    let recipients: Vec<(Option<&JweHeader>, &dyn JweEncrypter)> = headers
        .iter()
        .zip(&encrypters)
        .map(|(header, encrypter)| (Some(header), encrypter.as_ref()))
        .collect();
    let text = jwe::serialize_general_json(plaintext, Some(&shared), &recipients, None)
        .map_err(|e| ClientError::Crypto(e.to_string()))?;
    serde_json::from_str(&text)
        .map(Sealed::Json)
        .map_err(|e| ClientError::Crypto(e.to_string()))
}

/// `plaintext` encrypted with a symmetric key (the JWK `POST /symkeys` answered).
pub fn encrypt_for_symkey(plaintext: &[u8], jwk: &Value) -> Result<Sealed, ClientError> {
    let (kid, raw) = symkey_parts(jwk)?;
    let encrypter = jwe::A256KW
        .encrypter_from_bytes(&raw)
        .map_err(|e| ClientError::Crypto(e.to_string()))?;
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_key_id(&kid);
    jwe::serialize_compact(plaintext, &header, &encrypter)
        .map(Sealed::Compact)
        .map_err(|e| ClientError::Crypto(e.to_string()))
}

/// The kid and the 32 bytes of an `oct` A256KW JWK.
pub(super) fn symkey_parts(jwk: &Value) -> Result<(String, Vec<u8>), ClientError> {
    use base64::Engine as _;
    let bad = |what: &str| ClientError::Sealing(format!("the symmetric key {what}"));
    if jwk["kty"] != "oct" {
        return Err(bad("is not an oct JWK"));
    }
    let kid = jwk["kid"].as_str().ok_or_else(|| bad("has no kid"))?;
    let raw = jwk["k"]
        .as_str()
        .and_then(|k| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(k)
                .ok()
        })
        .filter(|k| k.len() == 32)
        .ok_or_else(|| bad("is not 32 bytes of base64url"))?;
    Ok((kid.to_owned(), raw))
}

/// The sender's own active `enc` keys (any client): the sent box stays readable.
pub async fn own_enc_keys(session: &Session) -> Result<Vec<Value>, ClientError> {
    let own = session.get_json("/keys").await?;
    Ok(own["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["status"] == "active" && k["use"] != "sig")
        .cloned()
        .collect())
}

/// Known addressees: signs `payload` with the device's `sig` key and encrypts it for
/// every active `enc` key of every recipient and of the sender.
///
/// A recipient may be absent: [`super::absences::absent_among`] tells, and
/// [`seal_with_substitutes`] adds the keys of the substitutes the sender chooses. Answers the sealed
/// message and the kids it was encrypted to. A token acting for a consumer
/// organization (delegation: `act` with the supplier's `cbe`) sends as that
/// organization, so its keys stand for the sender's ([`seal_for_consumer`]).
pub async fn seal_for_recipients(
    session: &Session,
    device: &Device,
    recipients: &[Identifier],
    payload: &[u8],
) -> Result<(Sealed, Vec<String>), ClientError> {
    seal_with_substitutes(session, device, recipients, &[], payload).await
}

/// [`seal_for_recipients`], encrypted for the active `enc` keys of `substitutes` too:
/// the substitutes of absent recipients that the sender chose
/// ([`super::absences::absent_among`] finds them). The depot then delivers a copy to
/// each substitute it finds a key of; a substitute with no active `enc` key is left
/// out (the depot's answer lists the substitutes the message `reached`).
pub async fn seal_with_substitutes(
    session: &Session,
    device: &Device,
    recipients: &[Identifier],
    substitutes: &[Identifier],
    payload: &[u8],
) -> Result<(Sealed, Vec<String>), ClientError> {
    let own = match acting_for(&session.claims()?) {
        Some(consumer) => session.enc_keys_of(&consumer).await?,
        None => own_enc_keys(session).await?,
    };
    let mut extra = Vec::new();
    for substitute in substitutes {
        extra.extend(session.enc_keys_of(substitute).await?);
    }
    extra.extend(own);
    seal_to(session, device, recipients, extra, payload).await
}

/// The same for a supplier's system sending for the consumer organization
/// `consumer`: the sender's keys are the consumer's `enc` keys (the depot accepts the
/// keys of the identity the token speaks for). `lookup` finds the keys (a token with
/// `keys:read`: the delegated one, or the supplier's own).
pub async fn seal_for_consumer(
    lookup: &Session,
    consumer: &Identifier,
    device: &Device,
    recipients: &[Identifier],
    payload: &[u8],
) -> Result<(Sealed, Vec<String>), ClientError> {
    let own = lookup.enc_keys_of(consumer).await?;
    seal_to(lookup, device, recipients, own, payload).await
}

/// A group by quality within an organization ("the doctors of hospital X"): its
/// members are resolved with one keystore search, and the message is signed and
/// encrypted for each member's active `enc` keys and the sender's. Answers the sealed
/// message, the members to address (each key's `identity`, once) and the kids.
pub async fn seal_for_group(
    session: &Session,
    device: &Device,
    organization: &crate::people::Cbe,
    quality: &str,
    payload: &[u8],
) -> Result<(Sealed, Vec<Identifier>, Vec<String>), ClientError> {
    let keys = session.group_enc_keys(organization, quality).await?;
    let mut members: Vec<Identifier> = Vec::new();
    for key in &keys {
        let member: Identifier = serde_json::from_value(key["identity"].clone())
            .map_err(|e| ClientError::Protocol(format!("a group key's identity: {e}")))?;
        if !members.contains(&member) {
            members.push(member);
        }
    }
    if members.is_empty() {
        return Err(ClientError::Sealing(format!(
            "no {quality} of organization {organization} has an active encryption key"
        )));
    }
    let (sealed, kids) = seal_for_recipients(session, device, &members, payload).await?;
    Ok((sealed, members, kids))
}

/// The organization a delegated token acts for: its identity's CBE when `act` names
/// a supplier organization.
fn acting_for(claims: &Value) -> Option<Identifier> {
    claims["act"]["cbe"].as_str()?;
    let cbe = claims["identity"]["cbe"].as_str()?;
    Identifier::parse("cbe", cbe).ok()
}

/// Signs and encrypts for every recipient's active `enc` keys and for `others` (the
/// sender's own, and any chosen substitutes').
async fn seal_to(
    lookup: &Session,
    device: &Device,
    recipients: &[Identifier],
    others: Vec<Value>,
    payload: &[u8],
) -> Result<(Sealed, Vec<String>), ClientError> {
    let key = device.signing_key().ok_or_else(|| {
        ClientError::Sealing("this device has no signing key: register one".into())
    })?;
    let jws = sign(payload, key)?;
    let mut keys: Vec<Value> = Vec::new();
    for recipient in recipients {
        let found = lookup.enc_keys_of(recipient).await?;
        if found.is_empty() {
            return Err(ClientError::Sealing(format!(
                "{} has no active encryption key: send to an unknown addressee (a symmetric key) instead",
                serde_json::to_string(recipient).unwrap_or_default()
            )));
        }
        keys.extend(found);
    }
    keys.extend(others);
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k["kid"].as_str().unwrap_or_default().to_owned()));
    let kids = keys
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect();
    Ok((encrypt_for_keys(jws.as_bytes(), &keys)?, kids))
}

/// Unknown addressee: creates a symmetric key readable by whom `policy` allows,
/// signs `payload` and encrypts it with that key. Answers the sealed message and the
/// key id.
pub async fn seal_with_symkey(
    session: &Session,
    device: &Device,
    policy: &Value,
    ttl_seconds: u64,
    payload: &[u8],
) -> Result<(Sealed, String), ClientError> {
    let key = device.signing_key().ok_or_else(|| {
        ClientError::Sealing("this device has no signing key: register one".into())
    })?;
    let jws = sign(payload, key)?;
    let created = session.create_symkey(policy, ttl_seconds).await?;
    let key_id = created["keyId"]
        .as_str()
        .ok_or_else(|| ClientError::Protocol("POST /symkeys answered no keyId".into()))?
        .to_owned();
    Ok((encrypt_for_symkey(jws.as_bytes(), &created["jwk"])?, key_id))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_delegated_token_sends_as_the_consumer() {
        let delegated = json!({
            "identity": {"profile": "system", "cbe": "0123456749"},
            "act": {"sub": "supplier-gw", "client_id": "supplier-gw", "cbe": "0987654394"},
        });
        assert_eq!(
            acting_for(&delegated),
            Identifier::parse("cbe", "0123456749").ok()
        );
        // An app acting for a person (token exchange) has no supplier organization.
        let exchanged = json!({
            "identity": {"profile": "citizen", "ssin": "85073003328"},
            "act": {"sub": "gp-app", "client_id": "gp-app"},
        });
        assert_eq!(acting_for(&exchanged), None);
        let own = json!({"identity": {"profile": "system", "cbe": "0123456749"}});
        assert_eq!(acting_for(&own), None);
    }
}
