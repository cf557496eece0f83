//! Which distribution the registry is, as far as deleting goes: 2.8 deletes manifests by digest
//! only (every tag of the manifest goes with it), v3 also removes one tag alone.
//!
//! Measured with Debian's `docker-registry` 2.8.2 and distribution v3.1.1 (both with
//! `storage.delete.enabled: true`):
//!
//! - `GET /v2/` answers both with `Docker-Distribution-Api-Version: registry/2.0`: the header
//!   does not tell them apart (only `Content-Type` differs: `application/json; charset=utf-8`
//!   on 2.8, `application/json` on v3, too thin to rely on).
//! - `DELETE /v2/<name>/manifests/<tag>`: 2.8 answers `400` `DIGEST_INVALID` ("provided digest
//!   did not match uploaded content"), for any tag, known or not, before looking anything up;
//!   v3 answers `202` and removes that tag only (the manifest and its other tags stay), or
//!   `404` `MANIFEST_UNKNOWN` for a tag it does not have. With deleting disabled both answer
//!   `405` `UNSUPPORTED`, by tag and by digest alike, so a delete cannot be the probe.
//! - `GET /v2/<name>/referrers/<digest>` is `404 page not found` (plain text) on both: v3.1.1
//!   has no referrers API, so it cannot be the probe either.
//! - **The probe:** `GET /v2/_catalog?n=-1&last=~`. v3 checks `n` first and answers `400`
//!   `PAGINATION_NUMBER_INVALID`; 2.8 ignores a bad `n` (it takes its default page of 100) and,
//!   since no repository name sorts after `~`, answers `200` `{"repositories":[]}`. It changes
//!   nothing, costs one small reply, and works with deleting disabled.

use std::fmt;
use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use serde::{Deserialize, Serialize};
use tower_service::Service;

use super::error::RegistryError;
use super::registry::RegistryClient;

/// The probe's path: a page size v3 refuses and 2.8 ignores, after every possible name.
pub(crate) const PROBE_PATH: &str = "/v2/_catalog?n=-1&last=~";

/// What the registry is, for deleting tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistryVersion {
    /// distribution 2.x: a tag is deleted by deleting its manifest, with every tag on it.
    V2,
    /// distribution 3.x: `DELETE /v2/<name>/manifests/<tag>` removes that tag alone.
    V3,
}

impl RegistryVersion {
    /// Whether the registry removes one tag alone.
    pub fn untags(self) -> bool {
        self == RegistryVersion::V3
    }

    /// `2` or `3`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RegistryVersion::V2 => "2",
            RegistryVersion::V3 => "3",
        }
    }

    /// `"2"` → V2, `"3"` → V3; anything else is `None`.
    pub fn parse(s: &str) -> Option<RegistryVersion> {
        match s {
            "2" => Some(RegistryVersion::V2),
            "3" => Some(RegistryVersion::V3),
            _ => None,
        }
    }
}

impl fmt::Display for RegistryVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `registry_version` setting: detect the registry's version, or take it as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum VersionSetting {
    /// Ask the registry (once; asked again when an answer contradicts it).
    #[default]
    Auto,
    /// The operator says which it is.
    Fixed(RegistryVersion),
}

impl VersionSetting {
    /// The spellings the setting takes.
    pub const NAMES: &'static [&'static str] = &["auto", "2", "3"];

    /// `auto`, `2` or `3`.
    pub const fn as_str(self) -> &'static str {
        match self {
            VersionSetting::Auto => "auto",
            VersionSetting::Fixed(v) => v.as_str(),
        }
    }

    /// `auto`, `2` or `3`; anything else is `None`.
    pub fn parse(s: &str) -> Option<VersionSetting> {
        match s {
            "auto" => Some(VersionSetting::Auto),
            other => RegistryVersion::parse(other).map(VersionSetting::Fixed),
        }
    }
}

