//! The signing keys in a real SQLite store: an older installation's keys keep working across
//! the upgrade, rotations are serialised, and a signing key is renewed before its certificate
//! expires.

use registryo_core::app::keys::{self, KEEP_PREVIOUS, RENEW_BEFORE_SECS};
use registryo_core::app::ops::{self, Actor};
use registryo_core::storage::prelude::*;
use registryo_core::token::{Algorithm, Claims, KeyReference, KidStyle, SigningKey, Verifier};
use std::time::Duration;

use crate::support::sqlite_store;

fn token(set: &registryo_core::token::KeySet) -> String {
    set.sign(&Claims::new(
        "iss",
        "",
        "svc",
        Duration::from_secs(60),
        vec![],
    ))
    .unwrap()
}

/// Keys as versions before the CA stored them: a JSON list of self-signed keys.
fn legacy_list(keys: &[(&SigningKey, bool)]) -> String {
    let list: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, (k, active))| {
            serde_json::json!({
                "key_pem": k.key_pem(), "cert_pem": k.cert_pem(),
                "created_at": 1_700_000_000 + i as i64, "active": active,
            })
        })
        .collect();
    serde_json::to_string(&list).unwrap()
}

/// An installation of an older version keeps signing with its key, still trusted by the bundle
/// its registry read at start; the new bundle holds the CA and that key's certificate; the
/// first rotation moves to a key the CA issued, and once the old key is no longer kept the
/// bundle is the CA alone.
#[tokio::test]
async fn an_older_installation_keeps_working_across_the_upgrade() {
    let (_dir, store) = sqlite_store().await;
    let old = SigningKey::generate(Algorithm::ES256, "registryo").unwrap();
    let old_bundle = Verifier::from_cert_bundle_pem(&old.cert_pem()).unwrap();
    store
        .set_setting(keys::SETTING, &legacy_list(&[(&old, true)]), &|_| {
            Vec::new()
        })
        .await
        .unwrap();

    let loaded = keys::load_or_generate(&store, Algorithm::ES256, "registryo")
        .await
        .unwrap();
    let states: Vec<&str> = loaded.states().map(|(_, s)| s).collect();
    assert_eq!(states, ["signing", "next"]);
    assert_eq!(
        loaded.keys[0].cert_der(),
        old.cert_der(),
        "the old key still signs"
    );
    let ca = loaded
        .authority
        .as_ref()
        .expect("a CA was added")
        .cert_pem();
    let set = loaded
        .into_key_set(KidStyle::Libtrust, KeyReference::X5c)
        .unwrap();
    let bundle = set.cert_bundle_pem();
    assert_eq!(
        bundle,
        format!("{ca}{}", old.cert_pem()),
        "the CA, then the old key"
    );
    assert!(
        old_bundle.verify(&token(&set), "iss", "svc").is_ok(),
        "the running registry"
    );
    // Loading again changes nothing (the upgrade happened once).
    let again = keys::load_or_generate(&store, Algorithm::ES256, "registryo")
        .await
        .unwrap();
    assert_eq!(again.keys.len(), 2);
    assert_eq!(again.authority.unwrap().cert_pem(), ca);

    let new_bundle = Verifier::from_cert_bundle_pem(&bundle).unwrap();
    for round in 0..=KEEP_PREVIOUS {
        let rotated = ops::rotate_keys(&store, &Actor::cli(), Algorithm::ES256, "registryo", None)
            .await
            .unwrap();
        assert!(
            !rotated.keys[0].is_self_signed(),
            "round {round}: a key the CA issued"
        );
        let set = rotated
            .into_key_set(KidStyle::Libtrust, KeyReference::X5c)
            .unwrap();
        assert!(
            new_bundle.verify(&token(&set), "iss", "svc").is_ok(),
            "round {round}"
        );
        let still_has_old = set.keys().iter().any(|k| k.cert_der() == old.cert_der());
        assert_eq!(
            still_has_old,
            round + 1 < KEEP_PREVIOUS + 1,
            "round {round}"
        );
        assert_eq!(
            set.cert_bundle_pem().matches("BEGIN CERTIFICATE").count(),
            1 + usize::from(still_has_old)
        );
    }
}

