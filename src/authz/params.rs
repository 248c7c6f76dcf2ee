//! The parameters of an OAuth request, from a query string or a form body: RFC 6749
//! §3.1 and §3.2 (a parameter given twice is an error), except `resource`, which RFC
//! 8707 lets repeat. Parsing stops at [`MAX_PARAMS`], and a repeated name is found with
//! a set as the pairs are read, so a request of thousands of names costs no more than
//! reading its bytes.

use std::collections::HashSet;

/// More parameters than any OAuth request of ours has (an authorization request has
/// about fifteen, plus a few `resource` values).
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request has more than {MAX_PARAMS} parameters")]
pub struct TooManyParams;

/// The parameters, in order, and the first name given more than once (the caller
/// decides how to answer it: the authorization endpoint only once the client's
/// redirect URI is trusted).
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    duplicate: Option<String>,
}

impl Params {
    pub fn parse(text: &[u8]) -> Result<Self, TooManyParams> {
        let mut params = Self::default();
        let mut seen = HashSet::new();
        for (name, value) in url::form_urlencoded::parse(text) {
            if params.pairs.len() == MAX_PARAMS {
                return Err(TooManyParams);
            }
            if params.duplicate.is_none() && name != "resource" && !seen.insert(name.clone()) {
                params.duplicate = Some(name.to_string());
            }
            params.pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(params)
    }

    /// The first parameter other than `resource` given more than once.
    pub fn duplicate(&self) -> Option<&str> {
        self.duplicate.as_deref()
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every non-empty value of a parameter.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.pairs
            .iter()
            .filter(move |(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_repeated_name_is_found_except_resource() {
        let params = Params::parse(b"a=1&resource=x&resource=y&b=2&a=3&b=4").unwrap();
        assert_eq!(params.duplicate(), Some("a"));
        assert_eq!(params.all("resource").collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(
            Params::parse(b"resource=x&resource=y").unwrap().duplicate(),
            None
        );
        assert_eq!(Params::parse(b"a=&b=2").unwrap().get("a"), None);
    }

    #[test]
    fn parsing_stops_past_the_limit() {
        let at_limit: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        assert!(Params::parse(at_limit.join("&").as_bytes()).is_ok());
        let flood: Vec<String> = (0..30_000).map(|i| format!("p{i}")).collect();
        assert_eq!(
            Params::parse(flood.join("&").as_bytes()).unwrap_err(),
            TooManyParams
        );
    }
}
