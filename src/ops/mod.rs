//! Operations: health, metrics, request ids, logging, the audit stream.

pub mod audit;
pub mod forwarded;
pub mod metrics;
pub mod routes;
pub mod spans;
pub mod telemetry;
