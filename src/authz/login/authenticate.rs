//! Checking a login attempt: throttling per account and per address, the password
//! (Argon2id), the TOTP code (never accepted twice), and the level of assurance it
//! proves. Every attempt is counted before it is evaluated (so parallel guesses cannot
//! outrun the limit); a success clears the account's count and gives the address back
//! its attempt (an address counts failures: many people log in from one hospital
//! network), and the second factor has
//! a count of its own that only a success with it clears. Password hashing is bounded:
//! a few checks run at once, as many wait, and an attempt past those is turned away
//! before it is counted (`Failure::Busy`).

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
    /// Too many passwords are being checked at once: try again in a moment.
    Busy,
}

/// The person, the level reached and the methods used (`amr`).
pub type Authenticated = (Person, Acr, Vec<String>);

pub async fn check(
    ctx: &AuthzContext,
    attempt: &Attempt<'_>,
) -> anyhow::Result<Result<Authenticated, Failure>> {
    let ssin = Ssin::parse(attempt.username).ok();
    let settings = &ctx.config.settings;
    let now = ctx.clock.now();
    let lockout = Duration::seconds(i64::from(settings.authz.login_lockout_seconds));
    // Turned away before anything is counted: a busy server is not a wrong password.
    let Some(_admitted) = ctx.password_checks.admit() else {
        return Ok(Err(Failure::Busy));
    };
    let address_key = format!("address:{}", attempt.address);
    let account_key = ssin.as_ref().map(|s| format!("account:{s}"));
    // Every attempt is counted before it is evaluated, atomically: of any number of
    // parallel guesses, no more than the limit are ever checked. A success gives the
    // account its count back, and the address this attempt.
    let reservations = [
        (
            Some(address_key.as_str()),
            settings.authz.login_max_failures_per_address,
        ),
        (
            account_key.as_deref(),
            settings.authz.login_max_failures_per_account,
        ),
    ];
    for (key, limit) in reservations {
        if let Some(key) = key
            && !store::reserve_attempt(&ctx.db, key, now, limit, lockout).await?
        {
            return Ok(Err(Failure::Throttled));
        }
    }
    let outcome = verify(ctx, attempt, ssin.as_ref()).await?;
    if outcome.is_ok() {
        store::release_attempt(&ctx.db, &address_key).await?;
    }
    if let (Ok((person, acr, _)), Some(key)) = (&outcome, &account_key) {
        store::clear_failures(&ctx.db, key).await?;
        // Second-factor guesses count on their own key, which only a success with the
        // second factor clears: a correct password alone does not reset them.
        if *acr >= Acr::Substantial {
            store::clear_failures(&ctx.db, &second_factor_key(&person.ssin)).await?;
        }
    }
    Ok(outcome)
}

fn second_factor_key(ssin: &Ssin) -> String {
    format!("totp:{ssin}")
}

async fn verify(
    ctx: &AuthzContext,
    attempt: &Attempt<'_>,
    ssin: Option<&Ssin>,
) -> anyhow::Result<Result<Authenticated, Failure>> {
    let now = ctx.clock.now();
    let person = match ssin {
        Some(ssin) => people::store::get_person(&ctx.db, ssin).await?,
        None => None,
    };
    let hash = person.as_ref().and_then(|p| p.password_hash.clone());
    let password_ok = ctx
        .password_checks
        .verify_password(attempt.password.to_owned(), hash)
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
    let settings = &ctx.config.settings;
    let lockout = Duration::seconds(i64::from(settings.authz.login_lockout_seconds));
    if !store::reserve_attempt(
        &ctx.db,
        &second_factor_key(&person.ssin),
        now,
        settings.authz.login_max_failures_per_account,
        lockout,
    )
    .await?
    {
        return Ok(Err(Failure::Throttled));
    }
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
