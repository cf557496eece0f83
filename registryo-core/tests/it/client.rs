//! The registry client against the real registry: Debian's `docker-registry` (distribution
//! 2.8), and distribution v3 where they differ (deleting a tag), started here on 127.0.0.1
//! with token auth trusting a freshly generated key ([`registryo_core::testing::TestRegistry`]).
//!
//! Needs `docker-registry` on the PATH (`scripts/e2e/install`) and the v3 binary
//! (`scripts/e2e/distribution-v3`); fails, never skips, without them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use registryo_core::client::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2, Descriptor, Digest, Manifest, OCI_CONFIG,
    OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, RegistryAuth, RegistryClient, RegistryError,
    RegistryVersion, ReqwestTransport, SelfSignedTokens, TagDeletion, TokenSource, VersionSetting,
};
use registryo_core::scope::{RepositoryName, ScopeSet};
use registryo_core::testing::{self, RegistryConfig, TestRegistry, free_port};
use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey, TokenError};
use serde_json::json;
use tower_service::Service;

const ISSUER: &str = "registryo";
const SERVICE: &str = "registryo-test";

// --- the registry ------------------------------------------------------------------------------

fn keys() -> Arc<KeySet> {
    let key = SigningKey::generate(Algorithm::ES256, "registryo client test").unwrap();
    Arc::new(KeySet::new(vec![key], KidStyle::Libtrust).unwrap())
}

/// Starts a registry (distribution 2.8) trusting `keys`.
async fn start_registry(keys: &KeySet, delete_enabled: bool) -> TestRegistry {
    start_version(RegistryVersion::V2, keys, delete_enabled).await
}

/// Starts a registry of `version` trusting `keys`.
async fn start_version(
    version: RegistryVersion,
    keys: &KeySet,
    delete_enabled: bool,
) -> TestRegistry {
    TestRegistry::start_version(
        version,
        RegistryConfig {
            bundle_pem: &keys.cert_bundle_pem(),
            issuer: ISSUER,
            service: SERVICE,
            delete_enabled,
        },
    )
    .await
}

// --- tokens ------------------------------------------------------------------------------------

/// Self-signed tokens, counted.
#[derive(Debug)]
struct Counting {
    inner: SelfSignedTokens,
    calls: AtomicUsize,
}

