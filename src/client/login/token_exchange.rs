//! Token exchange (RFC 8693), from the client's side: an app holding a person's access
//! token with scope `exchange` trades it at the token endpoint for a token in which
//! the app acts for the person (`act`, §4.1), or for a SAML 2.0 holder-of-key
//! assertion for SOAP services (API.md "Token exchange").
//!
//! The request (§2.1): `grant_type` token-exchange, the `subject_token` and its type,
//! an `actor_token` ([`ActorKey`]: what is issued is held by its key; required for an
//! assertion), the `requested_token_type`, and optionally `scope`, `resource`,
//! `audience`. The client authenticates as for its other grants, and a DPoP-bound
//! subject token goes with a proof by its key ([`ClientAuth::with_dpop`]). The answer
//! (§2.2.1) names the `issued_token_type`; an assertion comes base64url-encoded in
//! `access_token` (RFC 8693 §3) and is handed back as its XML.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::actor_token::{ActorKey, JWT_TOKEN_TYPE};
use super::token_endpoint::{self, Tokens};
use super::{ClientAuth, LoginError};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const SAML2_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:saml2";

/// What is asked for (`requested_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Requested {
    /// An access token in which the client acts for the subject.
    #[default]
    AccessToken,
    /// A SAML 2.0 holder-of-key assertion (needs an actor token).
    Saml2,
}

impl Requested {
    pub fn token_type(self) -> &'static str {
        match self {
            Self::AccessToken => ACCESS_TOKEN_TYPE,
            Self::Saml2 => SAML2_TOKEN_TYPE,
        }
    }
}

/// What an exchange asks for, and with which actor token.
#[derive(Debug, Default)]
pub struct Exchange<'a> {
    pub actor: Option<&'a ActorKey>,
    pub requested: Requested,
    pub scope: Option<&'a str>,
    /// RFC 8707 `resource` values (each repeated as a parameter).
    pub resources: Vec<&'a str>,
    /// The assertion's audience (default `{issuer}/soap`), or a resource of a token.
    pub audience: Option<&'a str>,
}

/// What the exchange issued.
#[derive(Debug)]
pub enum Exchanged {
    /// A new access token (`token_type` `DPoP` when bound to the actor key or the
    /// proof's).
    AccessToken(Tokens),
    /// A SAML assertion: its XML, and the token endpoint's answer it came in.
    Saml2 { assertion: String, answer: Tokens },
}

impl<'a> Exchange<'a> {
    /// An access token, acted by the holder of `actor`.
    pub fn access_token(actor: Option<&'a ActorKey>) -> Self {
        Self {
            actor,
            ..Self::default()
        }
    }

    /// A holder-of-key assertion for the holder of `actor`.
    pub fn saml2(actor: &'a ActorKey) -> Self {
        Self {
            actor: Some(actor),
            requested: Requested::Saml2,
            ..Self::default()
        }
    }

