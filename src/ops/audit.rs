//! The privacy audit stream: who read or looked up which message or key, and when,
//! naming the person (their SSIN, or the system client). It is kept apart from the
//! operational log, which names no person (keyed pseudonyms only): a JSON line per
//! event in its own file (`audit_log`, by default `audit.log` in the data directory,
//! readable by the service's user alone). Symmetric-key decisions are also kept in the
//! database (`GET /admin/symkeys/audit`).

/// The `tracing` target of audit events; the operational log leaves it out.
pub const TARGET: &str = "audit";

/// Records that `who` (an owner: `ssin:…` or `client:…`) did `action` on `what`.
pub fn record(action: &'static str, who: &str, what: &str) {
    tracing::info!(target: TARGET, action, who, what);
}