/// A two-step rotation an older version had staged is finished by the first rotation: its
/// staged key becomes the signing key, with the certificate the registry already knows.
#[tokio::test]
async fn a_key_an_older_version_staged_signs_after_the_first_rotation() {
    let (_dir, store) = sqlite_store().await;
    let old = SigningKey::generate(Algorithm::ES256, "registryo").unwrap();
    let staged = SigningKey::generate(Algorithm::ES256, "registryo").unwrap();
    store
        .set_setting(
            keys::SETTING,
            &legacy_list(&[(&old, true), (&staged, false)]),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let rotated = ops::rotate_keys(&store, &Actor::cli(), Algorithm::ES256, "registryo", None)
        .await
        .unwrap();
    assert_eq!(rotated.keys[0].cert_der(), staged.cert_der());
    let states: Vec<&str> = rotated.states().map(|(_, s)| s).collect();
    assert_eq!(states, ["signing", "published", "next"]);
}

/// Of two rotations that read the same keys, one commits and the other is told it lost and
/// writes nothing; the keys in the store are the winner's.
#[tokio::test]
async fn of_two_rotations_at_once_one_wins() {
    let (_dir, store) = sqlite_store().await;
    keys::load_or_generate(&store, Algorithm::ES256, "r")
        .await
        .unwrap();
    let first = keys::plan_rotation(&store, Algorithm::ES256, "r")
        .await
        .unwrap();
    let second = keys::plan_rotation(&store, Algorithm::ES256, "r")
        .await
        .unwrap();
    let winner = first.candidate().cert_der().to_vec();
    first.commit(&store, &|_| Vec::new()).await.unwrap();
    let err = second.commit(&store, &|_| Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("another rotation"), "{err}");
    let stored = keys::load(&store).await.unwrap().unwrap();
    assert_eq!(stored.keys[0].cert_der(), winner);
    assert_eq!(
        stored.keys.len(),
        3,
        "signing, previous, next: {:?}",
        stored.keys
    );
}

/// The signing key is due for renewal once its certificate has less than RENEW_BEFORE_SECS
/// left, and not before.
#[tokio::test]
async fn a_signing_key_is_renewed_before_its_certificate_expires() {
    let (_dir, store) = sqlite_store().await;
    let loaded = keys::load_or_generate(&store, Algorithm::ES256, "r")
        .await
        .unwrap();
    let not_after = loaded.keys[0].not_after();
    assert!(!keys::renewal_due(
        &loaded,
        registryo_core::time::unix_now()
    ));
    assert!(!keys::renewal_due(
        &loaded,
        not_after - RENEW_BEFORE_SECS - 60
    ));
    assert!(keys::renewal_due(
        &loaded,
        not_after - RENEW_BEFORE_SECS + 60
    ));
    // Not due now: nothing happens.
    let renewed = ops::renew_keys_if_due(&store, Algorithm::ES256, "r", None)
        .await
        .unwrap();
    assert!(renewed.is_none());
    // An older installation's self-signed key is never "due" (its certificate lasts ten years).
    let old = SigningKey::generate(Algorithm::ES256, "r").unwrap();
    store
        .set_setting(keys::SETTING, &legacy_list(&[(&old, true)]), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let upgraded = keys::load_or_generate(&store, Algorithm::ES256, "r")
        .await
        .unwrap();
    assert!(!keys::renewal_due(&upgraded, old.not_after() - 86_400));
}

/// The binary on an older installation's data: `registry-config` and `serve` say how to move
/// on (restart the registry, then rotate), and the bundle holds the CA and the old certificate.
#[tokio::test]
async fn the_binary_tells_an_upgraded_installation_what_to_do() {
    use crate::support::binary::{public_dir, registryo, started};
    use crate::support::command::output;
    let data = tempfile::tempdir().unwrap();
    let command = || {
        let mut c = registryo(data.path());
        c.env("REGISTRYO_DATA", data.path())
            .env("REGISTRYO_ADMIN_PASSWORD", "admin-password-1")
            .env("REGISTRYO_LOG", "warn");
        c
    };
    // An older version's keys, put in the database the binary made.
    let out = output(
        {
            let mut c = command();
            c.args(["--init", "user", "list"]);
            c
        },
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let old = SigningKey::generate(Algorithm::ES256, "registryo-test").unwrap();
    let url = format!("sqlite://{}/registryo.db", data.path().display());
    let store = registryo_store::Store::connect(&url).await.unwrap();
    store
        .set_setting(keys::SETTING, &legacy_list(&[(&old, true)]), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    store.close().await;

    let mut c = command();
    c.args(["registry-config", "--realm", "http://127.0.0.1:5001/token"]);
    let out = output(c, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("older self-signed") && err.contains("keys rotate"),
        "{err}"
    );
    let bundle =
        std::fs::read_to_string(public_dir(data.path()).join("registry-bundle.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
    assert!(
        bundle.ends_with(&old.cert_pem()),
        "the old certificate stays in the bundle"
    );

    let server = started(command());
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.starts_with("Note: the signing key is an older")),
        "{:?}",
        server.lines
    );
    drop(server);
    // After a rotation, nothing more to say.
    let mut c = command();
    c.args(["keys", "rotate"]);
    assert!(output(c, None).status.success());
    let mut c = command();
    c.args(["registry-config", "--realm", "http://127.0.0.1:5001/token"]);
    let out = output(c, None);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("older self-signed"));
}
