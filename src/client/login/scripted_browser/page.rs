//! The pages the scripted browser reads: what a person would see of the server's
//! answer (alert, notice, heading, forms) and what to do next on it.

use reqwest::StatusCode;
use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::{LoginError, Step};

/// A page as a person would read it: the server's answer with the parts that matter,
/// taken out of the HTML at once (the parsed document cannot cross an `await`).
pub(super) struct Page {
    pub(super) url: Url,
    pub(super) status: StatusCode,
    pub(super) location: Option<String>,
    /// An error message for the person (`role="alert"`).
    pub(super) alert: Option<String>,
    /// A notice (`role="status"`).
    pub(super) notice: Option<String>,
    pub(super) heading: String,
    pub(super) forms: Vec<Form>,
}

#[derive(Debug)]
pub(super) struct Form {
    pub(super) action: String,
    pub(super) method: String,
    pub(super) hidden: Vec<(String, String)>,
    pub(super) names: Vec<String>,
    pub(super) radios: Vec<Radio>,
}

#[derive(Debug)]
pub(super) struct Radio {
    pub(super) name: String,
    pub(super) value: String,
    pub(super) checked: bool,
}

fn selector(css: &str) -> Result<Selector, LoginError> {
    Selector::parse(css).map_err(|e| LoginError::Scripted {
        url: String::new(),
        reason: format!("the CSS selector {css:?}: {e}"),
    })
}

