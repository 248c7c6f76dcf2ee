//! Logging: `tracing` with the request id of `tracing-actix-web` on every line of a
//! request, as text or JSON lines; and, apart from it, the audit stream (`ops::audit`)
//! as JSON lines in its own file.

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use super::audit;
use crate::config::LogFormat;

pub fn init(format: LogFormat, filter: &str) {
    // Without an audit file, audit events go nowhere (they never reach the log).
    let _ = try_init(format, filter, None);
}

/// The log as configured, and audit events appended to `audit_file` (created 0600).
pub fn init_with_audit(format: LogFormat, filter: &str, audit_file: &Path) -> std::io::Result<()> {
    try_init(format, filter, Some(audit_file))
}

fn try_init(format: LogFormat, filter: &str, audit_file: Option<&Path>) -> std::io::Result<()> {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let not_audit = tracing_subscriber::filter::filter_fn(|meta| meta.target() != audit::TARGET);
    let log = match format {
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text => fmt::layer().boxed(),
    }
    .with_filter(not_audit)
    .with_filter(filter);
    let audit = audit_file
        .map(|path| {
            crate::files::private_file(path)?;
            let file = std::fs::OpenOptions::new().append(true).open(path)?;
            Ok::<_, std::io::Error>(
                fmt::layer()
                    .json()
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(Mutex::new(file))
                    .with_filter(Targets::new().with_target(audit::TARGET, tracing::Level::INFO)),
            )
        })
        .transpose()?;
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(audit)
        .try_init();
    Ok(())
}
