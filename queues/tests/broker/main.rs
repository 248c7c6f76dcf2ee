//! Integration tests against the real RabbitMQ (`AMQP_URL`, e.g.
//! `amqp://guest:guest@127.0.0.1:5672/%2f`; each broker test prints
//! `skipped: AMQP_URL not set` without it) and a fresh SQLite file with the workspace
//! migrations (plus PostgreSQL when `DATABASE_URL=postgres://…` is set). One binary.
//! Every notification body a test consumes is validated against the published schema
//! (`contract`), and `asyncapi` checks the AsyncAPI document with the official parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod asyncapi;
mod consumer;
mod contract;
mod helpers;
mod outbox;
mod relay;
mod topology;
mod unreachable;
