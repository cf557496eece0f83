//! # registryo-http
//!
//! The axum web layer of Registryo: the `/token` endpoint (registryo-core's tower service
//! mounted in axum), health and JWKS, and the accounts backend over the SQL store (argon2id
//! passwords, a cache of verified credentials, refresh tokens, the compiled policy), the
//! server-rendered web UI and the JSON admin API under `/api/v1`.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod api;
pub mod app;
pub mod error;
pub mod forwarded;
pub mod mail;
pub mod reset;
pub mod session;
pub mod ui;
