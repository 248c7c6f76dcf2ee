//! A browser behind the proxy: one cookie jar, trusting the proxy's certificate only,
//! that notes which instance answered each request (nginx's `X-Upstream`) and the
//! cookies set. It reads pages as [`crate::forms::Browser`] does.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::forms::Page;

pub struct ProxiedBrowser {
    pub base: String,
    pub http: reqwest::Client,
    /// (the step, `X-Upstream`), in order
    pub upstreams: Mutex<Vec<(String, String)>>,
    pub set_cookies: Mutex<Vec<String>>,
}

impl ProxiedBrowser {
    pub fn new(base: &str, ca_pem: &[u8]) -> Self {
        let ca = reqwest::Certificate::from_pem(ca_pem).unwrap();
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .tls_certs_only([ca])
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            upstreams: Mutex::default(),
            set_cookies: Mutex::default(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        }
    }

    /// Sends `request`, noting its `X-Upstream` under `step`.
    pub async fn send(&self, step: &str, request: reqwest::RequestBuilder) -> reqwest::Response {
        let response = request.send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let upstream = header("x-upstream");
        assert_eq!(upstream.len(), 1, "{step}: one X-Upstream: {upstream:?}");
        self.upstreams
            .lock()
            .unwrap()
            .push((step.to_owned(), upstream[0].clone()));
        self.set_cookies
            .lock()
            .unwrap()
            .extend(header("set-cookie"));
        response
    }

    pub async fn page(&self, step: &str, request: reqwest::RequestBuilder) -> Page {
        let response = self.send(step, request).await;
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status: response.status(),
            location,
            retry_after: None,
            body: response.text().await.unwrap(),
        }
    }

    /// Follows the redirects that stay at the depot (relative, or under its URL).
    pub async fn follow(&self, mut page: Page) -> Page {
        while let Some(location) = page.location.clone() {
            if !location.starts_with('/') && !location.starts_with(&self.base) {
                break;
            }
            let url = self.absolute(&location);
            page = self.page("redirect", self.http.get(url)).await;
        }
        page
    }

    /// Submits the form of `page` that has the field `marker`, with its CSRF token.
    pub async fn submit(
        &self,
        step: &str,
        page: &Page,
        marker: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let action = page.form_with(marker).expect("the form");
        let csrf = page.hidden(&action, "csrf").expect("a csrf field");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let request = self.http.post(self.absolute(&action)).form(&form);
        let next = self.page(step, request).await;
        self.follow(next).await
    }

    /// The instances that answered since `from` (an index into the steps).
    pub fn answered_since(&self, from: usize) -> BTreeSet<String> {
        let upstreams = self.upstreams.lock().unwrap();
        upstreams[from..].iter().map(|(_, u)| u.clone()).collect()
    }

    pub fn steps(&self) -> usize {
        self.upstreams.lock().unwrap().len()
    }
}
