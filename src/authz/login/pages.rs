//! The HTML of the person-facing pages: plain forms that work without JavaScript, with
//! labels, a logical tab order and visible focus. maud escapes every value.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::i18n::{Lang, Texts};
use crate::people::model::identifier_parts;
use crate::people::{Person, Profile};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}\
h1{font-size:1.5rem}label{display:block;margin-top:1rem;font-weight:600}\
input[type=text],input[type=password]{display:block;width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
.hint{font-weight:400;font-size:.9rem;color:#555}fieldset{border:1px solid #ccc;padding:.5rem 1rem}\
fieldset label{font-weight:400;margin-top:.5rem}button{margin-top:1.25rem;margin-right:.5rem;padding:.5rem 1.25rem;font-size:1rem}\
:focus{outline:3px solid #1d70b8;outline-offset:2px}.error{color:#b00020;border-left:4px solid #b00020;padding-left:.75rem}\
.notice{border-left:4px solid #1d70b8;padding-left:.75rem}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}";

fn layout(lang: Lang, title: &str, body: Markup) -> Markup {
    let t = lang.texts();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — " (t.service) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    p { (t.service) }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A message for the person: an error or a notice, announced to screen readers.
pub enum Message<'a> {
    Error(&'a str),
    Notice(&'a str),
}

fn message(m: Option<&Message<'_>>) -> Markup {
    html! {
        @match m {
            Some(Message::Error(text)) => p.error id="form-error" role="alert" { (text) },
            Some(Message::Notice(text)) => p.notice role="status" { (text) },
            None => {},
        }
    }
}

fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

pub struct LoginPage<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub client_name: Option<&'a str>,
    pub username: Option<&'a str>,
    pub message: Option<Message<'a>>,
    /// The upstream identity provider's button: its form's action and its name.
    pub upstream: Option<(&'a str, &'a str)>,
}

pub fn login(lang: Lang, page: &LoginPage<'_>) -> Markup {
    let t = lang.texts();
    let failed = matches!(page.message, Some(Message::Error(_)));
    // After a failed attempt the error describes the fields, and the focus goes to
    // the first field left to fill.
    let describe = |hint: &str| {
        if failed {
            format!("form-error {hint}")
        } else {
            hint.to_owned()
        }
    };
    let username = page.username.unwrap_or_default();
    let focus_username = username.is_empty();
    layout(
        lang,
        t.login_title,
        html! {
            @if let Some(name) = page.client_name {
                p { (t.login_title) " " (t.login_for) " " strong { (name) } }
            }
            (message(page.message.as_ref()))
            form method="post" action=(page.action) {
                (csrf_field(page.csrf))
                label for="username" {
                    (t.username)
                    span.hint id="username-hint" { " (" (t.username_hint) ")" }
                }
                input type="text" id="username" name="username" required
                    inputmode="numeric" autocomplete="username" aria-describedby=(describe("username-hint"))
                    aria-invalid=[failed.then_some("true")]
                    value=(username) autofocus[focus_username];
                label for="password" { (t.password) }
                input type="password" id="password" name="password" required autocomplete="current-password"
                    aria-invalid=[failed.then_some("true")]
                    aria-describedby=[failed.then_some("form-error")] autofocus[!focus_username];
                label for="totp" {
                    (t.totp)
                    span.hint id="totp-hint" { " (" (t.totp_hint) ")" }
                }
                input type="text" id="totp" name="totp" inputmode="numeric"
                    autocomplete="one-time-code" pattern="[0-9]{6}" aria-describedby=(describe("totp-hint"));
                button type="submit" { (t.login_button) }
            }
            @if let Some((action, name)) = page.upstream {
                form method="post" action=(action) {
                    (csrf_field(page.csrf))
                    button type="submit" { (t.sign_in_with) " " (name) }
                }
            }
        },
    )
}

fn profile_label(t: &Texts, profile: &Profile) -> String {
    match profile {
        Profile::Citizen => t.as_citizen.to_owned(),
        Profile::Professional { quality, nihii } => {
            format!(
                "{} ({}, NIHII {nihii})",
                t.as_professional,
                t.quality(quality)
            )
        }
        Profile::Organization { cbe } => format!("{} {cbe}", t.for_organization),
        Profile::Mandatee { mandator } => {
            let (kind, value) = identifier_parts(mandator);
            format!("{} {} {value}", t.for_mandator, kind.to_uppercase())
        }
    }
}

pub fn choose_profile(
    lang: Lang,
    action: &str,
    csrf: &str,
    client_name: &str,
    person: &Person,
    error: Option<&str>,
) -> Markup {
    let t = lang.texts();
    layout(
        lang,
        t.profile_title,
        html! {
            p { (t.signed_in_as) " " strong { (person.name) } }
            (message(error.map(Message::Error).as_ref()))
            form method="post" action=(action) {
                (csrf_field(csrf))
                fieldset {
                    legend { (t.profile_intro) " (" (client_name) ")" }
                    @for (i, profile) in person.profiles.iter().enumerate() {
                        @let id = format!("profile-{i}");
                        div {
                            input type="radio" id=(id) name="profile" value=(profile.form_value())
                                required checked[i == 0];
                            label for=(id) style="display:inline" { " " (profile_label(t, profile)) }
                        }
                    }
                }
                button type="submit" { (t.continue_button) }
            }
        },
    )
}

pub fn consent(lang: Lang, action: &str, csrf: &str, client_name: &str, scopes: &[&str]) -> Markup {
    let t = lang.texts();
    layout(
        lang,
        t.consent_title,
        html! {
            p { strong { (client_name) } " " (t.consent_intro) }
            ul {
                @for scope in scopes {
                    li { (t.scope(scope)) " " code { "(" (scope) ")" } }
                }
            }
            form method="post" action=(action) {
                (csrf_field(csrf))
                button type="submit" name="decision" value="allow" { (t.allow) }
                button type="submit" name="decision" value="deny" { (t.deny) }
            }
        },
    )
}

pub struct ConsentRow<'a> {
    pub client_id: &'a str,
    pub client_name: &'a str,
    pub scopes: Vec<&'static str>,
    pub granted_at: DateTime<Utc>,
}

pub fn account(lang: Lang, person: &Person, csrf: &str, consents: &[ConsentRow<'_>]) -> Markup {
    let t = lang.texts();
    layout(
        lang,
        t.account_title,
        html! {
            p { (t.signed_in_as) " " strong { (person.name) } " (" (person.ssin) ")" }
            h2 { (t.consents) }
            @if consents.is_empty() {
                p { (t.no_consents) }
            } @else {
                table {
                    tbody {
                        @for c in consents {
                            tr {
                                td {
                                    strong { (c.client_name) }
                                    br;
                                    @for scope in &c.scopes { code { (scope) } " " }
                                    br;
                                    span.hint { (t.granted_on) " " (c.granted_at.format("%Y-%m-%d %H:%M UTC")) }
                                }
                                td {
                                    form method="post" action=(format!("/account/consents/{}/revoke", c.client_id)) {
                                        (csrf_field(csrf))
                                        button type="submit" aria-label=(format!("{} {}", t.revoke, c.client_name)) { (t.revoke) }
                                    }
                                    // Token exchange is withdrawn on its own: the app keeps
                                    // what else was allowed, and stops acting for the person.
                                    @if c.scopes.contains(&"exchange") {
                                        p.hint { (t.scope("exchange")) }
                                        form method="post" action=(format!("/account/consents/{}/exchange/revoke", c.client_id)) {
                                            (csrf_field(csrf))
                                            button type="submit" aria-label=(format!("{} {}", t.withdraw_exchange, c.client_name)) { (t.withdraw_exchange) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/account/keys" { (t.keys_title) } }
            p { a href="/account/absences" { (t.absences_title) } }
            form method="post" action="/account/logout" {
                (csrf_field(csrf))
                button type="submit" { (t.logout) }
            }
        },
    )
}

/// One key on the account's key page.
pub struct KeyRow<'a> {
    pub kid: &'a str,
    pub name: &'a str,
    pub client_name: &'a str,
    pub key_use: &'a str,
    pub status: &'a str,
    pub last_used_at: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Revoked, expired or inactive keys can no longer be renamed or revoked.
    pub live: bool,
}

pub fn keys(lang: Lang, person: &Person, csrf: &str, keys: &[KeyRow<'_>]) -> Markup {
    let t = lang.texts();
    let date = |d: &DateTime<Utc>| d.format("%Y-%m-%d %H:%M UTC").to_string();
    layout(
        lang,
        t.keys_title,
        html! {
            p { (t.signed_in_as) " " strong { (person.name) } " (" (person.ssin) ")" }
            p { (t.keys_intro) }
            @if keys.is_empty() {
                p { (t.no_keys) }
            } @else {
                table {
                    thead {
                        tr {
                            th scope="col" { (t.key_name) }
                            th scope="col" { (t.key_application) }
                            th scope="col" { (t.key_status) }
                            th scope="col" { (t.last_used) }
                            th scope="col" { (t.valid_until) }
                            th scope="col" { }
                        }
                    }
                    tbody {
                        @for k in keys {
                            tr {
                                td {
                                    strong { (k.name) }
                                    br;
                                    span.hint { code { (k.key_use) } " " code { (k.kid) } }
                                }
                                td { (k.client_name) }
                                td { (k.status) }
                                td { (date(&k.last_used_at)) }
                                td { (date(&k.not_after)) }
                                td {
                                    @if k.live {
                                        form method="post" action=(format!("/account/keys/{}/rename", k.kid)) {
                                            (csrf_field(csrf))
                                            label for=(format!("name-{}", k.kid)) { (t.key_name) }
                                            input type="text" id=(format!("name-{}", k.kid)) name="name" value=(k.name) required maxlength="100";
                                            button type="submit" { (t.rename) }
                                        }
                                        form method="post" action=(format!("/account/keys/{}/revoke", k.kid)) {
                                            (csrf_field(csrf))
                                            button type="submit" aria-label=(format!("{} {}", t.revoke, k.name)) { (t.revoke) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/account" { (t.account_title) } }
        },
    )
}

/// One absence on the account's absence page.
pub struct AbsenceRow<'a> {
    pub id: &'a str,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub substitutes: Vec<String>,
}

pub fn absences(lang: Lang, person: &Person, csrf: &str, absences: &[AbsenceRow<'_>]) -> Markup {
    let t = lang.texts();
    let date = |d: &DateTime<Utc>| d.format("%Y-%m-%d %H:%M UTC").to_string();
    layout(
        lang,
        t.absences_title,
        html! {
            p { (t.signed_in_as) " " strong { (person.name) } " (" (person.ssin) ")" }
            p { (t.absences_intro) }
            @if absences.is_empty() {
                p { (t.no_absences) }
            } @else {
                table {
                    thead {
                        tr {
                            th scope="col" { (t.absence_from) }
                            th scope="col" { (t.absence_until) }
                            th scope="col" { (t.substitutes) }
                            th scope="col" { }
                        }
                    }
                    tbody {
                        @for a in absences {
                            tr {
                                td { (date(&a.from)) }
                                td { (date(&a.until)) }
                                td { @for s in &a.substitutes { code { (s) } br; } }
                                td {
                                    form method="post" action=(format!("/account/absences/{}/end", a.id)) {
                                        (csrf_field(csrf))
                                        button type="submit" aria-label=(format!("{} {}", t.end_absence, date(&a.from))) { (t.end_absence) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/account/absences" {
                (csrf_field(csrf))
                p {
                    label for="from" { (t.absence_from) }
                    input type="datetime-local" id="from" name="from";
                }
                p {
                    label for="until" { (t.absence_until) }
                    input type="datetime-local" id="until" name="until" required;
                }
                p {
                    label for="substitutes" { (t.substitutes) }
                    textarea id="substitutes" name="substitutes" rows="3" required aria-describedby="substitutes-hint" {}
                    span.hint id="substitutes-hint" { (t.substitutes_hint) }
                }
                button type="submit" { (t.set_absence) }
            }
            p { a href="/account" { (t.account_title) } }
        },
    )
}

/// A page with only a message (errors, logged out).
pub fn notice(lang: Lang, title: &str, text: &str, is_error: bool) -> Markup {
    layout(
        lang,
        title,
        html! {
            @if is_error {
                p.error role="alert" { (text) }
            } @else {
                p.notice role="status" { (text) }
            }
        },
    )
}
