//! # registryo-core
//!
//! The framework-agnostic pieces of a token server for the Docker registry
//! (CNCF *distribution*) token authentication:
//!
//! - [`app`] (feature `app`, on by default): the application: accounts, password checks, the
//!   policy snapshot, the admin operations, reset links, the registry browser.
//! - [`scope`]: parse and print the scopes clients ask for (`repository:a/b:pull,push`).
//! - [`names`]: account and group names ([`names::Username`], [`names::GroupName`]).
//! - [`notify`]: the registry's notification envelopes, parsed and checked into events.
//! - [`acl`]: rules on repository patterns, compiled into an index; decisions and explanations.
//! - [`token`]: signing keys, certificates, key ids, JWKS, signing and verifying tokens.
//! - [`throttle`]: guessing limits for password checks.
//! - [`storage`]: the storage ports (traits by capability) and their records.
//! - [`service`]: the `/token` endpoint as a tower `Service` over `http` types.
//! - [`layer`]: a "registry token required" tower layer for servers of the registry API.
//! - [`memory`]: an in-memory backend for the token service, for tests and examples.
//! - [`telemetry`]: the metrics it records (through the `metrics` facade) and how to add one.
//! - [`time`]: unix time and RFC 3339 dates.
//! - [`envelope`]: the Docker error envelope.
//! - `client` (feature `client`): a registry client that mints its own tokens, as tower services.
//! - `testing` (feature `test-support`, for the workspace's tests only): a free port, a token's
//!   parts, a throwaway registry.
//!
//! **Invariant:** this crate depends on no web framework and no database. Its services are
//! plain [`tower_service::Service`]s over [`http`] types, usable from any tower-based server.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod acl;
#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "client")]
pub mod client;
pub mod envelope;
pub mod layer;
pub mod memory;
pub mod names;
pub mod notify;
pub mod scope;
pub mod secret;
pub mod service;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod throttle;
pub mod time;
pub mod token;
