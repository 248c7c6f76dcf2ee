//! RFC 6749 §4.4: the client credentials grant, for system clients acting for
//! themselves, or, with `consumer=<cbe>`, for an organization that delegated to
//! theirs (API.md "Organizations acting for organizations"). The client is already
//! authenticated (private_key_jwt).

use serde_json::{Map, Value, json};

use crate::authz::client::{Client, ClientType};
use crate::authz::context::AuthzContext;
use crate::authz::delegation::{self, Delegation};
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::form::OAuthForm;
use crate::authz::pdp::Subject;
use crate::authz::scope::{Resource, ScopeSet};
use crate::authz::tokens::Grant;
use crate::people::Cbe;

/// The organization a client acts for under a delegation, and the delegation.
struct ActingFor {
    consumer: Cbe,
    supplier: Cbe,
    delegation: Delegation,
}

/// Decides what the token says; minting is the caller's.
pub async fn grant(
    ctx: &AuthzContext,
    client: &Client,
    form: &OAuthForm,
) -> Result<Grant, OAuthError> {
    let issuer = ctx.config.issuer.as_str();
    // Step 1: only system clients act for themselves (or for their organization's
    // consumers).
    if client.client_type != ClientType::System {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "only system clients may use the client_credentials grant",
        ));
    }
    let consumer = match form.get("consumer") {
        Some(text) => Some(Cbe::parse(text).map_err(|e| {
            OAuthError::invalid_request(format!("consumer: not a CBE number: {e}"))
        })?),
        None => None,
    };
    // Step 2: the scopes asked, each registered. Default (RFC 6749 §3.3): all
    // registered, or, acting for a consumer, those of its delegation the client has.
    let asked = form
        .get("scope")
        .map(|text| {
            ScopeSet::parse(text).map_err(|unknown| {
                OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!("unknown scope {unknown:?}"),
                )
            })
        })
        .transpose()?;
    if let Some(missing) = asked
        .as_ref()
        .and_then(|asked| asked.difference(&client.scopes).next())
    {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("the scope {missing} is not registered for this client"),
        ));
    }
    // Acting for a consumer: a delegation to the client's organization must be in
    // force and cover the scopes asked.
    let acting_for = match consumer {
        Some(consumer) => Some(delegated(ctx, client, consumer, asked.as_ref()).await?),
        None => None,
    };
    let scopes = match (asked, &acting_for) {
        (Some(asked), _) => asked,
        (None, Some(acting)) => {
            let shared: ScopeSet = acting
                .delegation
                .scopes
                .iter()
                .filter(|s| client.scopes.contains(*s))
                .collect();
            if shared.is_empty() {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnauthorizedClient,
                    "the delegation covers none of this client's scopes",
                ));
            }
            shared
        }
        (None, None) => client.scopes.clone(),
    };
    if scopes.is_empty() || scopes.resources().is_empty() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "no scope of a resource server requested",
        ));
    }
    // Step 3: the audience (RFC 8707): exactly the resources asked, each implied by the
    // scopes; or every resource the scopes imply.
    let implied = scopes.resources();
    let mut audience = Vec::new();
    for value in form.all("resource") {
        let resource = Resource::from_identifier(issuer, value).ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                format!("unknown resource {value:?}"),
            )
        })?;
        if !implied.contains(&resource) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                format!("the requested scopes do not apply to the resource {value}"),
            ));
        }
        audience.push(resource);
    }
    if audience.is_empty() {
        audience = implied.into_iter().collect();
    }
    audience.dedup();
    // Step 4: the claims of a system client: its organization, or the consumer it
    // acts for with itself as the actor (RFC 8693 §4.1).
    let mut identity = Map::new();
    identity.insert("profile".into(), json!("system"));
    let organization = match &acting_for {
        Some(acting) => Some(&acting.consumer),
        None => client.organization.as_ref(),
    };
    if let Some(cbe) = organization {
        identity.insert("cbe".into(), json!(cbe));
    }
    let act = acting_for.as_ref().map(|acting| {
        json!({
            "sub": client.id.as_str(),
            "client_id": client.id.as_str(),
            "cbe": acting.supplier,
            "iss": acting.delegation.source.as_deref().unwrap_or(issuer),
        })
    });
    // Step 5: what the PDP grants a system at these resources.
    let permissions = ctx.policy.permissions(
        &audience,
        Subject {
            profile: "system",
            quality: None,
        },
    );
    Ok(Grant {
        // `sub` stays the client (RFC 9068 §2.2: without a resource owner, the
        // client's identifier), also under a delegation: the consumer the token acts
        // for is its `identity`, the supplier's client its `act`. A CBE number as
        // `sub` could also be taken for a client_id, which may be digits too.
        subject: client.id.to_string(),
        client_id: client.id.to_string(),
        scopes,
        audience: audience.into_iter().map(|r| r.identifier(issuer)).collect(),
        acr: None,
        identity: Value::Object(identity),
        permissions,
        // The keystore's active keys of the client, added by the token endpoint.
        keys: Vec::new(),
        act,
        delegation: acting_for.map(|acting| acting.delegation.id),
        extra: client.claims.clone(),
        // Bound by the token endpoint when the request carried a DPoP proof.
        jkt: None,
    })
}

/// Acting for `consumer`: the client must belong to an organization (the supplier)
/// to which `consumer` has a delegation in force that covers the scopes asked.
async fn delegated(
    ctx: &AuthzContext,
    client: &Client,
    consumer: Cbe,
    asked: Option<&ScopeSet>,
) -> Result<ActingFor, OAuthError> {
    let refused = |why: String| OAuthError::new(OAuthErrorCode::UnauthorizedClient, why);
    let supplier = client.organization.clone().ok_or_else(|| {
        refused("this client belongs to no organization, so it acts for no consumer".into())
    })?;
    let candidates = delegation::store::in_force(&ctx.db, &consumer, &supplier, ctx.clock.now())
        .await
        .map_err(|e| OAuthError::server_error("E-DELEGATION", &e))?;
    if candidates.is_empty() {
        return Err(refused(format!(
            "no delegation from {consumer} to this client's organization {supplier} is in force"
        )));
    }
    let chosen = delegation::choose(&candidates, asked).ok_or_else(|| {
        refused(format!(
            "the delegation from {consumer} to {supplier} does not cover the scopes asked"
        ))
    })?;
    Ok(ActingFor {
        delegation: chosen.clone(),
        consumer,
        supplier,
    })
}