    /// The form parameters of the grant for `subject_token`, with a fresh actor token
    /// issued `now`.
    fn form(
        &self,
        subject_token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Vec<(String, String)>, LoginError> {
        let mut form = vec![
            ("grant_type", GRANT_TYPE.to_owned()),
            ("subject_token", subject_token.to_owned()),
            ("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()),
            (
                "requested_token_type",
                self.requested.token_type().to_owned(),
            ),
        ];
        if let Some(actor) = self.actor {
            form.push(("actor_token", actor.token(issuer, now)?));
            form.push(("actor_token_type", JWT_TOKEN_TYPE.to_owned()));
        }
        if let Some(scope) = self.scope {
            form.push(("scope", scope.to_owned()));
        }
        for resource in &self.resources {
            form.push(("resource", (*resource).to_owned()));
        }
        if let Some(audience) = self.audience {
            form.push(("audience", audience.to_owned()));
        }
        Ok(form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

/// Exchanges `subject_token` at the token endpoint of `issuer` as `client`; what was
/// issued, or the server's refusal. A new actor token is made for every attempt (its
/// `jti` is single-use).
pub async fn exchange(
    http: &reqwest::Client,
    issuer: &str,
    client: &ClientAuth,
    subject_token: &str,
    request: &Exchange<'_>,
) -> Result<Exchanged, LoginError> {
    if request.requested == Requested::Saml2 && request.actor.is_none() {
        return Err(LoginError::ClientKey(
            "a holder-of-key assertion needs an actor token: its key is the holder's".into(),
        ));
    }
    let grant = || request.form(subject_token, issuer, chrono::Utc::now().timestamp());
    let answer = token_endpoint::request_fresh(http, issuer, &grant, client).await?;
    issued(request.requested, answer)
}

/// The answer read as what was asked for: an assertion is decoded from base64url.
fn issued(requested: Requested, answer: Tokens) -> Result<Exchanged, LoginError> {
    let unexpected = |detail: String| LoginError::UnexpectedResponse {
        url: "/oauth2/token".into(),
        status: 200,
        detail,
    };
    let issued_type = answer.issued_token_type.as_deref();
    if issued_type.is_some_and(|t| t != requested.token_type()) {
        return Err(unexpected(format!(
            "asked for {}, issued {issued_type:?}",
            requested.token_type()
        )));
    }
    match requested {
        Requested::AccessToken => Ok(Exchanged::AccessToken(answer)),
        Requested::Saml2 => {
            let bytes = B64
                .decode(answer.access_token.trim_end_matches('='))
                .map_err(|e| unexpected(format!("the assertion is not base64url: {e}")))?;
            let assertion = String::from_utf8(bytes)
                .map_err(|e| unexpected(format!("the assertion is not UTF-8: {e}")))?;
            Ok(Exchanged::Saml2 { assertion, answer })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Alg, keypair};

    fn param<'f>(form: &'f [(String, String)], name: &str) -> Vec<&'f str> {
        form.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn the_request_carries_rfc_8693_parameters() {
        let (_, pem) = keypair::generate(Alg::Es256).unwrap();
        let actor = ActorKey::from_pem("gp-app", "kid-1", pem.as_bytes()).unwrap();
        let request = Exchange {
            scope: Some("depot:read"),
            resources: vec!["https://depot.example/depot"],
            audience: Some("https://soap.example/ws"),
            ..Exchange::saml2(&actor)
        };
        let form = request
            .form("subject.jwt", "https://depot.example", 1_800_000_000)
            .unwrap();
        assert_eq!(param(&form, "grant_type"), [GRANT_TYPE]);
        assert_eq!(param(&form, "subject_token"), ["subject.jwt"]);
        assert_eq!(param(&form, "subject_token_type"), [ACCESS_TOKEN_TYPE]);
        assert_eq!(param(&form, "requested_token_type"), [SAML2_TOKEN_TYPE]);
        assert_eq!(param(&form, "actor_token_type"), [JWT_TOKEN_TYPE]);
        assert_eq!(param(&form, "actor_token")[0].split('.').count(), 3);
        assert_eq!(param(&form, "scope"), ["depot:read"]);
        assert_eq!(param(&form, "resource"), ["https://depot.example/depot"]);
        assert_eq!(param(&form, "audience"), ["https://soap.example/ws"]);
        let again = request
            .form("subject.jwt", "https://depot.example", 1_800_000_000)
            .unwrap();
        assert_ne!(
            param(&again, "actor_token"),
            param(&form, "actor_token"),
            "a fresh actor token for every attempt"
        );

        let bare = Exchange::access_token(None)
            .form("subject.jwt", "https://depot.example", 0)
            .unwrap();
        assert_eq!(param(&bare, "requested_token_type"), [ACCESS_TOKEN_TYPE]);
        for absent in [
            "actor_token",
            "actor_token_type",
            "scope",
            "resource",
            "audience",
        ] {
            assert!(param(&bare, absent).is_empty(), "{absent}");
        }
    }

    fn answer(access_token: &str, issued: &str) -> Tokens {
        serde_json::from_value(serde_json::json!({
            "access_token": access_token, "issued_token_type": issued,
            "token_type": "N_A", "expires_in": 3600,
        }))
        .unwrap()
    }

    #[test]
    fn an_assertion_is_decoded_from_base64url() {
        let xml =
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_1\"/>";
        let Exchanged::Saml2 { assertion, .. } =
            issued(Requested::Saml2, answer(&B64.encode(xml), SAML2_TOKEN_TYPE)).unwrap()
        else {
            panic!("an assertion")
        };
        assert_eq!(assertion, xml);
        assert!(issued(Requested::Saml2, answer("not base64!", SAML2_TOKEN_TYPE)).is_err());
        assert!(
            issued(Requested::Saml2, answer("eyJ4IjoxfQ", ACCESS_TOKEN_TYPE)).is_err(),
            "what was issued must be what was asked"
        );
    }

    #[tokio::test]
    async fn an_assertion_is_not_asked_without_an_actor_token() {
        let request = Exchange {
            requested: Requested::Saml2,
            ..Exchange::access_token(None)
        };
        let refused = exchange(
            &reqwest::Client::new(),
            "http://127.0.0.1:9",
            &ClientAuth::public("gp-app"),
            "subject.jwt",
            &request,
        )
        .await
        .unwrap_err();
        assert!(refused.to_string().contains("actor token"), "{refused}");
    }
}
