//! The application: what a registry token server does beyond the protocol — accounts and
//! their password checks under the guessing limits, the compiled policy, and the admin
//! operations. It reaches storage only through [`crate::storage`]'s traits.
//!
//! - [`accounts`]: [`Accounts`], the token service's backend: the one
//!   password check, the credential cache, refresh tokens, the policy snapshot.
//! - [`attempts`]: the guessing limits over the store.
//! - [`keys`]: the signing keys kept in the store, shared by replicas, rotated in two steps.
//! - [`mail`]: the mail port and the reset and invitation messages.
//! - [`notifications`]: the registry's notifications received: the secret, the events recorded.
//! - [`ops`]: the administrative operations, each written once for every front end.
//! - [`passwords`]: argon2id verification on a small pool of threads with reused memory.
//! - [`registry`]: the registry client with self-signed tokens and the catalog cache.
//! - [`reset`]: password reset and invitation links.
//! - [`sessions`]: web sessions: signing in, the session a cookie names, signing out.
//! - [`snapshot`]: the compiled policy and what it knows of each user.
//! - [`error`]: [`OpError`], the operations' one error, which front ends map once.

pub mod accounts;
pub mod attempts;
pub mod keys;
pub mod mail;
pub mod notifications;
pub mod ops;
pub mod passwords;
pub mod registry;
pub mod reset;
pub mod sessions;
pub mod snapshot;

pub mod error;
pub use error::OpError;

use std::sync::Arc;

use accounts::Accounts;
use keys::SharedKeys;
use mail::Mail;
use notifications::Notifications;
use registry::{RegistryBrowser, RegistryOptions};

use crate::client::RegistryError;
use crate::storage::Storage;

/// The application: what every front end (the web UI, the JSON API, the command line) hands
/// to the [`ops`] — the accounts over the store, the signing keys, e-mail when configured,
/// and the registry when configured. Cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    /// Users, passwords, refresh tokens and the policy.
    pub accounts: Accounts,
    /// The signing keys.
    pub keys: Arc<SharedKeys>,
    /// E-mail (password reset, invitations), when configured.
    pub mail: Option<Arc<Mail>>,
    /// The registry (disabled unless [`App::with_registry`] was called).
    pub registry: Arc<RegistryBrowser>,
    /// The registry's notifications, when received ([`App::with_notifications`]).
    pub notifications: Option<Arc<Notifications>>,
}

impl App {
    /// The application over these accounts and keys, without e-mail or a registry.
    pub fn new(accounts: Accounts, keys: Arc<SharedKeys>) -> App {
        App {
            accounts,
            keys,
            mail: None,
            registry: Arc::new(RegistryBrowser::disabled()),
            notifications: None,
        }
    }

    /// The same application receiving the registry's notifications sent with `secret`
    /// ([`notifications::secret`]).
    pub fn with_notifications(mut self, secret: String) -> App {
        self.notifications = Some(Arc::new(Notifications::new(secret)));
        self
    }

    /// The same application with e-mail: "forgot password" and invitations.
    pub fn with_mail(mut self, mail: Mail) -> App {
        self.mail = Some(Arc::new(mail));
        self
    }

    /// The same application with the registry at `url` (`http(s)://host[:port]`), reached
    /// with tokens it signs for itself for `issuer` and `service` (the registry's
    /// `auth.token` settings).
    pub fn with_registry(
        mut self,
        url: &str,
        issuer: &str,
        service: &str,
        options: RegistryOptions,
    ) -> Result<App, RegistryError> {
        let browser =
            RegistryBrowser::connect(url, Arc::clone(&self.keys), issuer, service, options)?;
        self.registry = Arc::new(browser);
        Ok(self)
    }

    /// The store behind the accounts.
    pub fn store(&self) -> &Arc<dyn Storage> {
        self.accounts.store()
    }
}