impl Counting {
    fn new(keys: Arc<KeySet>) -> Arc<Counting> {
        Arc::new(Counting {
            inner: SelfSignedTokens::new(keys, ISSUER, SERVICE),
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenSource for Counting {
    type Error = TokenError;

    async fn token(&self, scopes: &ScopeSet) -> Result<String, TokenError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.token(scopes).await
    }
}

type Client = RegistryClient<RegistryAuth<ReqwestTransport, Arc<Counting>>>;

fn name(s: &str) -> RepositoryName {
    s.parse().unwrap()
}

// --- images ------------------------------------------------------------------------------------

fn config_json(arch: &str, variant: Option<&str>) -> Bytes {
    let mut config = json!({
        "created": "2024-05-01T12:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/bin", "APP_MODE=test"],
            "Labels": {"org.opencontainers.image.title": "demo", "team": "platform"},
            "Cmd": ["/app"]
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("{}", Digest::sha256(b"tar"))]},
        "history": [
            {"created": "2024-05-01T12:00:00Z", "created_by": "ADD layer.tar /"},
            {"created": "2024-05-01T12:00:01Z", "created_by": "LABEL team=platform", "empty_layer": true}
        ]
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    Bytes::from(serde_json::to_vec(&config).unwrap())
}

/// Pushes a one-layer image (its layer named after the repository and the architecture);
/// returns the manifest's digest and bytes.
async fn push_image(
    client: &Client,
    repo: &RepositoryName,
    reference: &str,
    docker: bool,
    arch: &str,
    variant: Option<&str>,
    annotation: Option<&str>,
) -> (Digest, Bytes) {
    let layer = Bytes::from(format!("layer of {repo} for {arch}").into_bytes());
    let annotations = annotation.map(|a| json!({"note": a}));
    let (manifest, bytes) = testing::push_image(
        client,
        repo,
        reference,
        docker,
        layer,
        config_json(arch, variant),
        annotations,
    )
    .await;
    (manifest.digest, bytes)
}

// --- the tests ---------------------------------------------------------------------------------

#[tokio::test]
async fn push_browse_and_delete() {
    let keys = keys();
    let registry = start_registry(&keys, true).await;
    let tokens = Counting::new(keys);
    let client = RegistryClient::connect(registry.url(), Arc::clone(&tokens)).unwrap();
    client.ping().await.unwrap();

    // A single-platform OCI image under four tags, three of them on the same manifest.
    let oci = name("team/oci");
    let (oci_digest, oci_bytes) =
        push_image(&client, &oci, "latest", false, "amd64", None, None).await;
    for tag in ["1.0", "stable"] {
        let d = client
            .push_manifest(&oci, tag, OCI_MANIFEST, oci_bytes.clone())
            .await
            .unwrap();
        assert_eq!(d, oci_digest);
    }
    let (other_digest, _) =
        push_image(&client, &oci, "other", false, "amd64", None, Some("other")).await;
    assert_ne!(other_digest, oci_digest);

    // A Docker schema 2 image.
    let docker = name("team/docker");
    let (docker_digest, _) = push_image(&client, &docker, "v1", true, "amd64", None, None).await;

    // A multi-arch OCI index: amd64 + arm64/v8, platform manifests pushed by digest.
    let multi = name("multi");
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let (_, bytes) = push_image(&client, &multi, "tmp", false, arch, variant, None).await;
        let mut d = Descriptor::of(OCI_MANIFEST, &bytes);
        d.platform = Some(registryo_core::client::Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            os_version: None,
        });
        client
            .push_manifest(&multi, d.digest.as_str(), OCI_MANIFEST, bytes)
            .await
            .unwrap();
        entries.push(d);
    }
    let index = Bytes::from(
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
        )
        .unwrap(),
    );
    let index_digest = client
        .push_manifest(&multi, "latest", OCI_INDEX, index)
        .await
        .unwrap();
    for extra in ["a", "b", "c"] {
        push_image(
            &client,
            &name(&format!("extra/{extra}")),
            "x",
            false,
            "amd64",
            None,
            None,
        )
        .await;
    }

    // Catalog: pages of two, followed by `last`, then the iterate-all API.
    let all = client.catalog_all().await.unwrap();
    assert_eq!(
        all,
        [
            "extra/a",
            "extra/b",
            "extra/c",
            "multi",
            "team/docker",
            "team/oci"
        ]
    );
    let mut paged = Vec::new();
    let mut last: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client.catalog_page(Some(2), last.as_deref()).await.unwrap();
        assert!(page.items.len() <= 2, "{page:?}");
        pages += 1;
        paged.extend(page.items.iter().cloned());
        last = page.next_last();
        if last.is_none() {
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(paged, all);
    assert!(pages >= 3, "{pages} pages");

    // Tags: pages of two, and all of them. Distribution 2.8 neither sorts tag lists nor honours
    // `n` on them (v3 does: the client follows a `Link` whenever there is one, see the unit
    // tests); compare sets, and pages only where the registry paginates.
    let mut tags = client.tags_all(&oci).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["1.0", "latest", "other", "stable"]);
    let mut paged = Vec::new();
    let mut last: Option<String> = None;
    for _ in 0..10 {
        let page = client
            .tags_page(&oci, Some(2), last.as_deref())
            .await
            .unwrap();
        assert!(page.items.len() <= 2 || page.next.is_none(), "{page:?}");
        paged.extend(page.items.iter().cloned());
        last = page.next_last();
        if last.is_none() {
            break;
        }
    }
    assert!(last.is_none(), "tag pagination does not end");
    paged.sort();
    assert_eq!(paged, tags);

    // The OCI manifest, by tag and by digest, and its configuration.
    let fetched = client.manifest(&oci, "latest").await.unwrap();
    assert_eq!(fetched.media_type, OCI_MANIFEST);
    assert_eq!(fetched.digest, oci_digest);
    let Manifest::Image(image) = &fetched.manifest else {
        panic!("not an image: {fetched:?}")
    };
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].media_type, OCI_LAYER_GZIP);
    assert_eq!(
        image.layers[0].size,
        "layer of team/oci for amd64".len() as u64
    );
    assert_eq!(image.config.media_type, OCI_CONFIG);
    let by_digest = client.manifest(&oci, oci_digest.as_str()).await.unwrap();
    assert_eq!(by_digest.raw, fetched.raw);
    let config = client.config(&oci, image).await.unwrap();
    assert_eq!(config.os, "linux");
    assert_eq!(config.architecture, "amd64");
    assert_eq!(config.created.as_deref(), Some("2024-05-01T12:00:00Z"));
    let runtime = config.config.unwrap();
    assert_eq!(runtime.labels["team"], "platform");
    assert_eq!(runtime.env, ["PATH=/usr/bin", "APP_MODE=test"]);
    assert_eq!(config.history.len(), 2);
    assert_eq!(
        config.history[0].created_by.as_deref(),
        Some("ADD layer.tar /")
    );
    assert!(!config.history[0].empty_layer);
    assert!(config.history[1].empty_layer);

    // The Docker schema 2 manifest.
    let fetched = client.manifest(&docker, "v1").await.unwrap();
    assert_eq!(fetched.media_type, DOCKER_MANIFEST_V2);
    assert_eq!(fetched.digest, docker_digest);
    let Manifest::Image(image) = &fetched.manifest else {
        panic!("not an image")
    };
    assert_eq!(image.config.media_type, DOCKER_CONFIG);
    assert_eq!(image.layers[0].media_type, DOCKER_LAYER_GZIP);
    assert_eq!(client.config(&docker, image).await.unwrap().os, "linux");

    // The index.
    let fetched = client.manifest(&multi, "latest").await.unwrap();
    assert_eq!(fetched.media_type, OCI_INDEX);
    assert_eq!(fetched.digest, index_digest);
    let Manifest::Index(index) = &fetched.manifest else {
        panic!("not an index")
    };
    let platforms: Vec<(String, Option<String>)> = index
        .manifests
        .iter()
        .map(|m| {
            let p = m.platform.clone().unwrap();
            (p.architecture, p.variant)
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("amd64".to_owned(), None),
            ("arm64".to_owned(), Some("v8".to_owned()))
        ]
    );
    let arm = client
        .manifest(&multi, index.manifests[1].digest.as_str())
        .await
        .unwrap();
    let Manifest::Image(arm) = arm.manifest else {
        panic!("not an image")
    };
    let arm_config = client.config(&multi, &arm).await.unwrap();
    assert_eq!(
        (
            arm_config.architecture.as_str(),
            arm_config.variant.as_deref()
        ),
        ("arm64", Some("v8"))
    );

    // Delete by the real digest: the three tags sharing it go, `other` stays.
    assert_eq!(
        client.manifest_digest(&oci, "stable").await.unwrap(),
        oci_digest
    );
    assert_eq!(
        client.tags_sharing(&oci, &oci_digest).await.unwrap(),
        ["1.0", "latest", "stable"]
    );
    // distribution 2.8 (detected): the manifest goes, with every tag on it.
    assert_eq!(
        client.registry_version().await.unwrap(),
        RegistryVersion::V2
    );
    let TagDeletion::ManifestDeleted(deleted) = client.delete_tag(&oci, "latest").await.unwrap()
    else {
        panic!("2.8 deletes the manifest")
    };
    assert_eq!(deleted.digest, oci_digest);
    assert_eq!(deleted.tags, ["1.0", "latest", "stable"]);
    assert_eq!(client.tags_all(&oci).await.unwrap(), ["other"]);
    let gone = client.manifest(&oci, "stable").await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");

    // 404s are typed, with the registry's codes.
    let e = client.tags_all(&name("no/such/repo")).await.unwrap_err();
    assert!(
        matches!(&e, RegistryError::NotFound { .. }) && e.codes() == ["NAME_UNKNOWN"],
        "{e:?}"
    );
    let e = client.manifest(&docker, "nope").await.unwrap_err();
    assert!(
        e.is_not_found() && e.codes() == ["MANIFEST_UNKNOWN"],
        "{e:?}"
    );
    let e = client
        .blob(&docker, &Digest::sha256(b"absent"), 1024)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    // A body over the limit is refused, not read.
    let e = client
        .blob(&oci, &image_config_digest(&client, &docker).await, 10)
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::TooLarge { limit: 10 }), "{e:?}");
    drop(registry);
}

