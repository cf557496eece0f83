//! Receiving the registry's notifications: the shared secret the registry sends, and
//! [`Notifications::receive`], which checks an envelope ([`crate::notify`]) and records its
//! events in one transaction ([`RegistryEventStore`]).
//!
//! The secret is made once and kept in the store's settings ([`SECRET_SETTING`]), so every
//! replica and `registry-config` agree on it; the registry sends it as
//! `Authorization: Bearer SECRET` (a static header of its `notifications.endpoints` entry).
//! distribution 2.8 writes those headers into its log at start-up, so the secret is only as
//! secret as that log: the web layer also accepts envelopes only from the addresses of the
//! `notifications_from` setting.
//!
//! What is kept: manifest pushes, mounts and deletions one row each, pulls counted per (UTC
//! day, actor, repository) in one row (a busy registry's pulls would fill the database
//! otherwise), and blob uploads not at all (the manifest push that follows them is the
//! push a person made).
//!
//! An envelope is answered once its events are committed: a `503` (the storage is out) makes
//! the registry send it again later, so nothing is lost, and an event delivered twice is
//! recorded once. Events that fail their checks are logged and counted
//! ([`Notifications::invalid_total`]), never stored; the envelope is still taken, or the
//! registry would send it for ever.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::notify::{EnvelopeError, Event, EventAction, Subject, parse_envelope};
use crate::storage::{AuditQuery, NewRegistryEvent, Storage};

use super::OpError;

/// The setting that holds the secret.
pub const SECRET_SETTING: &str = "notifications_secret";
/// The subject of the tokens registryo signs for itself (the web UI's registry requests): a
/// registry event by it is the registry's side of something done through registryo.
pub const UI_SUBJECT: &str = crate::client::SelfSignedTokens::DEFAULT_SUBJECT;
/// How far apart (seconds) a tag deletion in the UI and the registry's event of it may be to
/// be linked.
pub const LINK_WINDOW_SECS: i64 = 600;

/// The secret the registry sends with its notifications, made on first use and kept in the
/// store, so every replica and `registry-config` read the same one.
pub async fn secret(store: &dyn Storage) -> Result<String, OpError> {
    let fresh = crate::secret::random_token().map_err(|e| OpError::Internal(e.to_string()))?;
    Ok(store.get_or_init_setting(SECRET_SETTING, &fresh).await?)
}

/// At most this many envelopes are written at once (SQLite writes one at a time anyway; the
/// rest of the pool stays free for `/token` and the UI).
pub const WRITERS: usize = 2;
/// How long an envelope waits for a writer before it is refused with `503`.
pub const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why an envelope was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// No `Authorization: Bearer` header with the secret (HTTP 401).
    #[error("no valid notification secret")]
    Unauthorized,
    /// Not an envelope (HTTP 400).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// [`WRITERS`] envelopes were being written for longer than [`BUSY_WAIT`] (HTTP 503: the
    /// registry sends it again).
    #[error("too many notifications at once")]
    Busy,
    /// The events could not be recorded (a 503 when the storage is unavailable).
    #[error("{}", .0.message())]
    Store(OpError),
}

/// What one envelope brought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Events recorded now.
    pub recorded: u64,
    /// Events recorded before (a redelivery).
    pub duplicates: u64,
    /// Events that failed their checks: logged, not stored.
    pub invalid: u64,
    /// Blob uploads, not kept one by one: the manifest pushed with them is.
    pub skipped: u64,
}

