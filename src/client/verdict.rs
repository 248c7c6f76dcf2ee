//! What opening a message established: one line per check, passed or failed, with
//! what it proved or why it failed (see [`super::open`] for the checks).

use chrono::{DateTime, Utc};

/// One check and its outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// What opening a message established.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub checks: Vec<Check>,
    /// The signed payload, when every check passed.
    pub payload: Option<Vec<u8>>,
    /// When the depot received the message (the timestamp's genTime).
    pub gen_time: Option<DateTime<Utc>>,
}

impl Verdict {
    pub fn valid(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The first check that failed.
    pub fn failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.passed)
    }

    /// Whether the check called `name` failed.
    pub fn failed(&self, name: &str) -> bool {
        self.checks.iter().any(|c| c.name == name && !c.passed)
    }

    pub(super) fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            passed: true,
            detail: detail.into(),
        });
    }

    pub(super) fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            passed: false,
            detail: detail.into(),
        });
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for check in &self.checks {
            let mark = if check.passed { "ok  " } else { "FAIL" };
            writeln!(f, "  [{mark}] {}: {}", check.name, check.detail)?;
        }
        let result = if self.valid() {
            "VALID: every check passed"
        } else {
            "INVALID: do not trust this message"
        };
        write!(f, "  => {result}")
    }
}

/// The names of the checks, as verdicts report them.
pub mod checks {
    pub const DECRYPT: &str = "decrypt";
    pub const TIMESTAMP: &str = "timestamp";
    pub const SIGNED_FORM: &str = "signed form";
    pub const KEY_REFERENCE: &str = "key reference";
    pub const KEY_AT_TIMESTAMP: &str = "signer's key at genTime";
    pub const KEY_LOGGED: &str = "signer's key in the keystore's log";
    pub const SIGNATURE: &str = "signature";
}
