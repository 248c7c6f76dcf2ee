//! The W3C WebAuthn Level 2 registration ceremony (§7.1). webauthn-rs-core builds the
//! creation options and parses what comes back (the client data, the authenticator
//! data, the COSE key's CBOR); the checks of §7.1 are made here, in the order of the
//! specification, the same way for every algorithm offered (ES256, EdDSA, RS256,
//! PS256), with the signatures verified by OpenSSL: webauthn-rs-core 0.6 refuses
//! EdDSA and PS256 keys and RSA moduli other than 2048 bits.
//!
//! What the relying party decides: which attestation is trusted (`packed`
//! self-attestation always; `packed` with `x5c` when the chain reaches a configured
//! root; `none` only for clients that allow it; no other format), and that the
//! response's `type` and `id` agree with what the authenticator signed.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::sha::sha256;
use serde::{Deserialize, Serialize};
use serde_cbor_2::Value as Cbor;
use serde_json::Value;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::internals::AuthenticatorData;
use webauthn_rs_core::proto::origin::origins_match;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, COSEAlgorithm, CollectedClientData,
    RegisterPublicKeyCredential, Registration, UserVerificationPolicy,
};

use super::alg::Alg;
use super::certificate::CertificateRoots;
use super::cose::CredentialKey;
use super::packed::{self, Packed};
use crate::config::Config;

const RP_NAME: &str = "eHealth depot";

#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error("WebAuthn configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Refused(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// Who the credential is for, as the authenticator shows it.
pub struct UserEntity<'a> {
    /// Opaque and stable per owner (never the SSIN: WebAuthn §14.6.1).
    pub handle: &'a [u8],
    pub name: &'a str,
    pub display_name: &'a str,
}

/// A verified credential.
#[derive(Debug)]
pub struct Attested {
    pub credential_id: Vec<u8>,
    pub key: CredentialKey,
    /// `packed/self`, `packed/x5c` or `none`.
    pub attestation: &'static str,
}

/// What is kept from the options until the response comes back.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    /// base64url.
    challenge: String,
    /// COSE identifiers of `pubKeyCredParams`.
    algorithms: Vec<i64>,
    /// base64url ids of `excludeCredentials`.
    exclude: Vec<String>,
}

pub struct Ceremony {
    core: WebauthnCore,
    rp_id_hash: [u8; 32],
    origins: Vec<url::Url>,
    roots: CertificateRoots,
}

