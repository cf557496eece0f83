//! The registry behind the pages: down, hanging, slow to refresh, and large.

use super::*;

#[tokio::test]
async fn a_registry_that_is_down_is_a_clear_message_not_a_500() {
    let down = format!("http://127.0.0.1:{}", free_port());
    let t = setup_with(&down, RegistryOptions::default()).await;
    let admin = t.signin("admin", PW).await;
    for path in [
        "/registry",
        "/registry/r/team/app",
        "/registry/r/team/app/-/tags/1",
    ] {
        let r = t.get(path, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{path}");
        assert!(r.body.contains("cannot be reached"), "{path}: {}", r.body);
        assert!(r.body.contains(&down));
    }
}

#[tokio::test]
async fn a_hanging_registry_holds_each_viewer_one_time_out_with_one_catalog_request() {
    use std::sync::atomic::Ordering;
    let fake = fake_registry(false);
    let options = RegistryOptions {
        timeout: Duration::from_secs(3),
        ..RegistryOptions::default()
    };
    let t = setup_with(&fake.url, options).await;
    let admin = t.signin("admin", PW).await;
    let views = concurrent_views(&t, &admin, "/registry", 4).await;
    for r in &views {
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
        assert!(r.body.contains("did not answer in time"), "{}", r.body);
    }
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        1,
        "one catalog fetch for every viewer waiting"
    );
}

#[tokio::test]
async fn the_last_catalog_is_served_while_a_refresh_hangs() {
    use std::sync::atomic::Ordering;
    let fake = fake_registry(true);
    // Every view finds the catalog stale and waits 200 ms for a refresh that hangs for as
    // long as the test runs.
    let options = RegistryOptions {
        timeout: Duration::from_secs(60),
        catalog_ttl: Duration::ZERO,
        refresh_wait: Duration::from_millis(200),
        ..RegistryOptions::default()
    };
    let t = setup_with(&fake.url, options).await;
    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("/registry/r/team/web"), "{}", r.body);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);

    fake.answer.store(false, Ordering::SeqCst);
    for round in 0..2 {
        for r in concurrent_views(&t, &admin, "/registry", 4).await {
            assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
            assert!(r.body.contains("/registry/r/team/web"), "round {round}");
        }
        let start = Instant::now();
        while fake.requests.load(Ordering::SeqCst) < 2 {
            assert!(start.elapsed() < Duration::from_secs(30), "no refresh");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            fake.requests.load(Ordering::SeqCst),
            2,
            "round {round}: one refresh in flight, shared"
        );
    }
}

/// Issue 4's sizes against the real registry: 5,000 repositories (catalog pages of 1,000,
/// filtered by the ACL, paginated and searched in memory) and 2,000 tags on one repository.
#[tokio::test]
async fn five_thousand_repositories_and_two_thousand_tags() {
    let t = setup().await;
    // One manifest, pushed once; every repository mounts its blobs and gets the manifest.
    let first = t
        .push_image("scale/r0000", "1", false, plain_config())
        .await;
    let manifest = t.pusher.manifest(&name("scale/r0000"), "1").await.unwrap();
    assert_eq!(manifest.digest.to_string(), first.digest.to_string());
    let mut jobs = tokio::task::JoinSet::new();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for i in 1..5000 {
        tx.send(format!("scale/r{i:04}")).unwrap();
    }
    drop(tx);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for _ in 0..8 {
        let (p, rx, raw) = (t.pusher.clone(), Arc::clone(&rx), manifest.raw.clone());
        let media_type = manifest.media_type.clone();
        let registryo_core::client::Manifest::Image(image) = manifest.manifest.clone() else {
            panic!("an image manifest")
        };
        jobs.spawn(async move {
            loop {
                let next = rx.lock().unwrap().recv();
                let Ok(repo) = next else { break };
                let repo = name(&repo);
                for blob in std::iter::once(&image.config).chain(&image.layers) {
                    let mounted = p
                        .mount_blob(&repo, &name("scale/r0000"), &blob.digest)
                        .await
                        .unwrap();
                    assert!(mounted, "{repo}: {} not mounted", blob.digest);
                }
                p.push_manifest(&repo, "1", &media_type, raw.clone())
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = jobs.join_next().await {
        done.unwrap();
    }
    // 2,000 tags on one repository.
    for i in 1..2000 {
        t.pusher
            .push_manifest(
                &name("scale/r0000"),
                &format!("t{i:04}"),
                &manifest.media_type,
                manifest.raw.clone(),
            )
            .await
            .unwrap();
    }
    t.rule("authenticated", "scale/r1*", "pull").await;

    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("1–50 of 5000"),
        "{}",
        &r.body[..r.body.len().min(3000)]
    );
    let r = t.get("/registry?page=100", Some(&admin)).await;
    assert!(r.body.contains("4951–5000 of 5000") && r.body.contains("scale/r4999"));
    let r = t.get("/registry?q=r42", Some(&admin)).await;
    assert!(
        r.body.contains("1–50 of 100"),
        "{}",
        &r.body[..r.body.len().min(3000)]
    );

    // alice may pull scale/r1000 … scale/r1999 only.
    let alice = t.signin("alice", PW).await;
    let r = t.get("/registry?page=20", Some(&alice)).await;
    assert!(r.body.contains("951–1000 of 1000") && r.body.contains("scale/r1999"));
    assert!(!r.body.contains("scale/r2000"));

    let r = t.get("/registry/r/scale/r0000?page=20", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("1901–2000 of 2000"),
        "{}",
        &r.body[..r.body.len().min(3000)]
    );
}
