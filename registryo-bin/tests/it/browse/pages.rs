//! The browse pages: repositories filtered by the ACL, a repository's tags and who may do what, images and indexes, deleting a tag, namespaces.

use super::*;

#[tokio::test]
async fn repositories_are_filtered_by_the_acl_searched_and_paginated() {
    let t = setup().await;
    for i in 0..55 {
        t.push_image(&format!("pub/p{i:02}"), "1", false, plain_config())
            .await;
    }
    for repo in ["team/app", "alice/own", "secret/x"] {
        t.push_image(repo, "1", false, plain_config()).await;
    }
    t.rule("user:alice", "team/*", "pull").await;
    t.rule("authenticated", "pub/**", "pull").await;
    t.rule("authenticated", "${account}/**", "*").await;

    // Anonymous: sign in first.
    let r = t.get("/registry", None).await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/signin?next=%2Fregistry")
    );

    // The admin sees all 58, 50 a page.
    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("1–50 of 58"), "{}", r.body);
    assert!(r.body.contains("/registry/r/alice/own"));
    let r = t.get("/registry?page=2", Some(&admin)).await;
    assert!(r.body.contains("51–58 of 58"));
    assert!(r.body.contains("/registry/r/secret/x"));

    // Alice: pub/** (55), team/app, alice/own; never secret/x, whose pages are 404 for her.
    let alice = t.signin("alice", PW).await;
    let r = t.get("/registry?page=2", Some(&alice)).await;
    assert!(r.body.contains("51–57 of 57"), "{}", r.body);
    assert!(r.body.contains("/registry/r/team/app"));
    let first = t.get("/registry", Some(&alice)).await;
    assert!(first.body.contains("/registry/r/alice/own"));
    assert!(!r.body.contains("secret/x"));
    assert_eq!(
        t.get("/registry/r/secret/x", Some(&alice)).await.status,
        StatusCode::NOT_FOUND
    );
    // Search: a case-insensitive substring; the pager keeps it.
    let r = t.get("/registry?q=TEAM", Some(&alice)).await;
    assert!(r.body.contains("1–1 of 1") && r.body.contains("team/app"));
    let r = t.get("/registry?q=p0", Some(&alice)).await;
    assert!(r.body.contains("1–10 of 10"));
    let r = t.get("/registry?q=secret", Some(&alice)).await;
    assert!(r.body.contains("No repository matches"));
    let r = t.get("/registry?q=p", Some(&alice)).await;
    assert!(
        r.body.contains("href=\"/registry?q=p&#38;page=2\""),
        "{}",
        r.body
    );

    // Bob sees pub/** only.
    let bob = t.signin("bob", PW).await;
    let r = t.get("/registry", Some(&bob)).await;
    assert!(r.body.contains("1–50 of 55"));
    assert!(!r.body.contains("team/app") && !r.body.contains("alice/own"));
}

