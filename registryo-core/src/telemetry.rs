//! Metrics: every series the library records, named once here, recorded through the
//! [`metrics`] facade.
//!
//! The facade records nothing until a program installs a recorder (`registryo serve` installs
//! a Prometheus one and serves it at `/metrics`; an embedder may install any, or none). The
//! parts on a hot path take their **handles when they are made** (the token service, the
//! password pool, `Accounts`): a count is then one atomic add, with no lookup, lock or
//! allocation of ours. So install the recorder *before* building them: a part made earlier
//! keeps no-op handles. Rare events (a database or registry error, a UI page) are recorded by
//! the facade's macros where they happen.
//!
//! # The series
//! | name | type | labels |
//! |---|---|---|
//! | `registryo_token_requests_total` | counter | `grant_type` (`anonymous`, `password`, `refresh_token`, `unparsed`), `outcome` (`ok`, `denied`: a `200` holding less than asked, `bad_request`, `wrong_service`, `unauthorized`, `throttled`, `unavailable`, `error`) |
//! | `registryo_token_request_duration_seconds` | histogram | `grant_type` |
//! | `registryo_argon2_queue_length` | gauge | — (jobs waiting for an argon2 thread) |
//! | `registryo_argon2_duration_seconds` | histogram | `op` (`verify`, `hash`) |
//! | `registryo_credential_cache_lookups_total` | counter | `cache` (`password`, `refresh_token`), `result` (`hit`, `miss`) |
//! | `registryo_throttled_attempts_total` | counter | `channel` (`token`, `sign_in`, `api`, `profile`) |
//! | `registryo_policy_reload_duration_seconds` | histogram | `kind` (`changes`: followed the change log, `rebuild`) |
//! | `registryo_policy_rules`, `registryo_policy_users` | gauge | — (the policy in force) |
//! | `registryo_database_errors_total` | counter | `kind` (`full`, `io`, `unreachable`, `timeout`, `busy`, `read_only`, `other`) |
//! | `registryo_registry_requests_total` | counter | `result` (`2xx` … `5xx`, `timeout`, `unreachable`, `too_large`, `error`) |
//! | `registryo_registry_request_duration_seconds` | histogram | — |
//! | `registryo_http_requests_total` | counter | `route` (the route's template, `unmatched`), `method`, `status` (`2xx` … `5xx`) |
//! | `registryo_http_request_duration_seconds` | histogram | `route` |
//! | `registryo_registry_events_total` | counter | `action` (`push`, `pull`, `mount`, `delete`; `invalid`; `any` for duplicates), `result` (`received`: checked and taken, `duplicate`: of those, a redelivery, `skipped`: a blob upload, `invalid`: refused) |
//! | `registryo_registry_event_bytes_total` | counter | `action` (`push`, `pull`, `mount`: the sizes the registry reported, as received) |
//! | `registryo_namespace_events_total`, `registryo_namespace_bytes_total` | counter | `action` (`push`, `pull`, `mount`), `namespace` (the repository's first segment, from the registry's authenticated notifications only; the first 100 seen, then `other`) |
//!
//! # Adding a metric
//! 1. A name here, `registryo_<what>_<unit>` (`_total` for a counter, `_seconds`, `_bytes`),
//!    added to the table above and to [`describe`] with its help text.
//! 2. Labels whose values come **from a fixed list** (an enum's `as_str`, a status class, a
//!    route template): never a user, repository, address or anything else a client chooses,
//!    so that no request can add a series (`registryo-bin`'s `server::metrics` test sends
//!    random names and paths and checks that no series appears).
//! 3. On a hot path, take the handles once where the part is built (as [`TokenMetrics`]
//!    does); elsewhere `metrics::counter!(NAME, "label" => value).increment(1)` where it
//!    happens is enough.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

