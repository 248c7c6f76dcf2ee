//! Operations: health, metrics, request ids, logging.

pub mod metrics;
pub mod routes;
pub mod spans;
pub mod telemetry;