#[tokio::test]
async fn repository_page_lists_tags_and_who_may_do_what() {
    let t = setup().await;
    let d = t
        .push_image("team/app", "t000", false, plain_config())
        .await;
    let repo = name("team/app");
    let manifest = t.pusher.manifest(&repo, "t000").await.unwrap();
    for i in 1..150 {
        t.pusher
            .push_manifest(
                &repo,
                &format!("t{i:03}"),
                OCI_MANIFEST,
                manifest.raw.clone(),
            )
            .await
            .unwrap();
    }
    assert_eq!(manifest.digest, d.digest);
    t.rule("user:alice", "team/app", "pull").await;
    t.rule("group:devs", "team/*", "pull,push").await;
    t.rule("anonymous", "team/**", "pull").await;
    t.rule("authenticated", "team/app", "pull").await;
    t.rule("authenticated", "${account}/**", "*").await;
    t.rule("user:carol", "other/*", "delete").await;
    t.push_image("carol/tools", "1", false, plain_config())
        .await;

    let alice = t.signin("alice", PW).await;
    let r = t.get("/registry/r/team/app", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = &r.body;
    assert!(b.contains("all administrators"));
    assert!(b.contains("#1 user:alice team/app pull"), "{b}");
    assert!(b.contains("#2 group:devs team/* pull,push"));
    assert!(b.contains("everyone, signed in or not") && b.contains("#3 anonymous team/** pull"));
    assert!(b.contains("every signed-in user") && b.contains("#4 authenticated team/app pull"));
    assert!(
        !b.contains("other/*"),
        "a rule that does not match is not listed"
    );
    assert!(!b.contains("@mail.example"), "no e-mails for non-admins");
    assert!(
        !b.contains("/admin/users/"),
        "no admin links for non-admins"
    );
    // 150 tags, 100 a page; alice may not delete.
    assert!(b.contains("1–100 of 150") && b.contains("t099") && !b.contains("t100"));
    assert!(!b.contains("/delete"));
    let r = t.get("/registry/r/team/app?page=2", Some(&alice)).await;
    assert!(
        r.body.contains("101–150 of 150") && r.body.contains("/registry/r/team/app/-/tags/t149")
    );

    // ${account}: carol's namespace names carol, through the authenticated rule.
    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry/r/carol/tools", Some(&admin)).await;
    assert!(
        r.body
            .contains("#5 authenticated ${account}/** pull,push,delete"),
        "{}",
        r.body
    );
    assert!(r.body.contains("${account} is carol"));
    assert!(!r.body.contains("${account} is alice"));
    assert!(
        r.body.contains("/admin/users/"),
        "admins get links to users"
    );
    assert!(!r.body.contains("@mail.example"));
}

#[tokio::test]
async fn tag_pages_show_images_indexes_and_escape_what_the_registry_says() {
    let t = setup().await;
    let xss = config(
        "amd64",
        "<script>alert('label')</script>",
        "EVIL=<img src=x onerror=alert(1)>",
        "/bin/sh -c echo \"<b>history</b>\" && rm -rf /tmp/x",
    );
    let oci = t.push_image("team/oci", "1.0", false, xss.clone()).await;
    t.pusher
        .push_manifest(&name("team/oci"), "same", OCI_MANIFEST, {
            let m = t.pusher.manifest(&name("team/oci"), "1.0").await.unwrap();
            m.raw
        })
        .await
        .unwrap();
    let docker = t
        .push_image("team/docker", "v2", true, plain_config())
        .await;
    // A multi-arch index of amd64 and arm64/v8.
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&config(arch, "m", "M=1", "ADD m /")).unwrap();
        if let Some(v) = variant {
            cfg["variant"] = json!(v);
        }
        let mut d = t
            .push_image(
                "team/multi",
                &format!("tmp-{arch}"),
                false,
                Bytes::from(serde_json::to_vec(&cfg).unwrap()),
            )
            .await;
        d.platform = Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            os_version: None,
        });
        entries.push(d);
    }
    let index = Bytes::from(
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
        )
        .unwrap(),
    );
    t.pusher
        .push_manifest(&name("team/multi"), "latest", OCI_INDEX, index)
        .await
        .unwrap();
    t.rule("authenticated", "team/*", "pull").await;
    let alice = t.signin("alice", PW).await;

    let r = t.get("/registry/r/team/oci/-/tags/1.0", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = &r.body;
    assert!(b.contains(OCI_MANIFEST) && b.contains(oci.digest.as_str()));
    assert!(b.contains("linux/amd64") && b.contains("2024-05-01 12:00:00 UTC"));
    assert!(b.contains("2.9 KiB"), "3000 B of layer + the config: {b}");
    assert!(b.contains(OCI_LAYER_GZIP) && b.contains("team") && b.contains("platform"));
    assert!(b.contains("LABEL team=platform") && b.contains(">empty<"));
    for raw in ["<script>alert(", "<img src=x", "<b>history</b>"] {
        assert!(!b.contains(raw), "{raw} must be escaped");
    }
    assert!(b.contains("&#60;script&#62;alert(") && b.contains("&#60;img src=x"));
    assert!(b.contains("&#60;b&#62;history&#60;/b&#62;"));
    assert!(!b.contains("Delete this tag"), "alice may not delete");

    let r = t
        .get("/registry/r/team/docker/-/tags/v2", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(DOCKER_MANIFEST_V2) && r.body.contains(docker.digest.as_str()));
    assert!(r.body.contains(DOCKER_LAYER_GZIP) && r.body.contains("linux/amd64"));

    let r = t
        .get("/registry/r/team/multi/-/tags/latest", Some(&alice))
        .await;
    assert!(r.body.contains(OCI_INDEX) && r.body.contains("linux/arm64/v8"));
    let link = format!("/registry/r/team/multi/-/manifests/{}", entries[1].digest);
    assert!(r.body.contains(&link), "{}", r.body);
    let r = t.get(&link, Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("linux/arm64/v8") && r.body.contains(OCI_LAYER_GZIP));

    // Missing things are 404 pages, odd paths too.
    for path in [
        "/registry/r/team/oci/-/tags/nope",
        "/registry/r/team/none",
        "/registry/r/team/oci/-/tags/%3Cx%3E",
        "/registry/r/team/oci/-/manifests/sha256:00",
    ] {
        let r = t.get(path, Some(&alice)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn deleting_a_tag_needs_the_right_and_the_csrf_token_and_names_its_siblings() {
    let t = setup().await;
    let d = t.push_image("team/app", "1.0", false, plain_config()).await;
    let raw = t
        .pusher
        .manifest(&name("team/app"), "1.0")
        .await
        .unwrap()
        .raw;
    for tag in ["latest", "stable"] {
        t.pusher
            .push_manifest(&name("team/app"), tag, OCI_MANIFEST, raw.clone())
            .await
            .unwrap();
    }
    t.push_image("team/app", "other", false, config("arm64", "o", "O=1", "x"))
        .await;
    t.rule("authenticated", "team/*", "pull").await;
    t.rule("user:carol", "team/*", "delete").await;

    // Alice: no button, 403 on the confirmation and the POST; nothing deleted.
    let alice = t.signin("alice", PW).await;
    let path = "/registry/r/team/app/-/tags/latest/delete";
    assert!(
        !t.get("/registry/r/team/app", Some(&alice))
            .await
            .body
            .contains("/delete")
    );
    assert_eq!(
        t.get(path, Some(&alice)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.post(path, Some(&alice), &[]).await.status,
        StatusCode::FORBIDDEN
    );

    // Carol: the button, the confirmation naming the other tags on that digest.
    let carol = t.signin("carol", PW).await;
    let page = t.get("/registry/r/team/app", Some(&carol)).await;
    assert!(page.body.contains(path));
    let r = t.get(path, Some(&carol)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(d.digest.as_str()));
    assert!(r.body.contains("<code>1.0</code>") && r.body.contains("<code>stable</code>"));
    assert!(!r.body.contains("<code>other</code>"));
    // A POST without the CSRF token is refused before anything happens.
    let r = t.post(path, Some(&carol), &[("csrf", "forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(t.pusher.tags_all(&name("team/app")).await.unwrap().len(), 4);
    // A stale confirmation (the tag moved) is refused.
    let r = t
        .post(
            path,
            Some(&carol),
            &[("digest", Digest::sha256(b"x").as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .post(path, Some(&carol), &[("digest", d.digest.as_str())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/registry/r/team/app?ok=deleted");
    assert_eq!(
        t.pusher.tags_all(&name("team/app")).await.unwrap(),
        ["other"]
    );
    let events = t
        .store
        .list_audit_events(&AuditQuery {
            action: Some("registry.tag.delete".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor.as_deref(), Some("carol"));
    assert_eq!(events[0].target.as_deref(), Some("team/app:latest"));
    assert!(
        events[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("1.0, latest, stable")
    );
    // Gone: a clear 404.
    assert_eq!(
        t.get("/registry/r/team/app/-/tags/latest", Some(&carol))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Creating an account whose name is the first segment of existing repositories, while an
/// `${account}` rule exists, hands it those repositories: the UI and the API say which and
/// need an explicit confirmation (`force`).
#[tokio::test]
async fn a_new_account_does_not_silently_take_over_a_namespace() {
    let t = setup().await;
    t.rule("authenticated", "${account}/**", "*").await;
    t.push_image("dave/tools", "1", false, plain_config()).await;
    t.push_image("erin/app", "1", false, plain_config()).await;
    let admin = t.signin("admin", PW).await;

    // The UI: the form again, naming the repository, with a "create it anyway" box.
    let form = [("username", "dave"), ("password", "dave-password-1")];
    let r = t.post("/admin/users", Some(&admin), &form).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body.contains("dave/tools") && r.body.contains("${account}"),
        "{}",
        r.body
    );
    assert!(r.body.contains("name=\"force\""));
    assert!(
        t.store.get_user_by_name("dave").await.is_err(),
        "not created"
    );
    let mut forced = form.to_vec();
    forced.push(("force", "on"));
    let r = t.post("/admin/users", Some(&admin), &forced).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(t.store.get_user_by_name("dave").await.is_ok());

    // The API: 409 with the message, then `force`.
    let api = |body: serde_json::Value| {
        Request::post("/api/v1/users")
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::COOKIE,
                format!("registryo_session={}", admin.cookie),
            )
            .header("x-csrf-token", admin.csrf.clone())
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = t
        .send(api(
            json!({"username": "erin", "password": "erin-password-1"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("erin/app"), "{}", r.body);
    let r = t
        .send(api(
            json!({"username": "erin", "password": "erin-password-1", "force": true}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // A name that owns no existing repository needs nothing.
    let r = t
        .send(api(
            json!({"username": "frank", "password": "frank-password-1"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
