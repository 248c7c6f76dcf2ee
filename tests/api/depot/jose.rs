//! Sealing and opening as senders and recipients do, with josekit: JWEs in general
//! JSON (RFC 7516 §7.2.1) and compact serialization to registered EC and RSA `enc` keys
//! (ECDH-ES+A256KW, RSA-OAEP-256) and to symmetric keys (A256KW), A256GCM content.

use josekit::jwe::{self, JweDecrypter, JweEncrypter, JweHeader, JweHeaderSet};
use openssl::pkey::{Id, PKey};
use serde_json::Value;

use crate::helpers::*;
use crate::keys::authenticator::{self, Options};
use crate::symkeys::register_key;

/// A registered encryption key as its holder keeps it: the kid and the private key.
#[derive(Clone)]
pub(crate) struct EncKey {
    pub kid: String,
    /// PKCS#8 PEM.
    pub private_pem: Vec<u8>,
    pub rsa: bool,
}

impl EncKey {
    fn of_credential(kid: String, made: &authenticator::Made) -> Self {
        Self {
            kid,
            private_pem: made.key.private_key_to_pem_pkcs8().unwrap(),
            rsa: made.key.id() == Id::RSA,
        }
    }

    pub fn of_client_key(key: &ClientKey) -> Self {
        Self {
            kid: key.kid.clone(),
            private_pem: key.private_pem.clone(),
            rsa: false,
        }
    }

    fn public_pem(&self) -> Vec<u8> {
        PKey::private_key_from_pem(&self.private_pem)
            .unwrap()
            .public_key_to_pem()
            .unwrap()
    }

    pub fn encrypter(&self) -> Box<dyn JweEncrypter> {
        let public = self.public_pem();
        if self.rsa {
            Box::new(jwe::RSA_OAEP_256.encrypter_from_pem(public).unwrap())
        } else {
            Box::new(jwe::ECDH_ES_A256KW.encrypter_from_pem(public).unwrap())
        }
    }

    pub fn decrypter(&self) -> Box<dyn JweDecrypter> {
        if self.rsa {
            Box::new(
                jwe::RSA_OAEP_256
                    .decrypter_from_pem(&self.private_pem)
                    .unwrap(),
            )
        } else {
            Box::new(
                jwe::ECDH_ES_A256KW
                    .decrypter_from_pem(&self.private_pem)
                    .unwrap(),
            )
        }
    }
}

/// Registers an `enc` key through the WebAuthn ceremony (openssl authenticator).
pub(crate) async fn enc_key(app: &TestApp, token: &str, options: &Options) -> EncKey {
    let (kid, made) = register_key(app, token, "enc", options).await;
    EncKey::of_credential(kid, &made)
}

/// A JWE in general JSON serialization (RFC 7516 §7.2.1), A256GCM, one recipient entry
/// per key, each naming its key with `kid` (or not, when the kid is `None`).
pub(crate) fn seal_json(plaintext: &[u8], entries: &[(Option<&str>, &EncKey)]) -> String {
    let mut shared = JweHeaderSet::new();
    shared.set_content_encryption("A256GCM", true);
    let headers: Vec<JweHeader> = entries
        .iter()
        .map(|(kid, _)| {
            let mut header = JweHeader::new();
            if let Some(kid) = kid {
                header.set_key_id(*kid);
            }
            header
        })
        .collect();
    let encrypters: Vec<Box<dyn JweEncrypter>> =
        entries.iter().map(|(_, key)| key.encrypter()).collect();
    let recipients: Vec<(Option<&JweHeader>, &dyn JweEncrypter)> = headers
        .iter()
        .zip(&encrypters)
        .map(|(header, encrypter)| (Some(header), encrypter.as_ref()))
        .collect();
    jwe::serialize_general_json(plaintext, Some(&shared), &recipients, None).unwrap()
}

/// A JWE in flattened JSON serialization (RFC 7516 §7.2.2) to `key`, with `aad`.
pub(crate) fn seal_flattened(plaintext: &[u8], key: &EncKey, aad: &[u8]) -> String {
    let mut shared = JweHeaderSet::new();
    shared.set_content_encryption("A256GCM", true);
    let mut header = JweHeader::new();
    header.set_key_id(&key.kid);
    let encrypter = key.encrypter();
    jwe::serialize_flattened_json(
        plaintext,
        Some(&shared),
        Some(&header),
        Some(aad),
        encrypter.as_ref(),
    )
    .unwrap()
}

/// [`seal_json`] with every key named by its kid.
pub(crate) fn seal_general(plaintext: &[u8], keys: &[&EncKey]) -> String {
    let entries: Vec<(Option<&str>, &EncKey)> =
        keys.iter().map(|k| (Some(k.kid.as_str()), *k)).collect();
    seal_json(plaintext, &entries)
}

/// A compact JWE to `key`, A256GCM, with `kid` and extra header parameters.
pub(crate) fn seal_compact_with(
    plaintext: &[u8],
    key: &EncKey,
    kid: Option<&str>,
    extra: &[(&str, Value)],
) -> String {
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    if let Some(kid) = kid {
        header.set_key_id(kid);
    }
    for (name, value) in extra {
        header.set_claim(name, Some(value.clone())).unwrap();
    }
    jwe::serialize_compact(plaintext, &header, key.encrypter().as_ref()).unwrap()
}

/// A compact JWE to `key`, named by its kid.
pub(crate) fn seal_compact(plaintext: &[u8], key: &EncKey) -> String {
    seal_compact_with(plaintext, key, Some(&key.kid), &[])
}

/// Opens a JSON-serialized JWE with the entry that names `key`.
pub(crate) fn open_json(sealed: &str, key: &EncKey) -> Vec<u8> {
    let decrypter = key.decrypter();
    let (plaintext, header) = jwe::deserialize_json_with_selector(sealed, |header| {
        Ok((header.key_id() == Some(key.kid.as_str())).then_some(decrypter.as_ref()))
    })
    .unwrap_or_else(|e| panic!("the entry for {} does not open: {e}", key.kid));
    assert_eq!(header.key_id(), Some(key.kid.as_str()));
    plaintext
}

pub(crate) fn open_compact(sealed: &str, key: &EncKey) -> Vec<u8> {
    let (plaintext, header) = jwe::deserialize_compact(sealed, key.decrypter().as_ref()).unwrap();
    assert_eq!(header.key_id(), Some(key.kid.as_str()));
    plaintext
}

/// A compact JWE whose content key is wrapped (A256KW) with a symmetric key.
pub(crate) fn seal_to_symkey(plaintext: &[u8], key_id: &str, raw: &[u8]) -> String {
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_key_id(key_id);
    let encrypter = jwe::A256KW.encrypter_from_bytes(raw).unwrap();
    jwe::serialize_compact(plaintext, &header, &encrypter).unwrap()
}
