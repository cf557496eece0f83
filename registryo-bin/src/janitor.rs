//! The janitor: what `registryo serve` removes and renews once an hour (expired sessions and
//! tokens, old audit and registry events, the change log's old rows, a signing key due for
//! renewal).

use registryo_core::storage::prelude::*;
use std::time::Duration;

use anyhow::Result;
use registryo_core::app::attempts::USUAL_ADDRESS_DAYS;
use registryo_core::app::ops;
use registryo_store::Store;

use crate::config::Settings;
use crate::server::registry_probe;

/// What [`tidy`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tidied {
    /// Expired web sessions.
    pub sessions: u64,
    /// Expired password reset and invitation tokens.
    pub password_tokens: u64,
    /// Refresh tokens revoked more than [`KEEP_REVOKED_SECS`] ago.
    pub refresh_tokens: u64,
    /// Audit events older than the retention (`audit_retention_days`).
    pub audit_events: u64,
    /// Failed password counts older than an hour (the guessing limits look at two minutes).
    pub auth_failures: u64,
    /// Sign-in addresses not seen for [`USUAL_ADDRESS_DAYS`].
    pub addresses: u64,
    /// Policy change-log rows older than [`KEEP_POLICY_CHANGES_SECS`] (a server whose policy
    /// is older than the log rebuilds it).
    pub policy_changes: u64,
}

/// How long revoked refresh tokens stay listed (a user's profile shows them) before removal.
pub const KEEP_REVOKED_SECS: i64 = 30 * 86_400;

/// Remove what can never be used again: expired sessions and password tokens, refresh tokens
/// revoked long ago, failure counts past the guessing limits' window, stale sign-in addresses,
/// and audit events past `audit_retention_days` (0 keeps them forever).
pub async fn tidy(store: &Store, now: i64, audit_retention_days: u64) -> Result<Tidied> {
    let audit_events = match i64::try_from(audit_retention_days) {
        Ok(days) if days > 0 => {
            store
                .prune_audit_events(now.saturating_sub(days.saturating_mul(86_400)))
                .await?
        }
        _ => 0,
    };
    Ok(Tidied {
        sessions: store.delete_expired_sessions().await?,
        password_tokens: store.purge_password_tokens(now).await?,
        refresh_tokens: store
            .purge_revoked_refresh_tokens(now - KEEP_REVOKED_SECS)
            .await?,
        audit_events,
        auth_failures: store
            .prune_auth_failures(registryo_core::throttle::bucket(now) - 60)
            .await?,
        addresses: store
            .prune_user_addresses(now - USUAL_ADDRESS_DAYS * 86_400)
            .await?,
        policy_changes: store
            .prune_policy_changes(now - KEEP_POLICY_CHANGES_SECS)
            .await?,
    })
}

/// How long the policy change log is kept, in seconds: every running server reads it within a
/// second, so a day is for servers paused or cut off for a while.
pub const KEEP_POLICY_CHANGES_SECS: i64 = 86_400;

/// Run [`tidy`] and [`renew_keys`] at start-up and then every `every`.
pub(crate) fn spawn_janitor(
    store: Store,
    settings: Settings,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = registryo_core::time::unix_now();
            match tidy(&store, now, settings.audit_retention_days).await {
                Ok(t) if t != Tidied::default() => tracing::info!(?t, "removed expired records"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not remove expired records"),
            }
            match prune_activity(&store, now, &settings).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "removed old registry events"),
                Err(e) => tracing::warn!(error = %e, "could not remove old registry events"),
            }
            renew_keys(&store, &settings).await;
        }
    })
}

/// How long the ids of counted pulls are remembered (a pull delivered again within it is
/// counted once): a day, long after the registry stopped retrying (it retries within
/// minutes); the other events are unique on their id for as long as they are kept.
pub const KEEP_EVENT_IDS_SECS: i64 = 86_400;

