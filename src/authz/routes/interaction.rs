//! How an interaction moves on: from the browser's session, the person's profiles and
//! consent, what is still to ask, and the authorization code once nothing is.

use chrono::Duration;

use crate::authz::grants::model::{CodeGrant, PersonGrant};
use crate::authz::grants::store as grant_store;
use crate::authz::login::flow::{Progress, Session, Step, next_step};
use crate::authz::login::request::{AuthorizeParams, redirect_to_client};
use crate::authz::login::store::{self, Interaction, Purpose};
use crate::crypto::{random_token, token_digest};
use crate::people::{self, Person};
use crate::state::AppState;

use super::html::INTERACTION_TTL_SECONDS;

/// Authorization codes live 60 s (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL_SECONDS: i64 = 60;

/// Where an interaction goes next.
pub enum Decision {
    /// Nothing left to ask: back to the client with this URL.
    Finish(String),
    Show(Step),
}

/// The person behind a session, if both still exist.
pub async fn session_person(
    state: &AppState,
    session: Option<Session>,
) -> anyhow::Result<Option<(Session, Person)>> {
    let Some(session) = session else {
        return Ok(None);
    };
    let Some(mut person) = people::store::get_person(&state.db, &session.ssin).await? else {
        return Ok(None);
    };
    // An upstream login whose profiles claim allows only some of the person's profiles.
    if state
        .federation
        .as_ref()
        .is_some_and(|u| u.config.profiles_claim.is_some())
        && let Some(allowed) =
            crate::authz::federation::store::allowed_profiles(&state.db, &session.id).await?
    {
        person
            .profiles
            .retain(|p| crate::authz::federation::mapping::allows(&allowed, p));
    }
    Ok(Some((session, person)))
}

/// Decides the next step of an authorization; issues the code when none is left.
/// `stored` tells whether the interaction is in the database (and must be ended).
pub async fn decide(
    state: &AppState,
    interaction: &Interaction,
    params: &AuthorizeParams,
    who: Option<&(Session, Person)>,
    stored: bool,
) -> anyhow::Result<Decision> {
    let now = state.clock.now();
    let (session, profiles, consented) = match who {
        Some((session, person)) => (
            Some(session),
            person.profiles.as_slice(),
            store::consent(&state.db, &session.ssin, &params.client_id).await?,
        ),
        None => (None, &[][..], None),
    };
    let progress = Progress {
        authenticated_here: session.is_some_and(|s| {
            interaction.session_id.as_deref() == Some(s.id.as_str())
                && interaction.authenticated_at.is_some()
        }),
        profile: interaction.profile.clone(),
        consented: interaction.consented,
    };
    let step = next_step(
        params,
        &progress,
        session,
        profiles,
        consented.as_ref(),
        now,
    );
    let (Step::Done(profile), Some(session)) = (&step, session) else {
        return Ok(Decision::Show(step));
    };
    if stored && !store::delete_interaction(&state.db, &interaction.id).await? {
        // Another request finished this interaction first (a double submit).
        return Ok(Decision::Show(Step::Login { step_up: false }));
    }
    let code = random_token()?;
    let grant = CodeGrant {
        person: PersonGrant {
            ssin: session.ssin.clone(),
            client_id: params.client_id.clone(),
            scope: params.scope.clone(),
            audience: params.audience.clone(),
            profile: profile.clone(),
            acr: session.acr,
            amr: session.amr.clone(),
            auth_time: session.auth_time.timestamp(),
            // Bound at the code exchange, to the key of its DPoP proof.
            jkt: None,
        },
        redirect_uri: params.redirect_uri.clone(),
        code_challenge: params.code_challenge.clone(),
        nonce: params.nonce.clone(),
    };
    grant_store::insert_code(
        &state.db,
        &token_digest(&code),
        &grant,
        now,
        now + Duration::seconds(CODE_TTL_SECONDS),
    )
    .await?;
    tracing::info!(client_id = %params.client_id, profile = profile.kind(), acr = session.acr.as_str(), "authorization code issued");
    Ok(Decision::Finish(redirect_to_client(
        &params.redirect_uri,
        &state.config.issuer,
        params.state.as_deref(),
        &[("code", &code)],
    )))
}

/// A new interaction, not stored yet.
pub fn new_interaction(
    state: &AppState,
    browser: String,
    purpose: Purpose,
) -> Result<Interaction, crate::crypto::CryptoError> {
    Ok(Interaction {
        id: random_token()?,
        browser,
        purpose,
        csrf: random_token()?,
        session_id: None,
        authenticated_at: None,
        profile: None,
        consented: false,
        expires_at: state.clock.now() + Duration::seconds(INTERACTION_TTL_SECONDS),
    })
}
