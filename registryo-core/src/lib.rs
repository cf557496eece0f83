//! # registryo-core
//!
//! The framework-agnostic pieces of a token server for the Docker registry
//! (CNCF *distribution*) token authentication:
//!
//! - [`scope`]: parse and print the scopes clients ask for (`repository:a/b:pull,push`).
//! - [`acl`]: the access-control list, compiled once into an index that decides what a
//!   principal may do on a repository without allocating.
//! - [`token`]: signing keys, key sets (rotation, JWKS, certificate bundle), signing and
//!   verifying registry tokens.
//!
//! **Invariant:** this crate depends on no web framework and no database. Its services are
//! plain [`tower_service::Service`]s over [`http`] types, usable from any tower-based server.
#![deny(missing_docs)]

pub mod acl;
pub mod scope;
pub mod token;
