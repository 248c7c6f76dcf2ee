//! The HTTP client of the upstream calls: our reqwest (native-tls, like the rest of the
//! service) playing the `openidconnect` crate's client, which is built without an HTTP
//! stack of its own. Redirects are never followed (the crate's advice against SSRF),
//! and every call is bounded in time and size.

use std::time::Duration;

use serde_json::{Map, Value};

/// Per upstream call.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the upstream (metadata, keys, tokens, UserInfo).
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("{0}")]
    Answer(String),
}

pub struct OidcHttp(reqwest::Client);

impl OidcHttp {
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .build()?,
        ))
    }

    async fn body(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The UserInfo answer (a JSON object; a signed or encrypted one is not read).
    pub async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, HttpError> {
        let response = self
            .0
            .get(endpoint)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        let status = response.status();
        let body = Self::body(response).await?;
        if !status.is_success() {
            return Err(HttpError::Answer(format!("UserInfo answered {status}")));
        }
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(HttpError::Answer(
                "the UserInfo answer is not a JSON object".into(),
            )),
        }
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for OidcHttp {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = Self::body(response).await?;
            builder
                .body(body)
                .map_err(|e| HttpError::Answer(e.to_string()))
        })
    }
}
