//! Checking a login attempt: throttling per account and per address, the password
//! (Argon2id), the TOTP code (never accepted twice), and the level of assurance it
//! proves. Failures are counted here; a success clears the account's counter.

use chrono::Duration;

use super::store;
use crate::authz::context::AuthzContext;
use crate::authz::scope::Acr;
use crate::people::{self, Person, Ssin, credentials};

/// What the person typed, and from where.
pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub totp: Option<&'a str>,
    pub address: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Throttled,
    BadCredentials,
}

/// The person, the level reached and the methods used (`amr`).
pub type Authenticated = (Person, Acr, Vec<String>);

pub async fn check(
    ctx: &AuthzContext,
    attempt: &Attempt<'_>,
) -> anyhow::Result<Result<Authenticated, Failure>> {
    let ssin = Ssin::parse(attempt.username).ok();
    let address_key = format!("address:{}", attempt.address);
    let account_key = ssin.as_ref().map(|s| format!("account:{s}"));
    let outcome = verify(
        ctx,
        attempt,
        ssin.as_ref(),
        &address_key,
        account_key.as_deref(),
    )
    .await?;
    let settings = &ctx.config.settings;
    let now = ctx.clock.now();
    let lockout = Duration::seconds(i64::from(settings.authz.login_lockout_seconds));
    match (&outcome, &account_key) {
        (Err(Failure::BadCredentials), _) => {
            let limits = [
                (
                    Some(address_key.as_str()),
                    settings.authz.login_max_failures_per_address,
                ),
                (
                    account_key.as_deref(),
                    settings.authz.login_max_failures_per_account,
                ),
            ];
            for (key, limit) in limits {
                if let Some(key) = key {
                    store::count_failure(&ctx.db, key, now, limit, lockout, lockout).await?;
                }
            }
        }
        (Ok(_), Some(key)) => store::clear_failures(&ctx.db, key).await?,
        _ => {}
    }
    Ok(outcome)
}

async fn verify(
    ctx: &AuthzContext,
    attempt: &Attempt<'_>,
    ssin: Option<&Ssin>,
    address_key: &str,
    account_key: Option<&str>,
) -> anyhow::Result<Result<Authenticated, Failure>> {
    let now = ctx.clock.now();
    for key in std::iter::once(address_key).chain(account_key) {
        if store::blocked_until(&ctx.db, key, now).await?.is_some() {
            return Ok(Err(Failure::Throttled));
        }
    }
    let person = match ssin {
        Some(ssin) => people::store::get_person(&ctx.db, ssin).await?,
        None => None,
    };
    // Argon2id is slow by design: off the async executor.
    let password = attempt.password.to_owned();
    let hash = person.as_ref().and_then(|p| p.password_hash.clone());
    let password_ok = tokio::task::spawn_blocking(move || {
        credentials::verify_password(&password, hash.as_deref())
    })
    .await?;
    let Some(person) = person.filter(|_| password_ok) else {
        return Ok(Err(Failure::BadCredentials));
    };
    let Some(code) = attempt.totp.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(Ok((person, Acr::Low, vec!["pwd".into()])));
    };
    let Some(sealed) = &person.sealed_totp_secret else {
        return Ok(Err(Failure::BadCredentials));
    };
    let secret = credentials::open_totp_secret(&ctx.master, &person.ssin, sealed)?;
    let Some(step) = credentials::totp_step(&secret, code, now.timestamp()) else {
        return Ok(Err(Failure::BadCredentials));
    };
    // RFC 6238 §5.2: a code is accepted once; the database decides across instances.
    if !people::store::use_totp_step(&ctx.db, &person.ssin, step).await? {
        return Ok(Err(Failure::BadCredentials));
    }
    Ok(Ok((
        person,
        Acr::Substantial,
        vec!["pwd".into(), "otp".into(), "mfa".into()],
    )))
}
