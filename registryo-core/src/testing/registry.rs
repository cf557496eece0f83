//! [`TestRegistry`]: Debian's `docker-registry` (distribution 2.8) or distribution v3, started
//! on 127.0.0.1 with its own temporary folder, token authentication trusting a certificate
//! bundle the test generated, and killed when dropped. 2.8 needs `docker-registry` on the
//! `PATH` (`scripts/e2e/install`); v3 is the binary [`v3_binary`] finds, as
//! `scripts/e2e/distribution-v3` does. Without them it panics, never skips. [`push_image`]
//! fills it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tower_service::Service;

use super::free_port;
use crate::client::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2, Descriptor, OCI_CONFIG, OCI_LAYER_GZIP,
    OCI_MANIFEST, RegistryClient, RegistryError, RegistryVersion, ReqwestTransport,
};
use crate::scope::RepositoryName;

/// How a [`TestRegistry`] is configured.
#[derive(Debug, Clone, Copy)]
pub struct RegistryConfig<'a> {
    /// The PEM certificates whose keys sign the tokens the registry accepts.
    pub bundle_pem: &'a str,
    /// The tokens' `iss`.
    pub issuer: &'a str,
    /// The tokens' `aud` (the registry's service name).
    pub service: &'a str,
    /// Whether manifests may be deleted (distribution's `storage.delete.enabled`).
    pub delete_enabled: bool,
}

/// A registry `serve` child with its own storage; killed when dropped (also when a test
/// panics, which then prints the end of the registry's log).
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    url: String,
    log: PathBuf,
    version: RegistryVersion,
    _dir: tempfile::TempDir,
}

/// The distribution v3 binary, looked for as `scripts/e2e/distribution-v3` does, first found
/// wins: `$REGISTRYO_DISTRIBUTION_V3`; `../shared/vendor/distribution-v3/registry` beside the
/// workspace; `/work/shared/vendor/distribution-v3/registry`. Panics naming every place it
/// looked when none is there.
pub fn v3_binary() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRYO_DISTRIBUTION_V3").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(workspace.join("../shared/vendor/distribution-v3/registry"));
    candidates.push(PathBuf::from(
        "/work/shared/vendor/distribution-v3/registry",
    ));
    for c in &candidates {
        if c.is_file() {
            return std::path::absolute(c).unwrap_or_else(|_| c.clone());
        }
    }
    let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    panic!(
        "no distribution v3 registry binary: looked at {}; set REGISTRYO_DISTRIBUTION_V3=/path/to/registry",
        tried.join(", ")
    )
}

impl TestRegistry {
    /// Starts Debian's `docker-registry` (distribution 2.8) with `config`:
    /// [`TestRegistry::start_version`] with [`RegistryVersion::V2`].
    pub async fn start(config: RegistryConfig<'_>) -> TestRegistry {
        TestRegistry::start_version(RegistryVersion::V2, config).await
    }

    /// Starts a registry of `version` (2: Debian's `docker-registry`; 3: [`v3_binary`], with
    /// `OTEL_TRACES_EXPORTER=none`) with `config` on a free port and waits until `GET /v2/`
    /// answers `401` (at most 30 s).
    pub async fn start_version(
        version: RegistryVersion,
        config: RegistryConfig<'_>,
    ) -> TestRegistry {
        let program = match version {
            RegistryVersion::V2 => PathBuf::from("docker-registry"),
            RegistryVersion::V3 => v3_binary(),
        };
        match Command::new(&program)
            .arg("--version")
            .env("OTEL_TRACES_EXPORTER", "none")
            .output()
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "{} is not installed: run scripts/e2e/install (Debian's docker-registry \
                 package; distribution v3: scripts/e2e/distribution-v3) before these tests",
                program.display()
            ),
            Err(e) => panic!("cannot run {}: {e}", program.display()),
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let port = free_port();
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, config.bundle_pem).expect("the bundle is written");
        let yaml = dir.path().join("config.yml");
        std::fs::write(
            &yaml,
            format!(
                "version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: {delete_enabled}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: registryo-test-secret
auth:
  token:
    realm: \"http://127.0.0.1:1/token\"
    service: \"{service}\"
    issuer: \"{issuer}\"
    rootcertbundle: \"{bundle}\"
",
                data = dir.path().join("data").display(),
                delete_enabled = config.delete_enabled,
                service = config.service,
                issuer = config.issuer,
                bundle = bundle.display(),
            ),
        )
        .expect("the configuration is written");
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log).expect("the log file is created");
        let mut cmd = Command::new(&program);
        // v3 would otherwise send traces to localhost:4318.
        cmd.env("OTEL_TRACES_EXPORTER", "none");
        cmd.arg("serve")
            .arg(&yaml)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("the log file is shared"))
            .stderr(out);
        // The registry reads REGISTRY_SECTION_KEY variables as configuration overrides.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let mut registry = TestRegistry {
            child: cmd
                .spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display())),
            url: format!("http://127.0.0.1:{port}"),
            log,
            version,
            _dir: dir,
        };
        let mut transport = ReqwestTransport::new().expect("an HTTP client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let req = Request::builder()
                .uri(format!("{}/v2/", registry.url))
                .body(Bytes::new())
                .expect("a request");
            if let Ok(resp) = transport.call(req).await
                && resp.status() == StatusCode::UNAUTHORIZED
            {
                return registry;
            }
            if let Some(status) = registry.child.try_wait().expect("the child's status") {
                panic!("the registry ({version}) exited during start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the registry ({version}) not ready after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which distribution it is.
    pub fn version(&self) -> RegistryVersion {
        self.version
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "--- registry log (distribution {}, last lines, newest first) ---\n{}",
                self.version,
                tail.join("\n")
            );
        }
    }
}

/// Pushes a one-layer image as `reference` (a tag or a digest) of `repo` with `client`: the
/// blobs `layer` and `config`, then a manifest naming them (Docker schema 2 when `docker`, else
/// OCI) with these `annotations`. Returns the manifest's descriptor and bytes.
pub async fn push_image<S>(
    client: &RegistryClient<S>,
    repo: &RepositoryName,
    reference: &str,
    docker: bool,
    layer: Bytes,
    config: Bytes,
    annotations: Option<Value>,
) -> (Descriptor, Bytes)
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = RegistryError> + Clone,
{
    let (manifest_type, config_type, layer_type) = if docker {
        (DOCKER_MANIFEST_V2, DOCKER_CONFIG, DOCKER_LAYER_GZIP)
    } else {
        (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP)
    };
    let layer = client
        .push_blob(repo, layer_type, layer)
        .await
        .expect("the layer is pushed");
    let config = client
        .push_blob(repo, config_type, config)
        .await
        .expect("the config is pushed");
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config,
        "layers": [layer],
    });
    if let Some(a) = annotations {
        manifest["annotations"] = a;
    }
    let bytes = Bytes::from(serde_json::to_vec(&manifest).expect("a manifest is JSON"));
    client
        .push_manifest(repo, reference, manifest_type, bytes.clone())
        .await
        .expect("the manifest is pushed");
    (Descriptor::of(manifest_type, &bytes), bytes)
}