async fn image_config_digest(client: &Client, repo: &RepositoryName) -> Digest {
    let Manifest::Image(image) = client.manifest(repo, "v1").await.unwrap().manifest else {
        panic!("not an image")
    };
    // Blobs are global in the filesystem driver but linked per repository: ask its own repo.
    let _ = client
        .blob(repo, &image.config.digest, 1 << 20)
        .await
        .unwrap();
    image.config.digest
}

#[tokio::test]
async fn tokens_are_minted_once_per_scope_set_and_cached() {
    let keys = keys();
    let registry = start_registry(&keys, true).await;
    let tokens = Counting::new(keys);
    let client = RegistryClient::connect(registry.url(), Arc::clone(&tokens)).unwrap();
    let repo = name("cache/me");
    client
        .push_blob(&repo, OCI_LAYER_GZIP, Bytes::from_static(b"x"))
        .await
        .unwrap();
    // HEAD (pull) then POST and PUT (pull,push): two scope sets.
    assert_eq!(tokens.calls(), 2);
    client
        .push_blob(&repo, OCI_LAYER_GZIP, Bytes::from_static(b"y"))
        .await
        .unwrap();
    assert_eq!(tokens.calls(), 2, "second push reuses both tokens");
    client.catalog_page(None, None).await.unwrap();
    client.catalog_page(None, None).await.unwrap();
    assert_eq!(tokens.calls(), 3, "one catalog token");

    // A client whose keys the registry does not trust: one token, refused; a fresh one,
    // refused again; a typed error.
    let stranger = Counting::new(self::keys());
    let refused = RegistryClient::connect(registry.url(), Arc::clone(&stranger)).unwrap();
    let e = refused.catalog_page(None, None).await.unwrap_err();
    match &e {
        RegistryError::Unauthorized {
            challenge_error, ..
        } => assert_eq!(challenge_error.as_deref(), Some("invalid_token")),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(stranger.calls(), 2);
    assert!(e.to_string().contains("refused our token"), "{e}");
    drop(registry);
}

#[tokio::test]
async fn failures_are_typed() {
    let keys = keys();
    // Deleting disabled: 405.
    let registry = start_registry(&keys, false).await;
    let client = RegistryClient::connect(registry.url(), Counting::new(Arc::clone(&keys))).unwrap();
    let repo = name("no/delete");
    let (digest, _) = push_image(&client, &repo, "t", false, "amd64", None, None).await;
    let e = client.delete_manifest(&repo, &digest).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unsupported { .. }), "{e:?}");
    let e = client.delete_tag(&repo, "t").await.unwrap_err();
    assert!(matches!(e, RegistryError::Unsupported { .. }), "{e:?}");

    // A raw request through the service: the auth layer passes the status through.
    let mut service = client.service().clone();
    let req = Request::builder()
        .method(Method::GET)
        .uri(format!("{}/v2/", registry.url()))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(service.call(req).await.unwrap().status(), StatusCode::OK);

    // Nobody listening: Unreachable.
    let down = RegistryClient::connect(
        &format!("http://127.0.0.1:{}", free_port()),
        Counting::new(Arc::clone(&keys)),
    )
    .unwrap();
    let e = down.catalog_page(None, None).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("registry unreachable at http://127.0.0.1:"),
        "{e}"
    );

    // Bad input never reaches the registry.
    let e = client.manifest(&repo, "../x").await.unwrap_err();
    assert!(matches!(e, RegistryError::InvalidInput(_)), "{e:?}");
    assert!(RegistryClient::connect("ftp://x", Counting::new(keys)).is_err());
    drop(registry);
}

