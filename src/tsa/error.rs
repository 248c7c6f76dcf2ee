//! Why the depot has no timestamp.

/// Every way of obtaining a proof of reception fails as one of these.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    #[error("no timestamp: the TSA cannot be reached ({0})")]
    Unavailable(String),
    #[error("no timestamp: the TSA refused the request ({0})")]
    Rejected(String),
    #[error("no timestamp: the TSA's reply does not verify ({0})")]
    Invalid(String),
    #[error("no timestamp: the depot cannot authenticate to the TSA ({0})")]
    Auth(String),
}