/// The visible text of an element, whitespace collapsed.
fn text(element: ElementRef<'_>) -> String {
    element
        .text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Page {
    pub(super) fn read(
        url: Url,
        status: StatusCode,
        location: Option<String>,
        body: &str,
    ) -> Result<Self, LoginError> {
        let html = Html::parse_document(body);
        let first = |css: &str| -> Result<Option<String>, LoginError> {
            Ok(html.select(&selector(css)?).next().map(text))
        };
        let alert = first("[role=alert]")?;
        let notice = first("[role=status]")?;
        let heading = first("h1")?.unwrap_or_default();
        let (hidden, named, radios) = (
            selector("input[type=hidden][name]")?,
            selector("[name]")?,
            selector("input[type=radio][name]")?,
        );
        let attr =
            |e: ElementRef<'_>, name: &str| e.value().attr(name).unwrap_or_default().to_owned();
        let forms = html
            .select(&selector("form")?)
            .map(|form| Form {
                action: attr(form, "action"),
                method: attr(form, "method").to_ascii_lowercase(),
                hidden: form
                    .select(&hidden)
                    .map(|i| (attr(i, "name"), attr(i, "value")))
                    .collect(),
                names: form.select(&named).map(|e| attr(e, "name")).collect(),
                radios: form
                    .select(&radios)
                    .map(|r| Radio {
                        name: attr(r, "name"),
                        value: attr(r, "value"),
                        checked: r.value().attr("checked").is_some(),
                    })
                    .collect(),
            })
            .collect();
        Ok(Self {
            url,
            status,
            location,
            alert,
            notice,
            heading,
            forms,
        })
    }

    pub(super) fn stuck(&self, reason: String) -> LoginError {
        LoginError::Scripted {
            url: self.url.to_string(),
            reason,
        }
    }

    /// Where a redirect goes, resolved against this page's URL.
    pub(super) fn redirect(&self) -> Result<Option<Url>, LoginError> {
        if !self.status.is_redirection() {
            return Ok(None);
        }
        let location = self
            .location
            .as_deref()
            .ok_or_else(|| self.stuck(format!("a {} without Location", self.status)))?;
        self.url
            .join(location)
            .map(Some)
            .map_err(|e| self.stuck(format!("the redirect to {location:?}: {e}")))
    }

    /// The form to fill next: the first of login, profile, consent on this page.
    pub(super) fn next_step(&self) -> Result<(Step, &Form), LoginError> {
        Step::ALL
            .iter()
            .find_map(|step| {
                self.forms
                    .iter()
                    .find(|f| f.names.iter().any(|n| n == step.field()))
                    .map(|form| (*step, form))
            })
            .ok_or_else(|| {
                let reason = match (&self.notice, self.heading.as_str()) {
                    (Some(notice), _) => notice.clone(),
                    (None, "") => format!("HTTP {} without a form to fill", self.status),
                    (None, heading) => format!("{heading:?} has no form to fill"),
                };
                self.stuck(reason)
            })
    }

    /// The URL `form` is sent to; only ever this server.
    pub(super) fn action(&self, form: &Form, server: &url::Origin) -> Result<Url, LoginError> {
        let action = self
            .url
            .join(&form.action)
            .map_err(|e| self.stuck(format!("the form action {:?}: {e}", form.action)))?;
        if action.origin() != *server {
            return Err(self.stuck(format!(
                "a form would send the credentials to another server ({action})"
            )));
        }
        Ok(action)
    }

    /// `wanted` if the page offers it, else the preselected profile.
    pub(super) fn choose_profile(
        &self,
        form: &Form,
        wanted: Option<&str>,
    ) -> Result<String, LoginError> {
        let offered: Vec<&Radio> = form.radios.iter().filter(|r| r.name == "profile").collect();
        let chosen = match wanted {
            Some(wanted) => offered.iter().find(|r| r.value == wanted),
            None => offered
                .iter()
                .find(|r| r.checked)
                .or_else(|| offered.first()),
        };
        chosen.map(|r| r.value.clone()).ok_or_else(|| {
            let values: Vec<&str> = offered.iter().map(|r| r.value.as_str()).collect();
            self.stuck(format!(
                "the profile {} is not offered (offered: {})",
                wanted.unwrap_or("(any)"),
                values.join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE_PAGE: &str = r#"<!DOCTYPE html><html><body><main>
        <h1>Choose a profile</h1>
        <form method="post" action="/login/i-1/profile">
          <input type="hidden" name="csrf" value="tok">
          <fieldset>
            <div><input type="radio" name="profile" value="citizen" checked><label>as a citizen</label></div>
            <div><input type="radio" name="profile" value="professional:12345697004"><label>doctor</label></div>
          </fieldset>
          <button type="submit">Continue</button>
        </form></main></body></html>"#;

    fn page(body: &str, status: StatusCode) -> Page {
        let url = Url::parse("http://localhost:8080/login/i-1").unwrap();
        Page::read(url, status, None, body).unwrap()
    }

    #[test]
    fn the_profile_form_is_read_with_its_csrf_field_and_choices() {
        let page = page(PROFILE_PAGE, StatusCode::OK);
        let (step, form) = page.next_step().unwrap();
        assert_eq!(step, Step::Profile);
        assert_eq!(form.hidden, vec![("csrf".to_owned(), "tok".to_owned())]);
        assert_eq!(form.method, "post");
        assert_eq!(page.choose_profile(form, None).unwrap(), "citizen");
        assert_eq!(
            page.choose_profile(form, Some("professional:12345697004"))
                .unwrap(),
            "professional:12345697004"
        );
        let refused = page.choose_profile(form, Some("organization:0203201340"));
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("offered: citizen"),
            "the error lists what is offered"
        );
        let server = Url::parse("http://localhost:8080/").unwrap().origin();
        assert_eq!(
            page.action(form, &server).unwrap().as_str(),
            "http://localhost:8080/login/i-1/profile"
        );
        let elsewhere = Url::parse("https://attacker.example/").unwrap().origin();
        assert!(page.action(form, &elsewhere).is_err());
    }

    #[test]
    fn an_error_message_is_read_as_the_person_sees_it() {
        let body = r#"<main><h1>Log in</h1><p class="error" id="form-error" role="alert">
            The number, the password   or the code is not correct.</p>
            <form method="post" action="/login/i-1"><input name="username"></form></main>"#;
        let page = page(body, StatusCode::UNAUTHORIZED);
        assert_eq!(
            page.alert.as_deref(),
            Some("The number, the password or the code is not correct.")
        );
        assert_eq!(page.next_step().unwrap().0, Step::Login);
    }

    #[test]
    fn a_page_without_a_known_form_says_where_it_is_stuck() {
        let page = page("<h1>Account</h1><p>nothing</p>", StatusCode::OK);
        let stuck = page.next_step().unwrap_err().to_string();
        assert!(stuck.contains("\"Account\" has no form"), "{stuck}");
    }
}
