//! # registryo-http
//!
//! The axum web layer of Registryo: the `/token` endpoint (registryo-core's tower service
//! mounted in axum), health and JWKS, and the accounts backend over the SQL store (argon2id
//! passwords, a cache of verified credentials, refresh tokens, the compiled policy).
#![deny(missing_docs)]

pub mod accounts;
pub mod app;
pub mod keys;
pub mod passwords;
