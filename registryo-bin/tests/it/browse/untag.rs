//! Deleting a tag on each registry version: distribution v3 removes the tag alone, 2.8 deletes
//! its manifest with every tag on it (and the confirmation names them). `team/a:1` and
//! `team/a:2` share one manifest in each test.

use registryo_core::client::Manifest;

use super::*;

const REPO: &str = "team/a";
const CONFIRM: &str = "/registry/r/team/a/-/tags/1/delete";

/// `team/a:1` and `team/a:2`, one manifest; its descriptor.
async fn two_tags_one_manifest(t: &T) -> Descriptor {
    let d = t.push_image(REPO, "1", false, plain_config()).await;
    let raw = t.pusher.manifest(&name(REPO), "1").await.unwrap().raw;
    t.pusher
        .push_manifest(&name(REPO), "2", OCI_MANIFEST, raw)
        .await
        .unwrap();
    d
}

impl T {
    /// The tags of `team/a`, sorted (2.8 lists them in no order).
    async fn tags(&self) -> Vec<String> {
        let mut tags = self.pusher.tags_all(&name(REPO)).await.unwrap();
        tags.sort();
        tags
    }
}

/// The audit events of `action`.
async fn events(t: &T, action: &str) -> Vec<registryo_store::AuditEvent> {
    t.store
        .list_audit_events(&AuditQuery {
            action: Some(action.into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn on_v3_deleting_a_tag_removes_that_tag_alone() {
    let t = setup_version(RegistryVersion::V3, RegistryOptions::default()).await;
    let d = two_tags_one_manifest(&t).await;
    let admin = t.signin("admin", PW).await;

    // The confirmation says the tag goes alone, names no other tag, and carries version 3.
    let r = t.get(CONFIRM, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("removes this tag only"), "{}", r.body);
    assert!(!r.body.contains("deleted too") && !r.body.contains("<code>2</code>"));
    assert!(r.body.contains(r#"name="version" value="3""#), "{}", r.body);

    // A confirmation worded for 2.8 (every tag goes) is not acted on here; nor a bad version.
    let stale = [("digest", d.digest.as_str()), ("version", "2")];
    let r = t.post(CONFIRM, Some(&admin), &stale).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("look again"), "{}", r.body);
    let bad = [("digest", d.digest.as_str()), ("version", "9")];
    let r = t.post(CONFIRM, Some(&admin), &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(t.tags().await, ["1", "2"]);

    let form = [("digest", d.digest.as_str()), ("version", "3")];
    let r = t.post(CONFIRM, Some(&admin), &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/registry/r/team/a?ok=untagged");
    let r = t.get("/registry/r/team/a?ok=untagged", Some(&admin)).await;
    assert!(r.body.contains("The tag is removed; its manifest stays."));

    // `2` is still there and pullable: its manifest and its blobs.
    assert_eq!(t.tags().await, ["2"]);
    let pulled = t.pusher.manifest(&name(REPO), "2").await.unwrap();
    assert_eq!(pulled.digest, d.digest);
    let Manifest::Image(image) = &pulled.manifest else {
        panic!("an image manifest")
    };
    for layer in &image.layers {
        t.pusher
            .blob(&name(REPO), &layer.digest, 1 << 20)
            .await
            .unwrap();
    }
    assert!(
        t.pusher
            .manifest(&name(REPO), "1")
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Audited as what happened: the tag removed, the manifest kept.
    let untagged = events(&t, "registry.tag.untag").await;
    assert_eq!(untagged.len(), 1);
    assert_eq!(untagged[0].actor.as_deref(), Some("admin"));
    assert_eq!(untagged[0].target.as_deref(), Some("team/a:1"));
    let detail = untagged[0].detail.as_deref().unwrap();
    assert!(
        detail.contains(d.digest.as_str()) && detail.contains("stays"),
        "{detail}"
    );
    assert!(events(&t, "registry.tag.delete").await.is_empty());
}

#[tokio::test]
async fn on_2_8_the_confirmation_names_the_other_tags_and_they_all_go() {
    let t = setup().await;
    let d = two_tags_one_manifest(&t).await;
    let admin = t.signin("admin", PW).await;

    let r = t.get(CONFIRM, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("deleted too") && r.body.contains("<code>2</code>"));
    assert!(!r.body.contains("removes this tag only"));
    assert!(r.body.contains(r#"name="version" value="2""#), "{}", r.body);

    // A confirmation worded for v3 (the tag alone) is not acted on: it would delete `2` too.
    let stale = [("digest", d.digest.as_str()), ("version", "3")];
    let r = t.post(CONFIRM, Some(&admin), &stale).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(t.tags().await, ["1", "2"]);

    let form = [("digest", d.digest.as_str()), ("version", "2")];
    let r = t.post(CONFIRM, Some(&admin), &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/registry/r/team/a?ok=deleted");
    for tag in ["1", "2"] {
        let e = t.pusher.manifest(&name(REPO), tag).await.unwrap_err();
        assert!(e.is_not_found(), "{tag}: {e}");
    }
    let deleted = events(&t, "registry.tag.delete").await;
    assert_eq!(deleted.len(), 1);
    let detail = deleted[0].detail.as_deref().unwrap();
    assert!(
        detail.contains(d.digest.as_str()) && detail.contains("with tags 1, 2"),
        "{detail}"
    );
    assert!(events(&t, "registry.tag.untag").await.is_empty());
}

/// `registry_version = 3` in front of a 2.8: the confirmation believes the setting, the
/// registry refuses the untag, and the person is told why; nothing is deleted.
#[tokio::test]
async fn a_wrong_registry_version_setting_is_a_clear_error_and_deletes_nothing() {
    let options = RegistryOptions {
        version: VersionSetting::Fixed(RegistryVersion::V3),
        ..RegistryOptions::default()
    };
    let t = setup_version(RegistryVersion::V2, options).await;
    let d = two_tags_one_manifest(&t).await;
    let admin = t.signin("admin", PW).await;
    let r = t.get(CONFIRM, Some(&admin)).await;
    assert!(r.body.contains("removes this tag only"), "{}", r.body);
    let form = [("digest", d.digest.as_str()), ("version", "3")];
    let r = t.post(CONFIRM, Some(&admin), &form).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert!(
        r.body.contains("cannot remove a tag alone") && r.body.contains("registry_version"),
        "{}",
        r.body
    );
    assert_eq!(t.tags().await, ["1", "2"]);
    assert!(events(&t, "registry.tag.untag").await.is_empty());
}
