//! `serve` over https with `tls_cert` / `tls_key`: a client trusting the certificate gets a
//! token; a renewed certificate is served on new connections without a restart; a broken one
//! is refused at start with a message; `registryo healthcheck` speaks https too.

use std::sync::Arc;

use super::*;

/// A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM).
fn certificate() -> (String, String) {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// The certificate the server at `addr` presents in a new TLS handshake (DER).
async fn presented(addr: SocketAddr) -> Vec<u8> {
    use tokio_rustls::rustls;
    #[derive(Debug)]
    struct Any(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for Any {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &rustls::pki_types::CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &rustls::pki_types::CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Any(provider)))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn serve_speaks_https_and_takes_up_a_renewed_certificate() {
    let files = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    let (cert, key) = certificate();
    std::fs::write(&cert_file, &cert).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = base_command(data.path());
    cmd.env("REGISTRYO_LOG", "warn")
        .env("REGISTRYO_ADMIN_PASSWORD", "admin-password-1")
        .env("REGISTRYO_TLS_CERT", &cert_file)
        .env("REGISTRYO_TLS_KEY", &key_file);
    let server = started(cmd).owning(data);
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.contains("listening on https://")),
        "{:?}",
        server.lines
    );
    let root = reqwest::Certificate::from_pem(cert.as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let url = format!(
        "https://127.0.0.1:{}/token?service=registry.test",
        server.addr.port()
    );
    let resp = http
        .get(&url)
        .basic_auth("admin", Some("admin-password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP on the https port gets no answer that looks like a reply.
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", server.addr.port())).await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    // The healthcheck speaks https when tls_cert is set.
    let mut hc = base_command(server.data());
    hc.args(["healthcheck", "--listen", &server.addr.to_string()])
        .env("REGISTRYO_TLS_CERT", &cert_file)
        .env("REGISTRYO_TLS_KEY", &key_file);
    let out = output(hc, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Renew: new files; new connections get the new certificate within a few seconds.
    let first = presented(server.addr).await;
    let (cert2, key2) = certificate();
    std::fs::write(&key_file, &key2).unwrap();
    std::fs::write(&cert_file, &cert2).unwrap();
    let want = rustls_der(&cert2);
    assert_ne!(first, want);
    eventually("the renewed certificate is served", || async {
        presented(server.addr).await == want
    })
    .await;
}

/// The DER of the first certificate of a PEM text.
fn rustls_der(pem: &str) -> Vec<u8> {
    use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn bad_tls_settings_are_refused_at_start_with_the_reason() {
    let files = tempfile::tempdir().unwrap();
    let (cert, _) = certificate();
    let (_, other_key) = certificate();
    let (c, k) = (files.path().join("c.pem"), files.path().join("k.pem"));
    std::fs::write(&c, &cert).unwrap();
    std::fs::write(&k, &other_key).unwrap();
    for (vars, needle) in [
        (
            vec![("REGISTRYO_TLS_CERT", c.clone())],
            "tls_cert and tls_key go together",
        ),
        (
            vec![
                ("REGISTRYO_TLS_CERT", c.clone()),
                ("REGISTRYO_TLS_KEY", k.clone()),
            ],
            "is not the key of tls_cert",
        ),
        (
            vec![
                ("REGISTRYO_TLS_CERT", k.clone()),
                ("REGISTRYO_TLS_KEY", k.clone()),
            ],
            "holds no CERTIFICATE",
        ),
        (
            vec![
                ("REGISTRYO_TLS_CERT", files.path().join("missing.pem")),
                ("REGISTRYO_TLS_KEY", k.clone()),
            ],
            "cannot read tls_cert",
        ),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = base_command(data.path());
        cmd.env("REGISTRYO_ADMIN_PASSWORD", "admin-password-1");
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let err = match crate::support::binary::serve(cmd) {
            Ok(_) => panic!("{vars:?}: started"),
            Err(e) => e,
        };
        assert!(err.contains(needle), "{vars:?}: {err}");
    }
}
