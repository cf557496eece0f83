//! # registryo-http
//!
//! The axum web layer of Registryo: the `/token` endpoint (registryo-core's tower service
//! mounted in axum), health and JWKS, the server-rendered web UI and the JSON admin API
//! under `/api/v1`, and the SMTP mail sender. The application itself (accounts, the policy,
//! the operations, sessions) is registryo-core's `app`: a handler parses the request, calls
//! one operation and renders its answer, and [`error`] maps the operations' `OpError` to a
//! status once.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod api;
pub mod app;
pub mod error;
pub mod events;
pub mod forwarded;
pub mod mail;
pub mod metrics;
pub mod reset;
pub mod session;
pub mod ui;