impl Ceremony {
    /// The relying party of the configuration: RP ID and origins default to the
    /// public URL's host and the public URL.
    pub fn from_config(config: &Config) -> Result<Self, CeremonyError> {
        let settings = &config.settings;
        let issuer = url::Url::parse(&config.issuer)
            .map_err(|e| CeremonyError::Config(format!("the public URL: {e}")))?;
        let rp_id = match &settings.keys.webauthn_rp_id {
            Some(id) => id.clone(),
            None => issuer
                .host_str()
                .ok_or_else(|| CeremonyError::Config("the public URL has no host".into()))?
                .to_owned(),
        };
        let origins = match &settings.keys.webauthn_origins {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| {
                    url::Url::parse(o).map_err(|e| {
                        CeremonyError::Config(format!("DEPOT_WEBAUTHN_ORIGINS {o:?}: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![issuer],
        };
        if origins.is_empty() {
            return Err(CeremonyError::Config(
                "DEPOT_WEBAUTHN_ORIGINS names no origin".into(),
            ));
        }
        let roots = CertificateRoots::load_named(
            settings.keys.webauthn_trust_roots.as_deref(),
            "DEPOT_WEBAUTHN_TRUST_ROOTS",
        )
        .map_err(CeremonyError::Config)?;
        let timeout =
            Duration::from_secs(u64::from(settings.keys.key_registration_timeout_seconds));
        Ok(Self {
            core: WebauthnCore::new_unsafe_experts_only(
                RP_NAME,
                &rp_id,
                origins.clone(),
                timeout,
                Some(false),
                Some(false),
            ),
            rp_id_hash: sha256(rp_id.as_bytes()),
            origins,
            roots,
        })
    }

    /// PublicKeyCredentialCreationOptions (JSON) and the state to keep until the
    /// response comes back. `pubKeyCredParams` offers every algorithm, in the order
    /// of API.md.
    pub fn start(
        &self,
        user: &UserEntity<'_>,
        exclude: Vec<Vec<u8>>,
    ) -> Result<(Value, Value), CeremonyError> {
        let internal = |e: &dyn std::fmt::Display| CeremonyError::Internal(e.to_string());
        let pending_exclude = exclude.iter().map(|id| B64.encode(id)).collect();
        let builder = self
            .core
            .new_challenge_register_builder(user.handle, user.name, user.display_name)
            .map_err(|e| internal(&e))?
            .attestation(AttestationConveyancePreference::Direct)
            .user_verification_policy(UserVerificationPolicy::Preferred)
            .credential_algorithms(Alg::ALL.into_iter().map(cose_algorithm).collect())
            .exclude_credentials(Some(exclude));
        let (options, _) = self
            .core
            .generate_challenge_register(builder)
            .map_err(|e| internal(&e))?;
        let pending = Pending {
            challenge: B64.encode(&options.public_key.challenge),
            algorithms: options
                .public_key
                .pub_key_cred_params
                .iter()
                .map(|p| p.alg)
                .collect(),
            exclude: pending_exclude,
        };
        let options = serde_json::to_value(options.public_key).map_err(|e| internal(&e))?;
        let state = serde_json::to_value(pending).map_err(|e| internal(&e))?;
        Ok((options, state))
    }

    /// Verifies a RegistrationResponseJSON against the kept state: §7.1 steps 5–22.
    pub fn finish(
        &self,
        credential: &Value,
        state: &Value,
        allow_none: bool,
    ) -> Result<Attested, CeremonyError> {
        let refused = |what: String| CeremonyError::Refused(what);
        let reg: RegisterPublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|e| refused(format!("credential is not a RegistrationResponseJSON: {e}")))?;
        let pending: Pending = serde_json::from_value(state.clone())
            .map_err(|e| CeremonyError::Internal(format!("stored ceremony state: {e}")))?;
        if reg.type_ != "public-key" {
            return Err(refused(format!(
                "credential type is {:?}, not \"public-key\"",
                reg.type_
            )));
        }
        if reg.id != B64.encode(&reg.raw_id) {
            return Err(refused("credential id and rawId differ".into()));
        }

        // Steps 5–10: the client data.
        let client_data_json = &reg.response.client_data_json;
        let client_data: CollectedClientData = serde_json::from_slice(client_data_json)
            .map_err(|e| refused(format!("clientDataJSON is not CollectedClientData: {e}")))?;
        if client_data.type_ != "webauthn.create" {
            return Err(refused("clientDataJSON.type is not webauthn.create".into()));
        }
        if B64.encode(&client_data.challenge) != pending.challenge {
            return Err(refused(
                "clientDataJSON.challenge is not this registration's challenge".into(),
            ));
        }
        if !self
            .origins
            .iter()
            .any(|allowed| origins_match(false, false, &client_data.origin, allowed))
        {
            return Err(refused(
                "clientDataJSON.origin is not an allowed origin".into(),
            ));
        }
        if client_data.cross_origin == Some(true) {
            return Err(refused(
                "cross-origin registrations are not accepted".into(),
            ));
        }
        // Step 11.
        let client_data_hash = sha256(client_data_json);

        // Step 12: fmt, authData and attStmt.
        let (fmt, auth_data_bytes, att_stmt) =
            attestation_object(&reg.response.attestation_object).map_err(refused)?;
        let auth_data = AuthenticatorData::<Registration>::try_from(auth_data_bytes.as_slice())
            .map_err(|_| refused("the authenticator data does not parse".into()))?;
        // Steps 13–15. (User verification is preferred, not required.)
        if auth_data_bytes.get(..32) != Some(self.rp_id_hash.as_slice()) {
            return Err(refused(
                "the authenticator data's rpIdHash is not the hash of this relying party's id"
                    .into(),
            ));
        }
        if !auth_data.user_present {
            return Err(refused(
                "the authenticator data does not have the user-present flag".into(),
            ));
        }
        if auth_data.backup_state && !auth_data.backup_eligible {
            return Err(refused(
                "the authenticator data says backed up but not backup eligible".into(),
            ));
        }
        let acd = auth_data
            .acd
            .as_ref()
            .ok_or_else(|| refused("the authenticator data has no attested credential".into()))?;
        if acd.credential_id != reg.raw_id {
            return Err(refused(
                "rawId is not the credential id in the authenticator data".into(),
            ));
        }
        // Step 16: the key's alg is one of pubKeyCredParams (and the key fits it).
        let offered: Vec<Alg> = pending
            .algorithms
            .iter()
            .filter_map(|id| Alg::from_cose((*id).into()))
            .collect();
        let key = CredentialKey::from_cose(&acd.credential_pk, &offered).map_err(refused)?;

        // Steps 18–21: the attestation statement and whether it is trusted.
        let attestation = match fmt.as_str() {
            "packed" => {
                match packed::verify(
                    &att_stmt,
                    &auth_data_bytes,
                    &client_data_hash,
                    &key,
                    &acd.aaguid,
                )
                .map_err(refused)?
                {
                    Packed::SelfAttestation => "packed/self",
                    Packed::Certified(chain) => {
                        self.trusted(&chain)?;
                        "packed/x5c"
                    }
                }
            }
            "none" if !allow_none => {
                return Err(refused(
                    "attestation \"none\" is not accepted for this client".into(),
                ));
            }
            "none" if att_stmt == Cbor::Map(Default::default()) => "none",
            "none" => {
                return Err(refused(
                    "a \"none\" attestation statement must be empty".into(),
                ));
            }
            other => {
                return Err(refused(format!(
                    "attestation format {other:?} is not accepted (packed, or none where the client allows it)"
                )));
            }
        };

        // Step 22 (this pair's active keys; the store refuses any other duplicate).
        if pending.exclude.contains(&B64.encode(&acd.credential_id)) {
            return Err(refused(
                "the credential is excluded: this application has it registered already".into(),
            ));
        }
        Ok(Attested {
            credential_id: acd.credential_id.clone(),
            key,
            attestation,
        })
    }

    /// §7.1 steps 20–21: the attestation certificate chains to a configured root.
    fn trusted(&self, chain: &[openssl::x509::X509]) -> Result<(), CeremonyError> {
        if !self.roots.is_configured() {
            return Err(CeremonyError::Refused(
                "attestation certificates are not accepted: no trust roots are configured".into(),
            ));
        }
        let (leaf, rest) = chain
            .split_first()
            .ok_or_else(|| CeremonyError::Refused("x5c is empty".into()))?;
        self.roots.verify_chain(leaf, rest).map_err(|reason| {
            CeremonyError::Refused(format!(
                "the attestation certificate does not chain to a trusted root: {reason}"
            ))
        })
    }
}

fn cose_algorithm(alg: Alg) -> COSEAlgorithm {
    match alg {
        Alg::Es256 => COSEAlgorithm::ES256,
        Alg::EdDsa => COSEAlgorithm::EDDSA,
        Alg::Rs256 => COSEAlgorithm::RS256,
        Alg::Ps256 => COSEAlgorithm::PS256,
    }
}

/// The attestation object (§6.5.4): `{fmt: text, attStmt: map, authData: bytes}`.
fn attestation_object(bytes: &[u8]) -> Result<(String, Vec<u8>, Cbor), String> {
    let value: Cbor = serde_cbor_2::from_slice(bytes)
        .map_err(|e| format!("the attestation object is not CBOR: {e}"))?;
    let Cbor::Map(mut map) = value else {
        return Err("the attestation object is not a CBOR map".into());
    };
    let mut take = |name: &str| map.remove(&Cbor::Text(name.to_owned()));
    match (take("fmt"), take("authData"), take("attStmt")) {
        (Some(Cbor::Text(fmt)), Some(Cbor::Bytes(auth_data)), Some(att_stmt @ Cbor::Map(_))) => {
            Ok((fmt, auth_data, att_stmt))
        }
        _ => Err("the attestation object lacks fmt, authData or attStmt".into()),
    }
}