/// Token requests answered, by grant type and outcome.
pub const TOKEN_REQUESTS: &str = "registryo_token_requests_total";
/// How long token requests took, by grant type.
pub const TOKEN_DURATION: &str = "registryo_token_request_duration_seconds";
/// argon2 jobs waiting for a thread of the password pool.
pub const ARGON2_QUEUE: &str = "registryo_argon2_queue_length";
/// How long one argon2 verification or hash took on its thread.
pub const ARGON2_DURATION: &str = "registryo_argon2_duration_seconds";
/// Look-ups of remembered credentials and refresh tokens.
pub const CREDENTIAL_CACHE: &str = "registryo_credential_cache_lookups_total";
/// Password checks refused by the guessing limits without looking at the password.
pub const THROTTLED: &str = "registryo_throttled_attempts_total";
/// How long a policy reload took.
pub const POLICY_RELOAD_DURATION: &str = "registryo_policy_reload_duration_seconds";
/// Rules in the policy in force.
pub const POLICY_RULES: &str = "registryo_policy_rules";
/// Users in the policy in force.
pub const POLICY_USERS: &str = "registryo_policy_users";
/// Database errors (outages by kind, and other driver errors); recorded by the store.
pub const DATABASE_ERRORS: &str = "registryo_database_errors_total";
/// Requests to the registry (the UI's browsing, key checks), by status class or failure.
pub const REGISTRY_REQUESTS: &str = "registryo_registry_requests_total";
/// How long requests to the registry took.
pub const REGISTRY_DURATION: &str = "registryo_registry_request_duration_seconds";
/// Web UI, admin API and other HTTP requests (not `/token`), by route template, method and
/// status class; recorded by the web layer.
pub const HTTP_REQUESTS: &str = "registryo_http_requests_total";
/// How long those requests took, by route template.
pub const HTTP_DURATION: &str = "registryo_http_request_duration_seconds";
/// The registry's notification events received, by action and what became of them. Not by
/// repository or namespace: no label a client chooses (the activity API has those).
pub const REGISTRY_EVENTS: &str = "registryo_registry_events_total";
/// The bytes the registry reported pushed, pulled and mounted.
pub const REGISTRY_EVENT_BYTES: &str = "registryo_registry_event_bytes_total";
/// Pushes, pulls and mounts by repository namespace (the first segment of the name). The one
/// label whose values come from outside a fixed list: only from the registry's notifications
/// (a secret and an allowed address), about repositories that exist, and at most
/// [`MAX_NAMESPACES`] of them (the rest are `other`), so no client can add series at will.
pub const NAMESPACE_EVENTS: &str = "registryo_namespace_events_total";
/// The bytes of those, by namespace.
pub const NAMESPACE_BYTES: &str = "registryo_namespace_bytes_total";
/// At most this many namespaces get series of their own.
pub const MAX_NAMESPACES: usize = 100;

/// The bucket bounds, in seconds, of every `_seconds` histogram: from a credential-cache hit
/// (well under a millisecond) to a slow registry (10 s).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Tells the installed recorder what every series is (help text and unit). Call once, after
/// installing it.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        TOKEN_REQUESTS,
        "Token requests answered, by grant type and outcome (denied: a 200 holding less than asked)"
    );
    describe_histogram!(
        TOKEN_DURATION,
        Unit::Seconds,
        "How long token requests took, by grant type"
    );
    describe_gauge!(ARGON2_QUEUE, "argon2 jobs waiting for a password thread");
    describe_histogram!(
        ARGON2_DURATION,
        Unit::Seconds,
        "How long one argon2id verification or hash took on its thread"
    );
    describe_counter!(
        CREDENTIAL_CACHE,
        "Look-ups of remembered credentials (password) and verified refresh tokens"
    );
    describe_counter!(
        THROTTLED,
        "Password checks refused by the guessing limits, by channel"
    );
    describe_histogram!(
        POLICY_RELOAD_DURATION,
        Unit::Seconds,
        "How long a policy reload took (changes: by the change log; rebuild: the whole policy)"
    );
    describe_gauge!(POLICY_RULES, "Rules in the policy in force");
    describe_gauge!(POLICY_USERS, "Users in the policy in force");
    describe_counter!(DATABASE_ERRORS, "Database errors, by kind");
    describe_counter!(
        REGISTRY_REQUESTS,
        "Requests to the registry, by status class or failure"
    );
    describe_histogram!(
        REGISTRY_DURATION,
        Unit::Seconds,
        "How long requests to the registry took"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests other than /token, by route template, method and status class"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "How long HTTP requests other than /token took, by route template"
    );
    describe_counter!(
        REGISTRY_EVENTS,
        "Registry notification events, by action and result (received, duplicate, skipped, invalid)"
    );
    describe_counter!(
        REGISTRY_EVENT_BYTES,
        Unit::Bytes,
        "Bytes the registry reported pushed, pulled and mounted, as received"
    );
    describe_counter!(
        NAMESPACE_EVENTS,
        "Registry pushes, pulls and mounts by action and repository namespace (first segment; at most 100, the rest other)"
    );
    describe_counter!(
        NAMESPACE_BYTES,
        Unit::Bytes,
        "Bytes pushed, pulled and mounted by action and repository namespace"
    );
}

/// What a token request asked for (the `grant_type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantType {
    /// Not known: the request did not parse (or used another method).
    Unparsed,
    Anonymous,
    Password,
    RefreshToken,
}

impl GrantType {
    const ALL: [GrantType; 4] = [
        GrantType::Unparsed,
        GrantType::Anonymous,
        GrantType::Password,
        GrantType::RefreshToken,
    ];

