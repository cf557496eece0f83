//! Test support shared by the workspace's tests (feature `test-support`, never in a default
//! build; registryo-core's own tests and registryo-bin's turn it on as a dev-dependency):
//!
//! - [`free_port`]: a port on 127.0.0.1 to start a child on;
//! - [`jwt`]: the parts of a token, read without checking its signature;
//! - [`TestRegistry`] (with the feature `client` too): a throwaway registry, distribution 2.8
//!   (`docker-registry`) or v3 ([`v3_binary`]), and [`push_image`] to fill it.
//!
//! Everything here panics on failure: it is meant for tests, where a panic is a failed test.

use std::net::TcpListener;

pub mod jwt;
#[cfg(feature = "client")]
mod registry;

#[cfg(feature = "client")]
pub use registry::{RegistryConfig, TestRegistry, push_image, v3_binary};

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}
