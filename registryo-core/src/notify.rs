//! Registry notifications (`../shared/PROTOCOL.md` §7): the envelopes distribution (2.8 and
//! v3) `POST`s to a `notifications.endpoints` URL, parsed and checked into [`Event`]s.
//!
//! An envelope is `{"events": [...]}` (`application/vnd.docker.distribution.events.v1+json`);
//! v3 sends one event per envelope, older registries may send several. Each event is checked
//! on its own, so that one the receiver cannot take (an unknown action, a repository name
//! outside distribution's grammar, an actor that is no [`Username`]) is reported as an
//! [`InvalidEvent`] without losing the others of its envelope: the receiver still answers
//! `200`, since the registry would otherwise send the same envelope again for ever.
//!
//! ```
//! use registryo_core::notify::{EventAction, parse_envelope};
//!
//! let body = br#"{"events": [{
//!     "id": "1b0d2f7c-0f47-4c5b-9d5b-6c1e2a9e8f10",
//!     "timestamp": "2026-11-29T07:26:57.123456789Z",
//!     "action": "push",
//!     "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 525,
//!                "digest": "sha256:4b8c2e2a6f0d55f7c2a8a3f1b3e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281",
//!                "repository": "team/app", "tag": "1.0",
//!                "url": "http://127.0.0.1:5000/v2/team/app/manifests/sha256:4b8c"},
//!     "request": {"addr": "127.0.0.1:41234", "method": "PUT", "useragent": "docker/28.2.2"},
//!     "actor": {"name": "alice"}
//! }]}"#;
//! let events = parse_envelope(body).unwrap();
//! let event = events[0].as_ref().unwrap();
//! assert_eq!(event.action, EventAction::Push);
//! assert_eq!(event.repository.as_str(), "team/app");
//! assert_eq!(event.actor.as_ref().map(|a| a.as_str()), Some("alice"));
//! assert_eq!(event.addr.as_deref(), Some("127.0.0.1"));
//! ```

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use crate::names::Username;
use crate::scope::RepositoryName;

/// The envelope's media type.
pub const MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";
/// The largest envelope taken (bytes): a v3 envelope is one event of about 1 KiB.
pub const MAX_BODY: usize = 1 << 20;
/// The most events in one envelope.
pub const MAX_EVENTS: usize = 1000;
/// The longest event id, media type, client address or user agent kept (bytes).
pub const MAX_TEXT: usize = 255;

/// What the registry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventAction {
    /// A manifest or blob was uploaded.
    Push,
    /// A manifest or blob was fetched.
    Pull,
    /// A blob was mounted from another repository (a cross-repository push).
    Mount,
    /// A manifest, blob, tag or repository was deleted.
    Delete,
}

impl EventAction {
    /// Every action, in this order.
    pub const ALL: [EventAction; 4] = [
        EventAction::Push,
        EventAction::Pull,
        EventAction::Mount,
        EventAction::Delete,
    ];

    /// The registry's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Push => "push",
            EventAction::Pull => "pull",
            EventAction::Mount => "mount",
            EventAction::Delete => "delete",
        }
    }

    /// The action named `s` (exactly as the registry writes it).
    pub fn parse(s: &str) -> Option<EventAction> {
        EventAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for EventAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about, from its target's URL (`…/manifests/…`, `…/blobs/…`) or, without
/// one, from what the target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A manifest (an image, an index), by digest, maybe with the tag it was pushed or
    /// pulled by.
    Manifest,
    /// A blob (a layer, a config).
    Blob,
    /// A tag alone (v3's untag).
    Tag,
    /// A whole repository (v3's repository deletion).
    Repository,
}

impl Subject {
    /// Its name: `manifest`, `blob`, `tag`, `repository`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Manifest => "manifest",
            Subject::Blob => "blob",
            Subject::Tag => "tag",
            Subject::Repository => "repository",
        }
    }
}

