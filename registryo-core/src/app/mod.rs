//! The application: what a registry token server does beyond the protocol — accounts and
//! their password checks under the guessing limits, the compiled policy, and the admin
//! operations. It reaches storage only through [`crate::storage`]'s traits.
//!
//! - [`accounts`]: [`Accounts`](accounts::Accounts), the token service's backend: the one
//!   password check, the credential cache, refresh tokens, the policy snapshot.
//! - [`attempts`]: the guessing limits over the store.
//! - [`keys`]: the signing keys kept in the store, shared by replicas, rotated in two steps.
//! - [`mail`]: the mail port and the reset and invitation messages.
//! - [`passwords`]: argon2id verification on a small pool of threads with reused memory.

pub mod accounts;
pub mod attempts;
pub mod keys;
pub mod mail;
pub mod passwords;

pub mod error;
pub use error::OpError;
