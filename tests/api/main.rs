//! Integration tests: the real service on a random port, real HTTP, real cryptography.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod authorize;
mod chromium;
mod cli;
mod client;
mod client_login;
mod code_exchange;
mod configuration;
mod container_image;
mod delegation;
mod depot;
mod discovery;
mod dpop;
mod exchange;
mod federation;
mod forms;
mod helpers;
mod introspection;
mod keys;
mod login;
mod management;
mod migrations;
mod operations;
mod permissions;
mod persons;
mod proxies;
mod proxy_topology;
mod registry_cache;
mod relying_party;
mod resource;
mod saml;
mod symkeys;
mod token;
mod tsa;
mod two_instances;