/// One checked event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The registry's id for it, unique per event and the same when the registry sends it
    /// again (delivery is at least once).
    pub id: String,
    /// When it happened (unix seconds).
    pub at: i64,
    /// What the registry did.
    pub action: EventAction,
    /// What to.
    pub subject: Subject,
    /// The repository.
    pub repository: RepositoryName,
    /// For a mount: the repository the blob came from.
    pub from_repository: Option<RepositoryName>,
    /// The tag, when the manifest was pushed or pulled by tag, or the tag deleted.
    pub tag: Option<String>,
    /// The manifest's or blob's digest.
    pub digest: Option<String>,
    /// The manifest's or blob's media type.
    pub media_type: Option<String>,
    /// Its size in bytes.
    pub size: Option<i64>,
    /// Who: the token's subject; `None` for an anonymous request.
    pub actor: Option<Username>,
    /// The client's address (its IP, without the port), when the registry gave a readable one.
    pub addr: Option<String>,
    /// The client's user agent, cut to [`MAX_TEXT`] bytes.
    pub user_agent: Option<String>,
}

/// An event the receiver does not take, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {}: {reason}", id.as_deref().unwrap_or("without an id"))]
pub struct InvalidEvent {
    /// Its id, when it had a usable one.
    pub id: Option<String>,
    /// What is wrong with it.
    pub reason: String,
}

/// An envelope that is not one: nothing in it can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Larger than [`MAX_BODY`].
    #[error("the envelope is larger than {MAX_BODY} bytes")]
    TooLarge,
    /// Not `{"events": [...]}`.
    #[error("not a notification envelope: {0}")]
    Malformed(String),
    /// More than [`MAX_EVENTS`] events.
    #[error("the envelope holds {0} events, more than {MAX_EVENTS}")]
    TooMany(usize),
}