impl fmt::Display for VersionSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for VersionSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Takes `"auto"`, `"2"`, `"3"`, and the numbers 2 and 3 (TOML's `registry_version = 3`).
impl<'de> Deserialize<'de> for VersionSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<VersionSetting, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = VersionSetting;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("auto, 2 or 3")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<VersionSetting, E> {
                VersionSetting::parse(v).ok_or_else(|| E::unknown_variant(v, VersionSetting::NAMES))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<VersionSetting, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<VersionSetting, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The setting and what was detected, shared by a client's clones.
#[derive(Debug, Default)]
pub(crate) struct VersionCell {
    setting: VersionSetting,
    detected: Mutex<Option<RegistryVersion>>,
}

impl VersionCell {
    pub(crate) fn new(setting: VersionSetting) -> VersionCell {
        VersionCell {
            setting,
            detected: Mutex::new(None),
        }
    }

    fn known(&self) -> Option<RegistryVersion> {
        match self.setting {
            VersionSetting::Fixed(v) => Some(v),
            VersionSetting::Auto => *self.detected.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    fn remember(&self, v: RegistryVersion) {
        *self.detected.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
    }

    pub(crate) fn forget(&self) {
        *self.detected.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub(crate) fn setting(&self) -> VersionSetting {
        self.setting
    }
}

/// What the probe's answer says.
pub(crate) fn judge(resp: &Response<Bytes>) -> Verdict {
    if resp.status().is_success() {
        return Verdict::Is(RegistryVersion::V2);
    }
    let e = RegistryError::from_reply(resp.status(), resp.headers(), resp.body());
    if e.codes().contains(&"PAGINATION_NUMBER_INVALID") {
        Verdict::Is(RegistryVersion::V3)
    } else if resp.status().is_server_error() || resp.status() == http::StatusCode::UNAUTHORIZED {
        Verdict::Failed(e)
    } else {
        // Another registry, or a proxy in the way: assume the cautious behaviour (delete by
        // digest, every tag named), and ask again next time.
        Verdict::Unsure
    }
}

/// The probe's outcome.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The registry is this version: remember it.
    Is(RegistryVersion),
    /// No telling: take 2 this time, ask again next time.
    Unsure,
    /// The registry failed: the error.
    Failed(RegistryError),
}

impl<S> RegistryClient<S>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = RegistryError> + Clone,
{
    /// The `registry_version` setting this client was given.
    pub fn version_setting(&self) -> VersionSetting {
        self.version_cell().setting()
    }

    /// The registry's version: the setting when it names one; else detected once with the
    /// probe (`GET /v2/_catalog?n=-1&last=~`, see the module docs) and remembered until an
    /// answer contradicts it. A registry that fails (unreachable, 5xx, refusing the token) is
    /// an error and nothing is remembered; an answer that says nothing (another registry, a
    /// proxy) is taken as 2 — the cautious behaviour — and asked again next time.
    pub async fn registry_version(&self) -> Result<RegistryVersion, RegistryError> {
        if let Some(v) = self.version_cell().known() {
            return Ok(v);
        }
        let req = self.request(
            Method::GET,
            PROBE_PATH,
            HeaderMap::new(),
            Bytes::new(),
            1 << 16,
        )?;
        let resp = self.send(req).await?;
        match judge(&resp) {
            Verdict::Is(v) => {
                tracing::info!(registry = %self.base_url(), version = %v, "registry version detected");
                self.version_cell().remember(v);
                Ok(v)
            }
            Verdict::Unsure => Ok(RegistryVersion::V2),
            Verdict::Failed(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::fake::reply;

    #[test]
    fn settings_parse_and_print() {
        for (text, want) in [
            ("auto", VersionSetting::Auto),
            ("2", VersionSetting::Fixed(RegistryVersion::V2)),
            ("3", VersionSetting::Fixed(RegistryVersion::V3)),
        ] {
            assert_eq!(VersionSetting::parse(text), Some(want));
            assert_eq!(want.to_string(), text);
            let json: VersionSetting = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(json, want);
        }
        let three: VersionSetting = serde_json::from_str("3").unwrap();
        assert_eq!(three, VersionSetting::Fixed(RegistryVersion::V3));
        for bad in ["\"Auto\"", "\"v3\"", "4", "-1", "\"\"", "true"] {
            let e = serde_json::from_str::<VersionSetting>(bad).unwrap_err();
            assert!(e.to_string().contains("auto"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_probe_is_judged_by_its_answer() {
        let v3 = reply(
            400,
            &[],
            r#"{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested","detail":{"n":"-1"}}]}"#,
        );
        assert!(matches!(judge(&v3), Verdict::Is(RegistryVersion::V3)));
        let v2 = reply(200, &[], r#"{"repositories":[]}"#);
        assert!(matches!(judge(&v2), Verdict::Is(RegistryVersion::V2)));
        for status in [400, 403, 404, 405] {
            assert!(
                matches!(judge(&reply(status, &[], "")), Verdict::Unsure),
                "{status}"
            );
        }
        for status in [401, 500, 503] {
            assert!(
                matches!(judge(&reply(status, &[], "")), Verdict::Failed(_)),
                "{status}"
            );
        }
    }
}
