//! A manifest's page, by tag or by digest: an image (its configuration, layers and history)
//! or an index (its platforms).

use askama::Template;
use axum::response::Response;
use registryo_core::client::{Digest, FetchedManifest, ImageConfig, Manifest};
use registryo_core::scope::{Actions, RepositoryName};

use super::{Chrome, UiClient, UiError, WithChrome, registry_error, render, repo_href};
use crate::error::AppError;

/// A layer, or the config blob.
#[derive(Debug, Clone)]
struct BlobLine {
    digest: String,
    short: String,
    size: String,
    media_type: String,
}

/// One platform of an index.
#[derive(Debug, Clone)]
struct PlatformLine {
    platform: String,
    href: String,
    digest: String,
    short: String,
    size: String,
    media_type: String,
}

/// A step of the build history.
#[derive(Debug, Clone)]
struct HistoryLine {
    created: String,
    created_by: String,
    comment: String,
    empty: bool,
}

/// What an image shows.
#[derive(Debug, Default)]
struct ImageView {
    total: String,
    created: String,
    platform: String,
    author: String,
    config: Option<BlobLine>,
    layers: Vec<BlobLine>,
    labels: Vec<(String, String)>,
    env: Vec<String>,
    entrypoint: String,
    cmd: String,
    history: Vec<HistoryLine>,
}

#[derive(Template)]
#[template(path = "tag.html")]
struct ManifestPage {
    chrome: Chrome,
    name: String,
    repo_href: String,
    /// The tag, or empty for a manifest shown by digest.
    tag: String,
    media_type: String,
    digest: String,
    short: String,
    image: Option<ImageView>,
    platforms: Vec<PlatformLine>,
    delete_href: String,
    /// The tag's pushes (from the registry's notifications); `None` when unknown.
    history: Option<Vec<super::activity::ActivityLine>>,
}

/// `sha256:` and the first 12 hex digits.
pub(super) fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.get(..12).unwrap_or(hex)),
        None => d.to_owned(),
    }
}

/// A size in bytes, human-readable (powers of 1024, one decimal).
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// An RFC 3339 time as `2024-05-01 12:00:00 UTC`-ish (kept as is when it does not look like one).
fn nice_time(t: &str) -> String {
    if t.len() >= 19 && t.as_bytes().get(10) == Some(&b'T') {
        let zone = if t.ends_with('Z') { " UTC" } else { "" };
        format!("{} {}{zone}", &t[..10], &t[11..19])
    } else {
        t.to_owned()
    }
}

fn blob_line(d: &registryo_core::client::Descriptor) -> BlobLine {
    BlobLine {
        digest: d.digest.to_string(),
        short: short_digest(d.digest.as_str()),
        size: human_size(d.size),
        media_type: d.media_type.clone(),
    }
}

fn image_view(m: &registryo_core::client::ImageManifest, config: &ImageConfig) -> ImageView {
    let mut platform = format!("{}/{}", config.os, config.architecture);
    if let Some(v) = config.variant.as_deref().filter(|v| !v.is_empty()) {
        platform.push('/');
        platform.push_str(v);
    }
    let runtime = config.config.clone().unwrap_or_default();
    ImageView {
        total: human_size(m.layers_size() + m.config.size),
        created: config.created.as_deref().map(nice_time).unwrap_or_default(),
        platform,
        author: config.author.clone().unwrap_or_default(),
        config: Some(blob_line(&m.config)),
        layers: m.layers.iter().map(blob_line).collect(),
        labels: runtime.labels.into_iter().collect(),
        env: runtime.env,
        entrypoint: runtime.entrypoint.join(" "),
        cmd: runtime.cmd.join(" "),
        history: config
            .history
            .iter()
            .map(|h| HistoryLine {
                created: h.created.as_deref().map(nice_time).unwrap_or_default(),
                created_by: h.created_by.clone().unwrap_or_default(),
                comment: h.comment.clone().unwrap_or_default(),
                empty: h.empty_layer,
            })
            .collect(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn manifest_page(
    app: &registryo_core::app::App,
    viewer: &registryo_core::acl::Principal,
    client: &UiClient,
    chrome: Chrome,
    name: RepositoryName,
    tag: Option<String>,
    digest: Option<Digest>,
    may: Actions,
) -> Result<Response, UiError> {
    let reference = match (&tag, &digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err(AppError::NotFound("manifest".to_owned())).ui(&chrome),
    };
    let what = if tag.is_some() { "tag" } else { "manifest" };
    let fetched: FetchedManifest = client
        .manifest(&name, &reference)
        .await
        .map_err(|e| registry_error(&e, what))
        .ui(&chrome)?;
    let base = repo_href(&name);
    let (image, platforms) = match &fetched.manifest {
        Manifest::Image(m) => {
            let config = client
                .config(&name, m)
                .await
                .map_err(|e| registry_error(&e, "image configuration"))
                .ui(&chrome)?;
            (Some(image_view(m, &config)), Vec::new())
        }
        Manifest::Index(i) => {
            let platforms = i
                .manifests
                .iter()
                .map(|d| {
                    let platform = match &d.platform {
                        Some(p) => {
                            let mut s = format!("{}/{}", p.os, p.architecture);
                            if let Some(v) = p.variant.as_deref().filter(|v| !v.is_empty()) {
                                s.push('/');
                                s.push_str(v);
                            }
                            s
                        }
                        None => "unknown".to_owned(),
                    };
                    PlatformLine {
                        platform,
                        href: format!("{base}/-/manifests/{}", d.digest),
                        digest: d.digest.to_string(),
                        short: short_digest(d.digest.as_str()),
                        size: human_size(d.size),
                        media_type: d.media_type.clone(),
                    }
                })
                .collect();
            (None, platforms)
        }
    };
    let delete_href = match &tag {
        Some(t) if may.contains(Actions::DELETE) => format!("{base}/-/tags/{t}/delete"),
        _ => String::new(),
    };
    let history = match &tag {
        Some(t) => super::activity::recent(app, viewer, &name, Some(t), 20).await,
        None => Some(Vec::new()),
    };
    Ok(render(&ManifestPage {
        chrome,
        history,
        name: name.to_string(),
        repo_href: base,
        tag: tag.unwrap_or_default(),
        media_type: fetched.media_type,
        digest: fetched.digest.to_string(),
        short: short_digest(fetched.digest.as_str()),
        image,
        platforms,
        delete_href,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use registryo_core::client::Digest;

    #[test]
    fn sizes_digests_times() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(short_digest("sha256:"), "sha256:");
        let d = Digest::sha256(b"");
        assert_eq!(short_digest(d.as_str()), "sha256:e3b0c44298fc");
        assert_eq!(
            nice_time("2024-05-01T12:00:00.123Z"),
            "2024-05-01 12:00:00 UTC"
        );
        assert_eq!(nice_time("yesterday"), "yesterday");
    }
}
