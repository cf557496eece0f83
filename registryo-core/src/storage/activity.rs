//! The records of the registry's activity: what its notifications said
//! ([`crate::notify`]), as the store keeps them.

/// One event to record, from a registry notification (checked by [`crate::notify`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRegistryEvent {
    /// The registry's id for the event: recorded once, however often it is delivered.
    pub event_id: String,
    /// When it happened (unix seconds, the registry's clock).
    pub at: i64,
    /// `push`, `pull`, `mount` or `delete`.
    pub action: String,
    /// `manifest`, `blob`, `tag` or `repository`.
    pub subject: String,
    /// The repository.
    pub repository: String,
    /// For a mount, where the blob came from.
    pub from_repository: Option<String>,
    /// The tag.
    pub tag: Option<String>,
    /// The digest.
    pub digest: Option<String>,
    /// The media type.
    pub media_type: Option<String>,
    /// The size in bytes.
    pub size: Option<i64>,
    /// Who (the token's subject, or for a deletion made in the web UI the person who made
    /// it); `None` for anonymous.
    pub actor: Option<String>,
    /// The client's address.
    pub remote_addr: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The audit event of the same change made through registryo (a tag deletion in the
    /// UI), when this event is the registry's side of it.
    pub audit_id: Option<i64>,
}

impl NewRegistryEvent {
    /// Whether the store aggregates it (a pull) instead of keeping a row of its own.
    pub fn is_pull(&self) -> bool {
        self.action == "pull"
    }
}

/// A recorded event. A pull is not kept one by one: the row of a pull is the day's (UTC)
/// pulls of one actor from one repository, `count` manifests pulled (blobs pulled are
/// added to `size` only), with the time, tag, digest, address and agent of the last one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryEvent {
    /// The store's id, increasing with arrival (a pull row keeps the id of the day's first).
    pub id: i64,
    /// The registry's id (for a pull row: the first pull's).
    pub event_id: Option<String>,
    /// When (for a pull row: the last pull).
    pub at: i64,
    /// `push`, `pull`, `mount` or `delete`.
    pub action: String,
    /// `manifest`, `blob`, `tag` or `repository`.
    pub subject: String,
    /// The repository.
    pub repository: String,
    /// For a mount, where the blob came from.
    pub from_repository: Option<String>,
    /// The tag.
    pub tag: Option<String>,
    /// The digest.
    pub digest: Option<String>,
    /// The media type.
    pub media_type: Option<String>,
    /// The size in bytes (for a pull row: every manifest and blob pulled that day).
    pub size: Option<i64>,
    /// Who; `None` for anonymous.
    pub actor: Option<String>,
    /// The client's address.
    pub remote_addr: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The audit event of the same change made through registryo, if any.
    pub audit_id: Option<i64>,
    /// 1, or for a pull row the manifests pulled.
    pub count: i64,
}

/// What one call of `record_registry_events` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsRecorded {
    /// Events recorded (a pull counted into its day's row is one).
    pub recorded: u64,
    /// Events already recorded before (sent again by the registry), left alone.
    pub duplicates: u64,
}

/// A page request for `list_registry_events`: newest first (by id), `limit` events (0 means
/// 100; at most 1000) with an id below `before_id`, matching every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    /// Only this repository (exactly).
    pub repository: Option<String>,
    /// Only this actor (exactly; `""` for anonymous).
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this tag.
    pub tag: Option<String>,
    /// Only events at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only events before this time (unix seconds).
    pub until: Option<i64>,
    /// Only events older than this id: the last id of the previous page.
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u32,
}
