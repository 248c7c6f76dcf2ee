//! The W3C WebAuthn Level 2 registration ceremony (§7.1), done by webauthn-rs-core:
//! creation options with a random challenge, then the verification of the response
//! (type, challenge, origin, rpIdHash, flags, attestation signature, algorithm).
//! What the crate leaves to the relying party is decided here: which attestation is
//! trusted (packed self-attestation always; packed with x5c when the chain reaches a
//! configured root; `none` only for clients that allow it), and that the response's
//! `type` and `id` agree with what the authenticator signed.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::attestation::verify_attestation_ca_chain;
use webauthn_rs_core::proto::{
    AttestationCaList, AttestationConveyancePreference, COSEAlgorithm, COSEKey,
    ParsedAttestationData, RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

use crate::config::Config;

const RP_NAME: &str = "eHealth depot";

/// The algorithms offered in `pubKeyCredParams`, in order of preference: those
/// webauthn-rs-core can verify a packed attestation with (see the README).
pub const ALGORITHMS: [COSEAlgorithm; 2] = [COSEAlgorithm::ES256, COSEAlgorithm::RS256];

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
    pub key: COSEKey,
    /// `packed/self`, `packed/x5c` or `none`.
    pub attestation: &'static str,
}

pub struct Ceremony {
    core: WebauthnCore,
    roots: Option<AttestationCaList>,
}

impl Ceremony {
    /// The relying party of the configuration: RP ID and origins default to the
    /// public URL's host and the public URL.
    pub fn from_config(config: &Config) -> Result<Self, CeremonyError> {
        let settings = &config.settings;
        let issuer = url::Url::parse(&config.issuer)
            .map_err(|e| CeremonyError::Config(format!("the public URL: {e}")))?;
        let rp_id = match &settings.webauthn_rp_id {
            Some(id) => id.clone(),
            None => issuer
                .host_str()
                .ok_or_else(|| CeremonyError::Config("the public URL has no host".into()))?
                .to_owned(),
        };
        let origins = match &settings.webauthn_origins {
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
        let roots = match &settings.webauthn_trust_roots {
            Some(path) => Some(load_roots(path)?),
            None => None,
        };
        let timeout = Duration::from_secs(u64::from(settings.key_registration_timeout_seconds));
        Ok(Self {
            core: WebauthnCore::new_unsafe_experts_only(
                RP_NAME,
                &rp_id,
                origins,
                timeout,
                Some(false),
                Some(false),
            ),
            roots,
        })
    }

    /// PublicKeyCredentialCreationOptions (JSON) and the state to keep until the
    /// response comes back.
    pub fn start(
        &self,
        user: &UserEntity<'_>,
        exclude: Vec<Vec<u8>>,
    ) -> Result<(Value, Value), CeremonyError> {
        let internal = |e: &dyn std::fmt::Display| CeremonyError::Internal(e.to_string());
        let builder = self
            .core
            .new_challenge_register_builder(user.handle, user.name, user.display_name)
            .map_err(|e| internal(&e))?
            .attestation(AttestationConveyancePreference::Direct)
            .user_verification_policy(UserVerificationPolicy::Preferred)
            .credential_algorithms(ALGORITHMS.to_vec())
            .exclude_credentials(Some(exclude));
        let (options, state) = self
            .core
            .generate_challenge_register(builder)
            .map_err(|e| internal(&e))?;
        let options = serde_json::to_value(options.public_key).map_err(|e| internal(&e))?;
        let state = serde_json::to_value(state).map_err(|e| internal(&e))?;
        Ok((options, state))
    }

    /// Verifies a RegistrationResponseJSON against the kept state.
    pub fn finish(
        &self,
        credential: &Value,
        state: &Value,
        allow_none: bool,
    ) -> Result<Attested, CeremonyError> {
        let refused = |what: String| CeremonyError::Refused(what);
        let reg: RegisterPublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|e| refused(format!("credential is not a RegistrationResponseJSON: {e}")))?;
        let state: RegistrationState = serde_json::from_value(state.clone())
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
        let credential = self
            .core
            .register_credential(&reg, &state, None)
            .map_err(|e| refused(describe(&e)))?;
        if credential.cred_id != reg.raw_id {
            return Err(refused(
                "rawId is not the credential id in the authenticator data".into(),
            ));
        }
        let attestation = match &credential.attestation.data {
            ParsedAttestationData::Self_ => "packed/self",
            ParsedAttestationData::None if allow_none => "none",
            ParsedAttestationData::None => {
                return Err(refused(
                    "attestation \"none\" is not accepted for this client".into(),
                ));
            }
            data @ (ParsedAttestationData::Basic(_)
            | ParsedAttestationData::AttCa(_)
            | ParsedAttestationData::AnonCa(_)) => {
                let roots = self.roots.as_ref().ok_or_else(|| {
                    refused(
                        "attestation certificates are not accepted: no trust roots are configured"
                            .into(),
                    )
                })?;
                match verify_attestation_ca_chain(data, roots, SystemTime::now()) {
                    Ok(Some(_)) => "packed/x5c",
                    Ok(None) | Err(_) => {
                        return Err(refused(
                            "the attestation certificate does not chain to a trusted root".into(),
                        ));
                    }
                }
            }
            other => {
                return Err(refused(format!(
                    "attestation type {other:?} is not accepted"
                )));
            }
        };
        Ok(Attested {
            credential_id: credential.cred_id.clone(),
            key: credential.cred.clone(),
            attestation,
        })
    }
}

/// Every certificate of a PEM file, as blanket-trusted attestation roots.
fn load_roots(path: &std::path::Path) -> Result<AttestationCaList, CeremonyError> {
    let fail = |what: String| {
        CeremonyError::Config(format!(
            "DEPOT_WEBAUTHN_TRUST_ROOTS {}: {what}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = openssl::x509::X509::stack_from_pem(&pem).map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no certificate in the file".into()));
    }
    let mut list = AttestationCaList::default();
    for cert in certs {
        let one = cert.to_pem().map_err(|e| fail(e.to_string()))?;
        let ca = AttestationCaList::try_from(one.as_slice()).map_err(|e| fail(e.to_string()))?;
        list.union(&ca);
    }
    Ok(list)
}

/// The crate's errors, in words a client developer can act on.
fn describe(e: &webauthn_rs_core::error::WebauthnError) -> String {
    use webauthn_rs_core::error::WebauthnError as W;
    match e {
        W::InvalidClientDataType => "clientDataJSON.type is not webauthn.create".into(),
        W::MismatchedChallenge => {
            "clientDataJSON.challenge is not this registration's challenge".into()
        }
        W::InvalidRPOrigin => "clientDataJSON.origin is not an allowed origin".into(),
        W::CredentialCrossOrigin => "cross-origin registrations are not accepted".into(),
        W::InvalidRPIDHash => {
            "the authenticator data's rpIdHash is not the hash of this relying party's id".into()
        }
        W::UserNotPresent => "the authenticator data does not have the user-present flag".into(),
        W::CredentialAlteredAlgFromRequest => {
            "the credential's algorithm was not offered, or the credential is excluded".into()
        }
        W::AttestationNotSupported => "the attestation format is not supported".into(),
        W::AttestationStatementSigInvalid => "the attestation signature does not verify".into(),
        other => format!("the credential does not verify: {other}"),
    }
}