/// The receiver: the secret and what it counted.
#[derive(Debug)]
pub struct Notifications {
    secret: String,
    writers: tokio::sync::Semaphore,
    invalid: AtomicU64,
    recorded: AtomicU64,
    /// The namespaces that have series of their own (at most `MAX_NAMESPACES`).
    namespaces: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The `namespace` label of a repository: its first segment if it has one of its own
/// (`team` of `team/app`, `(root)` for `app`), once [`crate::telemetry::MAX_NAMESPACES`]
/// others are known `other`.
fn namespace_label(known: &mut std::collections::HashSet<String>, repository: &str) -> String {
    let ns = match repository.split_once('/') {
        Some((first, _)) => first,
        None => "(root)",
    };
    if known.contains(ns) {
        return ns.to_owned();
    }
    if known.len() < crate::telemetry::MAX_NAMESPACES {
        known.insert(ns.to_owned());
        return ns.to_owned();
    }
    "other".to_owned()
}

impl Notifications {
    /// A receiver accepting `secret`.
    pub fn new(secret: String) -> Notifications {
        Notifications {
            secret,
            writers: tokio::sync::Semaphore::new(WRITERS),
            invalid: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            namespaces: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Events refused since start (for the metrics, once there are some).
    pub fn invalid_total(&self) -> u64 {
        self.invalid.load(Ordering::Relaxed)
    }

    /// Events recorded since start.
    pub fn recorded_total(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    /// Whether `authorization` (the header's value) is `Bearer SECRET`, compared in constant
    /// time.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && crate::secret::same_secret(token.trim().as_bytes(), self.secret.as_bytes())
    }

    /// Checks an envelope sent with `authorization` and records its valid events in one
    /// transaction; a deletion the web UI made (the registry names registryo's own token
    /// subject) is recorded as the person's, linked to its audit event.
    ///
    /// The registry client's digest index ([`crate::client::RegistryClient::learn_digest`])
    /// learns each tag pushed, and forgets a repository where something was deleted, so the
    /// 2.8 delete confirmation's "these tags go too" asks the registry less.
    pub async fn receive(
        &self,
        app: &super::App,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Received, ReceiveError> {
        let (received, events) = self
            .record(app.store().as_ref(), authorization, body)
            .await?;
        if let Some(client) = app.registry.client() {
            for e in &events {
                match (e.action, &e.tag, &e.digest) {
                    (EventAction::Push, Some(tag), Some(digest))
                        if e.subject == Subject::Manifest =>
                    {
                        if let Ok(d) = crate::client::Digest::parse(digest) {
                            client.learn_digest(&e.repository, tag, &d);
                        }
                    }
                    (EventAction::Delete, _, _) => client.forget_digests(&e.repository),
                    _ => {}
                }
            }
        }
        Ok(received)
    }

    async fn record(
        &self,
        store: &dyn Storage,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<(Received, Vec<Event>), ReceiveError> {
        if !self.authorized(authorization) {
            return Err(ReceiveError::Unauthorized);
        }
        let parsed = parse_envelope(body)?;
        let mut received = Received::default();
        let mut events = Vec::with_capacity(parsed.len());
        let mut checked = Vec::with_capacity(parsed.len());
        for event in parsed {
            match event {
                Ok(e) if e.action == EventAction::Push && e.subject == Subject::Blob => {
                    received.skipped += 1;
                }
                Ok(e) => {
                    events.push(record_of(&e));
                    checked.push(e);
                }
                Err(e) => {
                    received.invalid += 1;
                    // Bounded: an envelope holds at most MAX_EVENTS, and each line is short.
                    tracing::warn!(reason = %e, "registry notification event refused");
                }
            }
        }
        self.invalid.fetch_add(received.invalid, Ordering::Relaxed);
        use crate::telemetry::{
            NAMESPACE_BYTES, NAMESPACE_EVENTS, REGISTRY_EVENT_BYTES, REGISTRY_EVENTS,
        };
        metrics::counter!(REGISTRY_EVENTS, "action" => "invalid", "result" => "invalid")
            .increment(received.invalid);
        metrics::counter!(REGISTRY_EVENTS, "action" => "push", "result" => "skipped")
            .increment(received.skipped);
        for e in events.iter_mut() {
            if e.action == "delete" && e.actor.as_deref() == Some(UI_SUBJECT) {
                link_ui_deletion(store, e)
                    .await
                    .map_err(ReceiveError::Store)?;
            }
        }
        if !events.is_empty() {
            let _writer = tokio::time::timeout(BUSY_WAIT, self.writers.acquire())
                .await
                .map_err(|_| ReceiveError::Busy)?
                .map_err(|_| ReceiveError::Busy)?;
            let done = store
                .record_registry_events(&events)
                .await
                .map_err(|e| ReceiveError::Store(e.into()))?;
            received.recorded = done.recorded;
            received.duplicates = done.duplicates;
            // By action only (a fixed list), never by repository: the activity has those.
            // Duplicates are counted apart, without telling which action they were.
            let mut known = self
                .namespaces
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for e in &checked {
                let action = e.action.as_str();
                metrics::counter!(REGISTRY_EVENTS, "action" => action, "result" => "received")
                    .increment(1);
                if e.action == EventAction::Delete {
                    continue;
                }
                let ns = namespace_label(&mut known, e.repository.as_str());
                metrics::counter!(NAMESPACE_EVENTS, "action" => action, "namespace" => ns.clone())
                    .increment(1);
                if let Some(size) = e.size.and_then(|s| u64::try_from(s).ok()) {
                    metrics::counter!(REGISTRY_EVENT_BYTES, "action" => action).increment(size);
                    metrics::counter!(NAMESPACE_BYTES, "action" => action, "namespace" => ns)
                        .increment(size);
                }
            }
            drop(known);
            metrics::counter!(REGISTRY_EVENTS, "action" => "any", "result" => "duplicate")
                .increment(done.duplicates);
            self.recorded.fetch_add(done.recorded, Ordering::Relaxed);
        }
        Ok((received, checked))
    }
}

/// The store's record of a checked event.
pub fn record_of(e: &Event) -> NewRegistryEvent {
    NewRegistryEvent {
        event_id: e.id.clone(),
        at: e.at,
        action: e.action.as_str().to_owned(),
        subject: e.subject.as_str().to_owned(),
        repository: e.repository.as_str().to_owned(),
        from_repository: e.from_repository.as_ref().map(|r| r.as_str().to_owned()),
        tag: e.tag.clone(),
        digest: e.digest.clone(),
        media_type: e.media_type.clone(),
        size: e.size,
        actor: e.actor.as_ref().map(|a| a.as_str().to_owned()),
        remote_addr: e.addr.clone(),
        user_agent: e.user_agent.clone(),
        audit_id: None,
    }
}

/// Finds the UI's tag deletion that `e` (a delete by registryo's own tokens) is the
/// registry's side of: a `registry.tag.untag` of the same `repository:tag` (v3), or a
/// `registry.tag.delete` in the same repository naming the same manifest (2.8), audited
/// within [`LINK_WINDOW_SECS`]. The event then names the person and the audit event.
async fn link_ui_deletion(store: &dyn Storage, e: &mut NewRegistryEvent) -> Result<(), OpError> {
    for action in ["registry.tag.untag", "registry.tag.delete"] {
        let recent = store
            .list_audit_events(&AuditQuery {
                action: Some(action.to_owned()),
                limit: 50,
                ..AuditQuery::default()
            })
            .await?;
        let prefix = format!("{}:", e.repository);
        let found = recent.into_iter().find(|a| {
            let near = (a.at - e.at).abs() <= LINK_WINDOW_SECS;
            let target = a.target.as_deref().unwrap_or("");
            let same = match (&e.tag, &e.digest) {
                (Some(tag), _) => target == format!("{prefix}{tag}"),
                (None, Some(digest)) => {
                    target.starts_with(&prefix)
                        && a.detail
                            .as_deref()
                            .is_some_and(|d| d.contains(&format!("manifest {digest} ")))
                }
                (None, None) => false,
            };
            near && same
        });
        if let Some(a) = found {
            e.actor = a.actor;
            e.audit_id = Some(a.id);
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::namespace_label;

    #[test]
    fn namespaces_are_first_segments_and_at_most_a_hundred() {
        let mut known = std::collections::HashSet::new();
        assert_eq!(namespace_label(&mut known, "team/app"), "team");
        assert_eq!(namespace_label(&mut known, "team/a/b"), "team");
        assert_eq!(namespace_label(&mut known, "app"), "(root)");
        for i in 0..200 {
            namespace_label(&mut known, &format!("n{i}/x"));
        }
        assert_eq!(known.len(), crate::telemetry::MAX_NAMESPACES);
        assert_eq!(namespace_label(&mut known, "n150/x"), "other");
        assert_eq!(namespace_label(&mut known, "team/other"), "team");
    }
}
