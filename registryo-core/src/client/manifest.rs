//! Manifests, indexes and image configurations, as serde types.
//!
//! Docker schema 2 and OCI share one shape: an image manifest has a `config` descriptor and
//! `layers`; an index (Docker "manifest list") has `manifests` with a `platform` each. Unknown
//! fields are ignored, so newer registries do not break the parse.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Digest, RegistryError};

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (a multi-platform index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The four manifest media types, as sent in `Accept` (without it, 2.8 converts to schema 1 and
/// answers 404 for an OCI index).
pub const MANIFEST_ACCEPT: [&str; 4] = [
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
];
/// Docker image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip-compressed layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker gzip-compressed layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A reference to content: media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
    /// The platform, in an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`: its sha256 digest and length.
    pub fn of(media_type: impl Into<String>, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::sha256(bytes),
            size: bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The platform of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `linux`, `windows`…
    pub os: String,
    /// `amd64`, `arm64`…
    pub architecture: String,
    /// `v7`, `v8`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The OS version (Windows).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

/// An image manifest (Docker schema 2 or OCI): a config and layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type (required by Docker, optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image configuration blob.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// The sum of the layer sizes (compressed), in bytes.
    pub fn layers_size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// An index (OCI image index or Docker manifest list): one manifest per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The platform manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A manifest of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// A single-platform image.
    Image(ImageManifest),
    /// A multi-platform index.
    Index(ImageIndex),
}

impl Manifest {
    /// Parses `bytes` as the manifest kind `media_type` names. An empty or generic media type
    /// (`application/json`, `application/octet-stream`) falls back to the body's `mediaType`
    /// field, then to its shape (`manifests` → index).
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<(String, Manifest), RegistryError> {
        let malformed = |e: serde_json::Error| RegistryError::Malformed(format!("manifest: {e}"));
        let mut media_type = media_type.trim().to_owned();
        if !MANIFEST_ACCEPT.contains(&media_type.as_str()) {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Probe {
                media_type: Option<String>,
                schema_version: Option<u32>,
                manifests: Option<serde_json::Value>,
            }
            let probe: Probe = serde_json::from_slice(bytes).map_err(malformed)?;
            media_type = match (probe.media_type, probe.schema_version) {
                (Some(mt), _) => mt,
                (None, Some(2)) if probe.manifests.is_some() => OCI_INDEX.to_owned(),
                (None, Some(2)) => OCI_MANIFEST.to_owned(),
                (None, _) => media_type,
            };
        }
        let manifest = match media_type.as_str() {
            DOCKER_MANIFEST_V2 | OCI_MANIFEST => {
                Manifest::Image(serde_json::from_slice(bytes).map_err(malformed)?)
            }
            DOCKER_MANIFEST_LIST | OCI_INDEX => {
                Manifest::Index(serde_json::from_slice(bytes).map_err(malformed)?)
            }
            _ => return Err(RegistryError::UnsupportedMediaType(media_type)),
        };
        Ok((media_type, manifest))
    }
}

/// A manifest as fetched: parsed, with its media type, digest and raw bytes.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The manifest's media type (from `Content-Type`, or the body).
    pub media_type: String,
    /// The manifest's digest: `Docker-Content-Digest` (verified against the bytes), or the
    /// sha256 of the bytes when the header is missing.
    pub digest: Digest,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The bytes exactly as served (what the digest covers).
    pub raw: Bytes,
}

/// An image configuration (the config blob): the parts a UI shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// When the image was built (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `linux`, `windows`…
    #[serde(default)]
    pub os: String,
    /// `amd64`, `arm64`…
    #[serde(default)]
    pub architecture: String,
    /// `v7`, `v8`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The run-time defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RuntimeConfig>,
    /// The build history, oldest first.
    #[serde(default)]
    pub history: Vec<History>,
}

/// The `config` section of an image configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeConfig {
    /// `KEY=value` pairs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// Labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// The entry point.
    #[serde(default, deserialize_with = "null_as_default")]
    pub entrypoint: Vec<String>,
    /// The default command.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// One step of an image's build history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether the step produced no layer.
    #[serde(default)]
    pub empty_layer: bool,
}

/// `null` (which Go's encoder writes for empty slices and maps) read as the default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn image_and_index_by_media_type_or_shape() {
        let image = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","digest":"{D}","size":2}},"layers":[{{"mediaType":"{OCI_LAYER_GZIP}","digest":"{D}","size":5}}]}}"#
        );
        let (mt, m) = Manifest::parse("application/json", image.as_bytes()).unwrap();
        assert_eq!(mt, OCI_MANIFEST);
        let Manifest::Image(m) = m else { panic!() };
        assert_eq!(m.layers_size(), 5);
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":2,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        );
        let (mt, m) = Manifest::parse(OCI_INDEX, index.as_bytes()).unwrap();
        assert_eq!(mt, OCI_INDEX);
        let Manifest::Index(i) = m else { panic!() };
        let p = i.manifests[0].platform.as_ref().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
    }

    #[test]
    fn refusals_are_typed() {
        assert!(matches!(
            Manifest::parse(OCI_MANIFEST, b"{"),
            Err(RegistryError::Malformed(_))
        ));
        assert!(matches!(
            Manifest::parse(
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                b"{}"
            ),
            Err(RegistryError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            Manifest::parse(
                OCI_MANIFEST,
                br#"{"schemaVersion":2,"config":{"digest":"x"}}"#
            ),
            Err(RegistryError::Malformed(_))
        ));
    }

    #[test]
    fn config_with_nulls() {
        let c: ImageConfig = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Labels":null,"Cmd":["sh"]},"history":[{"created_by":"x","empty_layer":true}]}"#,
        )
        .unwrap();
        let rc = c.config.unwrap();
        assert!(rc.env.is_empty() && rc.labels.is_empty());
        assert_eq!(rc.cmd, ["sh"]);
        assert!(c.history[0].empty_layer);
    }
}