    fn as_str(self) -> &'static str {
        match self {
            GrantType::Unparsed => "unparsed",
            GrantType::Anonymous => "anonymous",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

/// How a token request ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Denied,
    BadRequest,
    WrongService,
    Unauthorized,
    Throttled,
    Unavailable,
    Error,
}

impl Outcome {
    const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::Denied,
        Outcome::BadRequest,
        Outcome::WrongService,
        Outcome::Unauthorized,
        Outcome::Throttled,
        Outcome::Unavailable,
        Outcome::Error,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::BadRequest => "bad_request",
            Outcome::WrongService => "wrong_service",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Throttled => "throttled",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }
}

/// The token service's handles: every (grant type, outcome) counter and every grant type's
/// histogram, taken once.
pub(crate) struct TokenMetrics {
    requests: [[Counter; Outcome::ALL.len()]; GrantType::ALL.len()],
    duration: [Histogram; GrantType::ALL.len()],
}

impl TokenMetrics {
    pub(crate) fn new() -> TokenMetrics {
        TokenMetrics {
            requests: GrantType::ALL.map(|g| {
                Outcome::ALL.map(|o| {
                    metrics::counter!(TOKEN_REQUESTS, "grant_type" => g.as_str(), "outcome" => o.as_str())
                })
            }),
            duration: GrantType::ALL
                .map(|g| metrics::histogram!(TOKEN_DURATION, "grant_type" => g.as_str())),
        }
    }

    pub(crate) fn record(&self, grant: GrantType, outcome: Outcome, took: Duration) {
        let g = grant as usize;
        self.requests[g][outcome as usize].increment(1);
        self.duration[g].record(took.as_secs_f64());
    }
}

/// The password pool's handles.
#[cfg(feature = "app")]
#[derive(Clone)]
pub(crate) struct PoolMetrics {
    pub(crate) queue: Gauge,
    pub(crate) verify: Histogram,
    pub(crate) hash: Histogram,
}

#[cfg(feature = "app")]
impl PoolMetrics {
    pub(crate) fn new() -> PoolMetrics {
        PoolMetrics {
            queue: metrics::gauge!(ARGON2_QUEUE),
            verify: metrics::histogram!(ARGON2_DURATION, "op" => "verify"),
            hash: metrics::histogram!(ARGON2_DURATION, "op" => "hash"),
        }
    }
}

#[cfg(feature = "app")]
/// A hit and a miss counter of one cache.
pub(crate) struct CacheCounters {
    pub(crate) hit: Counter,
    pub(crate) miss: Counter,
}

#[cfg(feature = "app")]
impl CacheCounters {
    fn new(cache: &'static str) -> CacheCounters {
        CacheCounters {
            hit: metrics::counter!(CREDENTIAL_CACHE, "cache" => cache, "result" => "hit"),
            miss: metrics::counter!(CREDENTIAL_CACHE, "cache" => cache, "result" => "miss"),
        }
    }

    pub(crate) fn record(&self, hit: bool) {
        if hit {
            self.hit.increment(1);
        } else {
            self.miss.increment(1);
        }
    }
}

#[cfg(feature = "app")]
/// The handles of `Accounts`: its caches, the guessing limits, the policy.
pub(crate) struct AccountsMetrics {
    pub(crate) password_cache: CacheCounters,
    pub(crate) refresh_cache: CacheCounters,
    /// By channel, indexed by `Channel as usize`: token, sign-in form, admin API, profile.
    pub(crate) throttled: [Counter; 4],
    pub(crate) reload_changes: Histogram,
    pub(crate) reload_rebuild: Histogram,
    pub(crate) rules: Gauge,
    pub(crate) users: Gauge,
}

#[cfg(feature = "app")]
impl AccountsMetrics {
    pub(crate) fn new() -> AccountsMetrics {
        AccountsMetrics {
            password_cache: CacheCounters::new("password"),
            refresh_cache: CacheCounters::new("refresh_token"),
            throttled: ["token", "sign_in", "api", "profile"]
                .map(|c| metrics::counter!(THROTTLED, "channel" => c)),
            reload_changes: metrics::histogram!(POLICY_RELOAD_DURATION, "kind" => "changes"),
            reload_rebuild: metrics::histogram!(POLICY_RELOAD_DURATION, "kind" => "rebuild"),
            rules: metrics::gauge!(POLICY_RULES),
            users: metrics::gauge!(POLICY_USERS),
        }
    }
}

/// The status class of an HTTP status: `2xx`, `4xx`, …
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_tables_match_their_enums() {
        for (i, g) in GrantType::ALL.iter().enumerate() {
            assert_eq!(*g as usize, i);
        }
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(99), "other");
    }
}