/// Removes the registry events past `activity_retention_days` and beyond
/// `activity_max_events` (0: no such limit), and the pulls' ids older than [`KEEP_EVENT_IDS_SECS`].
pub async fn prune_activity(store: &Store, now: i64, settings: &Settings) -> Result<u64> {
    let before = match i64::try_from(settings.activity_retention_days) {
        Ok(days) if days > 0 => now.saturating_sub(days.saturating_mul(86_400)),
        _ => i64::MIN,
    };
    let keep = match settings.activity_max_events {
        0 => u64::MAX,
        n => n,
    };
    Ok(store
        .prune_registry_events(before, keep, now - KEEP_EVENT_IDS_SECS)
        .await?)
}

/// Rotates the keys when the signing key's certificate is due for renewal (`bundle` mode; with
/// `registry_url`, only once the registry trusts the next key). Not in `jwks` mode: a registry
/// reading a JWKS checks no certificate, so nothing expires, and it learns a new key only when
/// it restarts; the operator rotates there.
async fn renew_keys(store: &Store, settings: &Settings) {
    if settings.registry_keys == crate::config::RegistryKeys::Jwks {
        return;
    }
    let probe = registry_probe(settings);
    let renewed = ops::renew_keys_if_due(
        store,
        settings.key_algorithm,
        &settings.issuer,
        probe.as_ref(),
    )
    .await;
    match renewed {
        Ok(Some(keys)) => tracing::info!(
            kid = keys
                .keys
                .first()
                .map(|k| k.kid(registryo_core::token::KidStyle::Rfc7638)),
            "renewed the signing key (its certificate was due to expire)"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e.message(), "could not renew the signing key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registryo_store::{NewPasswordToken, NewSession, NewUser, TokenPurpose, UserKind};

    #[tokio::test]
    async fn tidy_removes_only_what_can_never_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
        let store = Store::connect(&url).await.unwrap();
        let user = store
            .create_user(
                &NewUser::new("alice".parse().unwrap(), UserKind::Human),
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let hex = |c: char| std::iter::repeat_n(c, 64).collect::<String>();
        for (id, expires_at) in [(hex('a'), now - 10), (hex('b'), now + 3600)] {
            store
                .create_session(
                    &NewSession {
                        id_hash: id,
                        user_id: user.id,
                        csrf_token: "csrf".into(),
                        expires_at,
                    },
                    &|_| Vec::new(),
                )
                .await
                .unwrap();
        }
        for (hash, expires_at) in [(hex('c'), now - 10), (hex('d'), now + 3600)] {
            store
                .insert_password_token(
                    &NewPasswordToken {
                        user_id: user.id,
                        token_hash: hash,
                        purpose: TokenPurpose::Reset,
                        expires_at,
                    },
                    &|_| Vec::new(),
                )
                .await
                .unwrap();
        }
        // Failure counts of two hours ago and of now; an audit event made now.
        let event = registryo_store::NewAuditEvent {
            action: "auth.failed".into(),
            ..Default::default()
        };
        let minute = registryo_core::throttle::bucket(now);
        for m in [minute - 120, minute] {
            store
                .record_auth_failure("alice", "10.0.0.1", m, &event, &format!("k{m}"))
                .await
                .unwrap();
        }
        let t = tidy(&store, now, 400).await.unwrap();
        assert_eq!(t.sessions, 1);
        assert_eq!(t.password_tokens, 1);
        assert_eq!(t.auth_failures, 1, "older than an hour");
        assert_eq!(t.audit_events, 0, "within the retention");
        assert_eq!(
            store
                .auth_failures("alice", "10.0.0.1", 0)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store.get_session(&hex('b')).await.unwrap().is_some());
        let left = store.list_password_tokens(user.id).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].expires_at, now + 3600);
        // Nothing more to do the second time.
        assert_eq!(tidy(&store, now, 400).await.unwrap(), Tidied::default());
        // Past the retention, audit events go (0 days keeps them forever).
        let later = now + 401 * 86_400;
        assert_eq!(tidy(&store, later, 0).await.unwrap().audit_events, 0);
        assert_eq!(tidy(&store, later, 400).await.unwrap().audit_events, 2);
    }
}
