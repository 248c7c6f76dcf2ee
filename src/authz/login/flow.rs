//! What an authorization request needs next: a pure decision from the request, the
//! browser's session, the person's profiles and their stored consent.

use chrono::{DateTime, Utc};

use super::request::AuthorizeParams;
use crate::authz::scope::{Acr, ScopeSet};
use crate::people::Profile;

/// A valid login session, as the flow sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub ssin: crate::people::Ssin,
    pub acr: Acr,
    pub amr: Vec<String>,
    pub auth_time: DateTime<Utc>,
    pub csrf: String,
}

/// How far this authorization request got.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The person authenticated during this very request (with the current session).
    pub authenticated_here: bool,
    pub profile: Option<Profile>,
    pub consented: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask for credentials; `step_up` when a session exists but at too low a level.
    Login {
        step_up: bool,
    },
    ChooseProfile,
    Consent,
    Done(Profile),
}

pub fn next_step(
    params: &AuthorizeParams,
    progress: &Progress,
    session: Option<&Session>,
    profiles: &[Profile],
    consented_scopes: Option<&ScopeSet>,
    now: DateTime<Utc>,
) -> Step {
    let Some(session) = session else {
        return Step::Login { step_up: false };
    };
    if !progress.authenticated_here {
        if params.prompt.login {
            return Step::Login { step_up: false };
        }
        if params
            .max_age
            .is_some_and(|max| (now - session.auth_time).num_seconds() > max)
        {
            return Step::Login { step_up: false };
        }
    }
    if session.acr < params.required_acr {
        return Step::Login { step_up: true };
    }
    // A profile chosen in this interaction counts only if it is this person's.
    let chosen = progress.profile.as_ref().filter(|p| profiles.contains(p));
    let profile = match (chosen, profiles) {
        (Some(chosen), _) => chosen.clone(),
        (None, [only]) => only.clone(),
        (None, _) => return Step::ChooseProfile,
    };
    let covered = consented_scopes.is_some_and(|granted| params.scopes().is_subset(granted));
    if !progress.consented && (params.prompt.consent || !covered) {
        return Step::Consent;
    }
    Step::Done(profile)
}

#[cfg(test)]
mod tests {
    use super::super::request::Prompt;
    use super::*;
    use crate::people::{Cbe, Ssin};

    fn params(prompt: Prompt, max_age: Option<i64>, required_acr: Acr) -> AuthorizeParams {
        AuthorizeParams {
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "depot:read openid".into(),
            audience: vec![],
            state: None,
            nonce: None,
            code_challenge: "x".repeat(43),
            prompt,
            max_age,
            required_acr,
            ui_locales: None,
        }
    }

    #[test]
    fn steps_table() {
        let now = Utc::now();
        let session = |acr, age: i64| Session {
            id: "s".into(),
            ssin: Ssin::parse("85073003328").unwrap(),
            acr,
            amr: vec!["pwd".into()],
            auth_time: now - chrono::Duration::seconds(age),
            csrf: "c".into(),
        };
        let low = session(Acr::Low, 10);
        let old = session(Acr::Low, 4000);
        let citizen = Profile::Citizen;
        let org = Profile::Organization {
            cbe: Cbe::parse("0203201340").unwrap(),
        };
        let one = std::slice::from_ref(&citizen);
        let two = [citizen.clone(), org.clone()];
        let granted = ScopeSet::parse("depot:read depot:send openid").unwrap();
        let narrow = ScopeSet::parse("openid").unwrap();
        let fresh = Progress::default();
        let here = Progress {
            authenticated_here: true,
            ..Progress::default()
        };
        let chose_org = Progress {
            profile: Some(org.clone()),
            ..Progress::default()
        };
        let chose_another_org = Progress {
            profile: Some(Profile::Organization {
                cbe: Cbe::parse("0404721018").unwrap(),
            }),
            ..Progress::default()
        };
        let consented = Progress {
            consented: true,
            ..Progress::default()
        };
        let plain = params(Prompt::default(), None, Acr::Low);
        let login = params(
            Prompt {
                login: true,
                ..Prompt::default()
            },
            None,
            Acr::Low,
        );
        let consent = params(
            Prompt {
                consent: true,
                ..Prompt::default()
            },
            None,
            Acr::Low,
        );
        let max_age = params(Prompt::default(), Some(3600), Acr::Low);
        let substantial = params(Prompt::default(), None, Acr::Substantial);

        type Case<'a> = (
            &'a str,
            &'a AuthorizeParams,
            &'a Progress,
            Option<&'a Session>,
            &'a [Profile],
            Option<&'a ScopeSet>,
            Step,
        );
        let cases: Vec<Case> = vec![
            (
                "no session",
                &plain,
                &fresh,
                None,
                one,
                Some(&granted),
                Step::Login { step_up: false },
            ),
            (
                "all there",
                &plain,
                &fresh,
                Some(&low),
                one,
                Some(&granted),
                Step::Done(citizen.clone()),
            ),
            (
                "prompt=login",
                &login,
                &fresh,
                Some(&low),
                one,
                Some(&granted),
                Step::Login { step_up: false },
            ),
            (
                "prompt=login, done here",
                &login,
                &here,
                Some(&low),
                one,
                Some(&granted),
                Step::Done(citizen.clone()),
            ),
            (
                "a profile chosen in the interaction that is not this person's (another person logged in on it)",
                &plain,
                &chose_org,
                Some(&low),
                one,
                Some(&granted),
                Step::Done(citizen.clone()),
            ),
            (
                "another person's chosen profile, and this one has several",
                &plain,
                &chose_another_org,
                Some(&low),
                &two,
                Some(&granted),
                Step::ChooseProfile,
            ),
            (
                "max_age exceeded",
                &max_age,
                &fresh,
                Some(&old),
                one,
                Some(&granted),
                Step::Login { step_up: false },
            ),
            (
                "max_age met",
                &max_age,
                &fresh,
                Some(&low),
                one,
                Some(&granted),
                Step::Done(citizen.clone()),
            ),
            (
                "step-up",
                &substantial,
                &here,
                Some(&low),
                one,
                Some(&granted),
                Step::Login { step_up: true },
            ),
            (
                "two profiles",
                &plain,
                &fresh,
                Some(&low),
                &two,
                Some(&granted),
                Step::ChooseProfile,
            ),
            (
                "profile chosen",
                &plain,
                &chose_org,
                Some(&low),
                &two,
                Some(&granted),
                Step::Done(org.clone()),
            ),
            (
                "no consent",
                &plain,
                &fresh,
                Some(&low),
                one,
                None,
                Step::Consent,
            ),
            (
                "consent too narrow",
                &plain,
                &fresh,
                Some(&low),
                one,
                Some(&narrow),
                Step::Consent,
            ),
            (
                "prompt=consent",
                &consent,
                &fresh,
                Some(&low),
                one,
                Some(&granted),
                Step::Consent,
            ),
            (
                "consent given here",
                &consent,
                &consented,
                Some(&low),
                one,
                Some(&granted),
                Step::Done(citizen.clone()),
            ),
        ];
        for (name, p, progress, session, profiles, scopes, expected) in cases {
            assert_eq!(
                next_step(p, progress, session, profiles, scopes, now),
                expected,
                "{name}"
            );
        }
    }
}