/// `a:1` and `a:2` on one manifest, on each version: the version is detected; v3 removes `1`
/// alone and `2` stays pullable, 2.8 refuses the untag (400 DIGEST_INVALID, nothing deleted)
/// and deletes the manifest with both tags. A setting that names the wrong version gets the
/// registry's refusal as a typed error, never a deletion beyond the one asked for.
#[tokio::test]
async fn deleting_a_tag_on_each_version() {
    let keys = keys();
    let repo = name("team/a");
    for version in [RegistryVersion::V2, RegistryVersion::V3] {
        let registry = start_version(version, &keys, true).await;
        let client =
            RegistryClient::connect(registry.url(), Counting::new(Arc::clone(&keys))).unwrap();
        let fill = async |tags: &[&str]| {
            let (digest, raw) = push_image(&client, &repo, "1", false, "amd64", None, None).await;
            for tag in tags {
                client
                    .push_manifest(&repo, tag, OCI_MANIFEST, raw.clone())
                    .await
                    .unwrap();
            }
            digest
        };
        let digest = fill(&["2"]).await;
        assert_eq!(client.version_setting(), VersionSetting::Auto);
        assert_eq!(client.registry_version().await.unwrap(), version);
        // A digest is not a tag; an unknown tag is a 404 on v3 (and refused by 2.8).
        let e = client.untag(&repo, digest.as_str()).await.unwrap_err();
        assert!(
            matches!(e, RegistryError::InvalidInput(_)),
            "{version}: {e:?}"
        );
        let e = client.untag(&repo, "nope").await.unwrap_err();
        match version {
            RegistryVersion::V3 => assert!(e.is_not_found(), "{e:?}"),
            RegistryVersion::V2 => {
                assert!(matches!(e, RegistryError::CannotUntag { .. }), "{e:?}");
                assert_eq!(e.codes(), ["DIGEST_INVALID"]);
            }
        }
        assert_eq!(
            sorted(client.tags_all(&repo).await.unwrap()),
            ["1", "2"],
            "{version}"
        );

        let deleted = client.delete_tag(&repo, "1").await.unwrap();
        assert_eq!(deleted.digest(), &digest, "{version}");
        match version {
            RegistryVersion::V3 => {
                assert_eq!(
                    deleted,
                    TagDeletion::Untagged {
                        digest: digest.clone()
                    }
                );
                assert_eq!(sorted(client.tags_all(&repo).await.unwrap()), ["2"]);
                assert_eq!(client.manifest(&repo, "2").await.unwrap().digest, digest);
            }
            RegistryVersion::V2 => {
                let TagDeletion::ManifestDeleted(m) = deleted else {
                    panic!("2.8 deletes the manifest: {deleted:?}")
                };
                assert_eq!(m.tags, ["1", "2"]);
                assert!(
                    client
                        .manifest(&repo, "2")
                        .await
                        .unwrap_err()
                        .is_not_found()
                );
            }
        }

        // The other version's setting: a 2.8 told it is v3 refuses (nothing goes); a v3 told
        // it is 2.8 deletes the manifest by digest, every tag with it.
        let wrong = match version {
            RegistryVersion::V2 => RegistryVersion::V3,
            RegistryVersion::V3 => RegistryVersion::V2,
        };
        let told = RegistryClient::connect(registry.url(), Counting::new(Arc::clone(&keys)))
            .unwrap()
            .with_version_setting(VersionSetting::Fixed(wrong));
        assert_eq!(told.registry_version().await.unwrap(), wrong);
        let digest = fill(&["2", "3"]).await;
        match version {
            RegistryVersion::V2 => {
                let e = told.delete_tag(&repo, "1").await.unwrap_err();
                assert!(matches!(e, RegistryError::CannotUntag { .. }), "{e:?}");
                assert!(e.to_string().contains("cannot remove a tag alone"), "{e}");
                assert_eq!(
                    sorted(client.tags_all(&repo).await.unwrap()),
                    ["1", "2", "3"]
                );
            }
            RegistryVersion::V3 => {
                let TagDeletion::ManifestDeleted(m) = told.delete_tag(&repo, "1").await.unwrap()
                else {
                    panic!("told 2: deleted by digest")
                };
                assert_eq!(
                    (m.digest, m.tags),
                    (digest, vec!["1".into(), "2".into(), "3".into()])
                );
                assert!(
                    client
                        .manifest(&repo, "3")
                        .await
                        .unwrap_err()
                        .is_not_found()
                );
            }
        }
        drop(registry);
    }

    // Deleting disabled: v3 refuses the untag with 405 too.
    let registry = start_version(RegistryVersion::V3, &keys, false).await;
    let client = RegistryClient::connect(registry.url(), Counting::new(Arc::clone(&keys))).unwrap();
    push_image(&client, &repo, "1", false, "amd64", None, None).await;
    assert_eq!(
        client.registry_version().await.unwrap(),
        RegistryVersion::V3
    );
    let e = client.delete_tag(&repo, "1").await.unwrap_err();
    assert!(matches!(e, RegistryError::Unsupported { .. }), "{e:?}");
    assert_eq!(sorted(client.tags_all(&repo).await.unwrap()), ["1"]);
}

fn sorted(mut tags: Vec<String>) -> Vec<String> {
    tags.sort();
    tags
}
