//! https for `serve` (`tls_cert`, `tls_key`): rustls on aws-lc-rs, with the certificate read
//! again when its files change, so a renewed certificate (certbot, an ACME client, a manual
//! copy) is served on new connections without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files are looked at (on a handshake, at most this often).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What identifies a version of the two files: their modification times and sizes.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.modified().ok(), m.len()))
            .unwrap_or((None, 0))
    };
    [one(cert), one(key)]
}

/// The certificate chain and key in PEM files, as rustls serves them.
fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read tls_cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("tls_cert {} is not PEM certificates", cert.display()))?;
    if chain.is_empty() {
        bail!("tls_cert {} holds no CERTIFICATE block", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key {} holds no usable private key", key.display()))?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&private)
        .with_context(|| format!("tls_key {} is not a key rustls can use", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().with_context(|| {
        format!(
            "tls_key {} is not the key of tls_cert {}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(Arc::new(certified))
}

struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked: Instant,
}

/// Serves the certificate of two files, reloading them when they change (a broken new
/// version is logged and the last good one kept).
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the files now: a missing, unreadable or mismatched pair is an error at start.
    pub fn new(cert: &Path, key: &Path) -> Result<ReloadingCert> {
        let loaded = Loaded {
            key: load(cert, key)?,
            stamp: stamp(cert, key),
            checked: Instant::now(),
        };
        Ok(ReloadingCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            loaded: RwLock::new(loaded),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let due = match self.loaded.read() {
            Ok(l) if l.checked.elapsed() < CHECK_EVERY => return Arc::clone(&l.key),
            Ok(_) => true,
            Err(_) => true,
        };
        let mut loaded = match self.loaded.write() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        if due && loaded.checked.elapsed() >= CHECK_EVERY {
            loaded.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now != loaded.stamp {
                match load(&self.cert, &self.key) {
                    Ok(key) => {
                        loaded.key = key;
                        loaded.stamp = now;
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    // Half-written files are common while a renewal copies them: try again
                    // at the next check, serving the last good certificate meanwhile.
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "TLS certificate not reloaded")
                    }
                }
            }
        }
        Arc::clone(&loaded.key)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The TLS acceptor of `tls_cert` / `tls_key` (HTTP/1.1 over TLS 1.2 and 1.3).
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    let resolver = Arc::new(ReloadingCert::new(cert, key)?);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// `registryo healthcheck` against an https server on this machine: the certificate is not
/// checked (the probe asks the local process whether it answers, by address, and a name
/// check would fail for 127.0.0.1); nothing secret is sent.
pub mod probe {
    use super::*;
    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{ServerName, UnixTime};

    #[derive(Debug)]
    struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// A rustls client stream over `tcp`, the certificate not checked.
    pub fn connect(
        tcp: std::net::TcpStream,
    ) -> Result<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").context("server name")?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name).context("TLS client")?;
        Ok(rustls::StreamOwned::new(conn, tcp))
    }
}
