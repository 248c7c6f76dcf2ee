//! `application/x-www-form-urlencoded` requests of the OAuth endpoints. RFC 6749 §3.2:
//! a parameter sent twice is an error; RFC 8707 lets `resource` repeat.

use super::error::OAuthError;
use super::params::Params;

pub const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Debug, Clone)]
pub struct OAuthForm {
    params: Params,
}

impl OAuthForm {
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, OAuthError> {
        let media = content_type
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if !media.eq_ignore_ascii_case(FORM) {
            return Err(OAuthError::invalid_request(format!(
                "the body must be {FORM}"
            )));
        }
        let params = Params::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
        if let Some(name) = params.duplicate() {
            return Err(OAuthError::invalid_request(format!(
                "the parameter {name} is given more than once"
            )));
        }
        Ok(Self { params })
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("the parameter {name} is required")))
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.params.all(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_refused_except_resource() {
        let ok = OAuthForm::parse(Some(FORM), b"resource=a&resource=b&scope=x").unwrap();
        assert_eq!(ok.all("resource").collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(OAuthForm::parse(Some(FORM), b"scope=a&scope=b").is_err());
        assert!(OAuthForm::parse(Some("application/json"), b"scope=a").is_err());
        let charset = OAuthForm::parse(
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            b"a=1",
        );
        assert_eq!(charset.unwrap().get("a"), Some("1"));
    }
}