#[derive(Deserialize)]
struct RawEnvelope {
    events: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawEvent {
    id: Option<String>,
    timestamp: Option<String>,
    action: Option<String>,
    target: RawTarget,
    request: RawRequest,
    actor: RawActor,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawTarget {
    media_type: Option<String>,
    size: Option<i64>,
    length: Option<i64>,
    digest: Option<String>,
    repository: Option<String>,
    from_repository: Option<String>,
    url: Option<String>,
    tag: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRequest {
    addr: Option<String>,
    useragent: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawActor {
    name: Option<String>,
}

/// Reads an envelope: every event checked on its own, in the envelope's order.
pub fn parse_envelope(body: &[u8]) -> Result<Vec<Result<Event, InvalidEvent>>, EnvelopeError> {
    if body.len() > MAX_BODY {
        return Err(EnvelopeError::TooLarge);
    }
    let envelope: RawEnvelope =
        serde_json::from_slice(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    if envelope.events.len() > MAX_EVENTS {
        return Err(EnvelopeError::TooMany(envelope.events.len()));
    }
    Ok(envelope.events.into_iter().map(parse_event).collect())
}

/// Checks one event of an envelope (a JSON value).
pub fn parse_event(value: serde_json::Value) -> Result<Event, InvalidEvent> {
    let raw: RawEvent = serde_json::from_value(value).map_err(|e| InvalidEvent {
        id: None,
        reason: format!("not an event: {e}"),
    })?;
    let id = match raw.id.as_deref() {
        Some(id) if !id.is_empty() && id.len() <= MAX_TEXT && printable(id) => id.to_owned(),
        Some("") | None => return Err(invalid(None, "it has no id")),
        Some(_) => return Err(invalid(None, "its id is not 1-255 printable characters")),
    };
    let bad = |reason: String| InvalidEvent {
        id: Some(id.clone()),
        reason,
    };
    let action = raw.action.as_deref().unwrap_or("");
    let action = EventAction::parse(action)
        .ok_or_else(|| bad(format!("unknown action {:?}", cut(action, 40))))?;
    let at = raw
        .timestamp
        .as_deref()
        .and_then(crate::time::parse_rfc3339)
        .filter(|t| *t >= 0)
        .ok_or_else(|| bad("its timestamp is not an RFC 3339 time after 1970".to_owned()))?;
    let t = raw.target;
    let repository = repo_name(t.repository.as_deref(), "repository").map_err(&bad)?;
    let from_repository = match t.from_repository.as_deref() {
        None | Some("") => None,
        Some(r) => Some(repo_name(Some(r), "fromRepository").map_err(&bad)?),
    };
    if action == EventAction::Mount && from_repository.is_none() {
        return Err(bad("a mount without fromRepository".to_owned()));
    }
    let tag = match t.tag.as_deref() {
        None | Some("") => None,
        Some(tag) if is_tag(tag) => Some(tag.to_owned()),
        Some(tag) => return Err(bad(format!("the tag {:?} is not a tag", cut(tag, 40)))),
    };
    let digest = match t.digest.as_deref() {
        None | Some("") => None,
        Some(d) if is_digest(d) => Some(d.to_owned()),
        Some(d) => return Err(bad(format!("the digest {:?} is not a digest", cut(d, 80)))),
    };
    let media_type = match t.media_type.as_deref() {
        None | Some("") => None,
        Some(m) if m.len() <= MAX_TEXT && printable(m) => Some(m.to_owned()),
        Some(_) => {
            return Err(bad(
                "its media type is not 1-255 printable characters".into()
            ));
        }
    };
    let size = match t.size.or(t.length) {
        Some(s) if s < 0 => return Err(bad(format!("a negative size, {s}"))),
        Some(0) | None => None,
        s => s,
    };
    let actor = match raw.actor.name.as_deref() {
        None | Some("") => None,
        Some(name) => Some(Username::new(name).map_err(|e| {
            bad(format!(
                "the actor {:?} is not a username: {e}",
                cut(name, 70)
            ))
        })?),
    };
    let url = t.url.as_deref().unwrap_or("");
    let subject = if url.contains("/manifests/") {
        Subject::Manifest
    } else if url.contains("/blobs/") {
        Subject::Blob
    } else if digest.is_some() {
        match media_type.as_deref() {
            Some(m) if is_manifest_type(m) => Subject::Manifest,
            // A deletion names the repository and the digest only, for a manifest and a blob
            // alike; a blob is deleted through the API only by hand (garbage collection sends
            // nothing), a manifest by every client's delete.
            None if action == EventAction::Delete => Subject::Manifest,
            _ => Subject::Blob,
        }
    } else if tag.is_some() {
        Subject::Tag
    } else {
        Subject::Repository
    };
    if matches!(subject, Subject::Manifest | Subject::Blob) && digest.is_none() {
        return Err(bad(format!(
            "a {} event without a digest",
            subject.as_str()
        )));
    }
    Ok(Event {
        id,
        at,
        action,
        subject,
        repository,
        from_repository,
        tag,
        digest,
        media_type,
        size,
        actor,
        addr: raw.request.addr.as_deref().and_then(client_ip),
        user_agent: raw
            .request
            .useragent
            .as_deref()
            .map(|ua| cut(ua, MAX_TEXT).replace(|c: char| c.is_control(), " "))
            .filter(|ua| !ua.trim().is_empty()),
    })
}

fn invalid(id: Option<String>, reason: &str) -> InvalidEvent {
    InvalidEvent {
        id,
        reason: reason.to_owned(),
    }
}

fn repo_name(name: Option<&str>, field: &str) -> Result<RepositoryName, String> {
    match name {
        None | Some("") => Err(format!("it has no {field}")),
        Some(n) => RepositoryName::new(n)
            .map_err(|e| format!("the {field} {:?} is not a repository name: {e}", cut(n, 80))),
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// distribution's tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The OCI digest grammar, `algorithm:encoded` (at most 255 bytes); `sha256` must be 64
/// lower-case hex digits.
pub fn is_digest(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'=' | b'_' | b'-'));
    let sha256_ok = algorithm != "sha256"
        || (encoded.len() == 64
            && encoded
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    s.len() <= MAX_TEXT && algorithm_ok && encoded_ok && sha256_ok
}

/// A manifest or index media type (Docker schema 1 and 2, OCI).
pub fn is_manifest_type(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.docker.distribution.manifest.")
        || media_type == "application/vnd.oci.image.manifest.v1+json"
        || media_type == "application/vnd.oci.image.index.v1+json"
}

/// The IP of `ip:port`, `[ip]:port` or a bare IP; `None` for anything else.
fn client_ip(addr: &str) -> Option<String> {
    let addr = addr.trim();
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Some(sa.ip().to_string());
    }
    addr.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "sha256:4b8c2e2a6f0d55f7c2a8a3f1b3e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281";

    fn push() -> serde_json::Value {
        json!({
            "id": "e1", "timestamp": "2026-11-29T07:26:57.5Z", "action": "push",
            "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "size": 528, "length": 528, "digest": DIGEST, "repository": "team/app",
                       "url": "http://r/v2/team/app/manifests/sha256:4b8c", "tag": "1.0"},
            "request": {"id": "r1", "addr": "[::1]:5555", "host": "r", "method": "PUT",
                        "useragent": "docker/28.2.2 go/go1.24"},
            "actor": {"name": "alice"},
            "source": {"addr": "host:5000", "instanceID": "x"}
        })
    }

    fn with(
        mut v: serde_json::Value,
        path: &[&str],
        value: serde_json::Value,
    ) -> serde_json::Value {
        let mut at = &mut v;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        v
    }

    #[test]
    fn a_push_reads_whole() {
        let e = parse_event(push()).unwrap();
        assert_eq!(e.id, "e1");
        assert_eq!(e.at, 1_795_937_217);
        assert_eq!(
            (e.action, e.subject),
            (EventAction::Push, Subject::Manifest)
        );
        assert_eq!(e.repository.as_str(), "team/app");
        assert_eq!(e.tag.as_deref(), Some("1.0"));
        assert_eq!(e.digest.as_deref(), Some(DIGEST));
        assert_eq!(e.size, Some(528));
        assert_eq!(e.addr.as_deref(), Some("::1"));
        assert_eq!(e.user_agent.as_deref(), Some("docker/28.2.2 go/go1.24"));
        assert_eq!(e.actor.unwrap().as_str(), "alice");
    }

    #[test]
    fn subjects_mounts_deletes_and_anonymous_pulls() {
        let blob = with(
            with(
                push(),
                &["target", "url"],
                json!("http://r/v2/team/app/blobs/sha256:4b8c"),
            ),
            &["target", "mediaType"],
            json!("application/octet-stream"),
        );
        assert_eq!(parse_event(blob.clone()).unwrap().subject, Subject::Blob);
        let mount = with(
            with(blob.clone(), &["action"], json!("mount")),
            &["target", "fromRepository"],
            json!("team/base"),
        );
        let m = parse_event(mount).unwrap();
        assert_eq!(m.from_repository.unwrap().as_str(), "team/base");
        let no_from = with(blob, &["action"], json!("mount"));
        assert!(
            parse_event(no_from)
                .unwrap_err()
                .reason
                .contains("fromRepository")
        );
        let untag = json!({"id": "e2", "timestamp": "2026-11-29T07:26:57Z", "action": "delete",
                           "target": {"repository": "team/app", "tag": "1.0"}, "actor": {}});
        let u = parse_event(untag).unwrap();
        assert_eq!((u.subject, u.actor), (Subject::Tag, None));
        let by_digest = json!({"id": "e4", "timestamp": "2026-11-29T07:26:57Z", "action": "delete",
                               "target": {"repository": "team/app", "digest": DIGEST}});
        assert_eq!(parse_event(by_digest).unwrap().subject, Subject::Manifest);
        let repo = json!({"id": "e3", "timestamp": "2026-11-29T07:26:57Z", "action": "delete",
                          "target": {"repository": "team/app"}});
        assert_eq!(parse_event(repo).unwrap().subject, Subject::Repository);
        let pull = with(
            with(push(), &["action"], json!("pull")),
            &["actor", "name"],
            json!(""),
        );
        assert_eq!(parse_event(pull).unwrap().actor, None);
    }

    #[test]
    fn bad_events_are_named_one_per_line() {
        let cases: &[(&[&str], serde_json::Value, &str)] = &[
            (&["id"], json!(""), "no id"),
            (&["id"], json!("x".repeat(256)), "255"),
            (&["action"], json!("promote"), "unknown action"),
            (&["timestamp"], json!("yesterday"), "timestamp"),
            (&["timestamp"], json!("0001-01-01T00:00:00Z"), "timestamp"),
            (
                &["target", "repository"],
                json!("Team/App"),
                "repository name",
            ),
            (&["target", "repository"], json!(null), "no repository"),
            (&["target", "tag"], json!("-x"), "not a tag"),
            (&["target", "digest"], json!("sha256:abc"), "not a digest"),
            (&["target", "digest"], json!(null), "without a digest"),
            (&["target", "size"], json!(-1), "negative"),
            (&["target", "mediaType"], json!("a\nb"), "media type"),
            (&["actor", "name"], json!("Eve<script>"), "not a username"),
            (&["target"], json!("nope"), "not an event"),
        ];
        for (path, value, want) in cases {
            let err = parse_event(with(push(), path, value.clone())).unwrap_err();
            assert!(err.reason.contains(want), "{path:?} = {value}: {err}");
        }
    }

    #[test]
    fn envelopes_keep_the_good_events_of_a_bad_one() {
        let body = json!({"events": [push(), with(push(), &["action"], json!("x")), push()]});
        let got = parse_envelope(body.to_string().as_bytes()).unwrap();
        assert_eq!(got.iter().filter(|e| e.is_ok()).count(), 2);
        assert_eq!(got[1].as_ref().unwrap_err().id.as_deref(), Some("e1"));
        for (body, want) in [
            (b"not json".to_vec(), "not a notification envelope"),
            (br#"{"events": {}}"#.to_vec(), "not a notification envelope"),
            (vec![b' '; MAX_BODY + 1], "larger than"),
            (
                json!({"events": vec![json!({}); MAX_EVENTS + 1]})
                    .to_string()
                    .into_bytes(),
                "more than",
            ),
        ] {
            let err = parse_envelope(&body).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        assert!(parse_envelope(br#"{"events": []}"#).unwrap().is_empty());
    }

    #[test]
    fn addresses_user_agents_and_grammar() {
        assert_eq!(client_ip("10.1.2.3:80").as_deref(), Some("10.1.2.3"));
        assert_eq!(client_ip("10.1.2.3").as_deref(), Some("10.1.2.3"));
        assert_eq!(client_ip("client.local"), None);
        let long = with(push(), &["request", "useragent"], json!("é".repeat(300)));
        let ua = parse_event(long).unwrap().user_agent.unwrap();
        assert!(ua.len() <= MAX_TEXT && ua.chars().all(|c| c == 'é'));
        for tag in ["latest", "_x", "1.0-rc.1", &"a".repeat(128)] {
            assert!(is_tag(tag), "{tag}");
        }
        for tag in ["", ".x", "a/b", &"a".repeat(129), "a b"] {
            assert!(!is_tag(tag), "{tag}");
        }
        assert!(is_digest(DIGEST) && is_digest("sha512+b64u:abc-_="));
        for d in [
            "sha256",
            ":abc",
            "SHA256:ab",
            "sha256:ABC",
            "sha256:",
            "a..b:c",
        ] {
            assert!(!is_digest(d), "{d}");
        }
    }
}
