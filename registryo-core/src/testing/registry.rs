//! [`TestRegistry`]: Debian's `docker-registry` (distribution 2.8), started on 127.0.0.1 with
//! its own temporary folder, token authentication trusting a certificate bundle the test
//! generated, and killed when dropped. It needs `docker-registry` on the `PATH`
//! (`scripts/e2e/install`) and panics, never skips, without it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use tower_service::Service;

use super::free_port;
use crate::client::ReqwestTransport;

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

/// A `docker-registry serve` child with its own storage; killed when dropped (also when a
/// test panics, which then prints the end of the registry's log).
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a registry with `config` on a free port and waits until `GET /v2/` answers
    /// `401` (at most 30 s).
    pub async fn start(config: RegistryConfig<'_>) -> TestRegistry {
        match Command::new("docker-registry").arg("--version").output() {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "docker-registry is not installed: run scripts/e2e/install (Debian's \
                 docker-registry package) before these tests"
            ),
            Err(e) => panic!("cannot run docker-registry: {e}"),
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
        let mut cmd = Command::new("docker-registry");
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
            child: cmd.spawn().expect("docker-registry starts"),
            url: format!("http://127.0.0.1:{port}"),
            log,
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
                panic!("docker-registry exited during start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry not ready after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
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
                "--- registry log (last lines, newest first) ---\n{}",
                tail.join("\n")
            );
        }
    }
}

