//! What the person-facing pages share: cookies, the browser binding, the session,
//! the language and the HTML responses with their security headers.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use maud::Markup;

use crate::authz::login::flow::Session;
use crate::authz::login::i18n::Lang;
use crate::authz::login::pages;
use crate::authz::login::store;
use crate::crypto::token_digest;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "depot_session";
pub const BROWSER_COOKIE: &str = "depot_browser";

/// How long a person has to get through login, profile and consent.
pub const INTERACTION_TTL_SECONDS: i64 = 15 * 60;

/// Whether the browser reached us over TLS: the issuer says so, or the request came
/// over TLS (ours, or that of a trusted proxy in front).
fn secure(state: &AppState, req: &HttpRequest) -> bool {
    state.config.issuer.starts_with("https:") || client(state, req).https
}

/// HttpOnly, SameSite=Lax, Secure when we are served over TLS; a browser-session cookie.
pub fn cookie(
    state: &AppState,
    req: &HttpRequest,
    name: &'static str,
    value: String,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(secure(state, req))
        .same_site(SameSite::Lax)
        .finish()
}

pub fn removal(state: &AppState, req: &HttpRequest, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, req, name, String::new());
    c.make_removal();
    c
}

/// The browser's identity cookie; a new one (to be set) when absent.
pub fn browser(req: &HttpRequest) -> Result<(String, Option<String>), crate::crypto::CryptoError> {
    match req.cookie(BROWSER_COOKIE) {
        Some(c) if !c.value().is_empty() => Ok((token_digest(c.value()), None)),
        _ => {
            let fresh = crate::crypto::random_token()?;
            Ok((token_digest(&fresh), Some(fresh)))
        }
    }
}

/// The digest of the browser cookie, if the browser sent one.
pub fn browser_digest(req: &HttpRequest) -> Option<String> {
    req.cookie(BROWSER_COOKIE)
        .filter(|c| !c.value().is_empty())
        .map(|c| token_digest(c.value()))
}

/// The browser's live login session, if any.
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<Session>, store::StoreError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    store::live_session(&state.db, &token_digest(cookie.value()), state.clock.now()).await
}

pub fn lang(req: &HttpRequest, ui_locales: Option<&str>) -> Lang {
    let header = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::choose(ui_locales, header)
}

fn secure_headers(builder: &mut HttpResponseBuilder) {
    builder
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
}

pub fn html(status: StatusCode, page: Markup) -> HttpResponseBuilderWithBody {
    let mut builder = HttpResponse::build(status);
    secure_headers(&mut builder);
    builder.content_type("text/html; charset=utf-8");
    HttpResponseBuilderWithBody {
        builder,
        body: page.into_string(),
    }
}

/// A response under construction that still accepts cookies.
pub struct HttpResponseBuilderWithBody {
    builder: HttpResponseBuilder,
    body: String,
}

impl HttpResponseBuilderWithBody {
    pub fn cookie(mut self, cookie: Cookie<'static>) -> Self {
        self.builder.cookie(cookie);
        self
    }

    pub fn finish(mut self) -> HttpResponse {
        self.builder.body(self.body)
    }
}

/// 303 See Other to `location` (after a form POST, the browser GETs it).
pub fn see_other(location: &str) -> HttpResponseBuilder {
    let mut builder = HttpResponse::SeeOther();
    secure_headers(&mut builder);
    builder.insert_header((header::LOCATION, location.to_owned()));
    builder
}

/// An error page: the request stops here, nothing is redirected.
pub fn error_page(lang: Lang, status: StatusCode, text: &str) -> HttpResponse {
    let t = lang.texts();
    html(status, pages::notice(lang, t.error_title, text, true)).finish()
}

/// An internal failure on a page: logged with a code, shown without detail.
pub fn internal_page<E: std::fmt::Display + std::any::Any>(
    lang: Lang,
    code: &'static str,
    error: &E,
) -> HttpResponse {
    if crate::fault::database_unreachable(error) {
        tracing::warn!(code, error = %error, "database unreachable on a login page");
        let mut page = error_page(lang, StatusCode::SERVICE_UNAVAILABLE, lang.texts().busy);
        page.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(crate::problem::RETRY_AFTER_SECONDS),
        );
        return page;
    }
    tracing::error!(code, error = %error, "internal error on a login page");
    error_page(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("Internal error {code}."),
    )
}

/// The client as seen through the trusted proxies (`DEPOT_TRUSTED_PROXIES`).
pub fn client(state: &AppState, req: &HttpRequest) -> crate::ops::forwarded::Origin {
    crate::ops::forwarded::origin_of(&state.config.trusted_proxies, req)
}

/// The client address, for throttling: the TCP peer, or the address a trusted proxy
/// in front names (every client behind an untrusted proxy shares the proxy's).
pub fn client_address(state: &AppState, req: &HttpRequest) -> String {
    client(state, req).address_text()
}
