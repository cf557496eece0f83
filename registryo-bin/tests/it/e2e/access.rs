//! What the rules allow: readers, anonymous pulls, logins that never reduce access, account namespaces, delete, cross-repository mounts, the catalog.

use super::*;

/// A reader pulls, and docker reports a refused push as "denied".
async fn a_reader_pulls_and_is_denied_a_push(target: &str) {
    let t = T::on("reader", target);
    let (writer, wpw) = t.user("writer");
    let (reader, rpw) = t.user("reader");
    let repo = format!("{}/app", t.prefix);
    t.acl(&format!("user:{writer}"), &repo, "pull,push");
    t.acl(&format!("user:{reader}"), &repo, "pull");
    t.wait_grant(
        Some((&writer, &wpw)),
        &format!("repository:{repo}:pull,push"),
        "pull,push",
    )
    .await;
    t.wait_grant(
        Some((&reader, &rpw)),
        &format!("repository:{repo}:pull"),
        "pull",
    )
    .await;

    let image = t.image("app:1");
    t.docker_import("w", &image);
    t.docker_login("w", &writer, &wpw).ok();
    t.docker("w", &["push", &image], None).ok();
    t.docker("w", &["rmi", &image], None).ok();

    t.docker_login("r", &reader, &rpw).ok();
    t.docker("r", &["pull", &image], None).ok();
    let tag2 = t.image("app:2");
    t.docker("r", &["tag", &image, &tag2], None).ok();
    t.docker("r", &["push", &tag2], None)
        .fails_with("denied: requested access to the resource is denied");
}

/// Anonymous pulls work where an `anonymous` rule allows them, and only there.
async fn anonymous_pull_only_where_a_rule_allows_it(target: &str) {
    let t = T::on("anon", target);
    t.seed("public/app:1");
    t.seed("private/app:1");
    t.acl("anonymous", &format!("{}/public/**", t.prefix), "pull");
    t.wait_grant(
        None,
        &format!("repository:{}/public/app:pull", t.prefix),
        "pull",
    )
    .await;

    let public = format!("docker://{}", t.image("public/app:1"));
    let private = format!("docker://{}", t.image("private/app:1"));
    let out = t.skopeo(&["inspect", "--no-creds", &public]).ok();
    assert!(
        out.stdout.contains("io.registryo.e2e"),
        "{}",
        out.describe()
    );
    t.skopeo(&["inspect", "--no-creds", &private])
        .fails_with("authentication required");
    // Anonymous may not push, even where it may pull.
    t.skopeo(&[
        "copy",
        "--dest-no-creds",
        env().get("E2E_IMAGE_SINGLE"),
        &format!("docker://{}", t.image("public/app:2")),
    ])
    .fails_with("authentication required");

    // docker, never logged in (an empty config folder).
    t.docker("anon", &["pull", &t.image("public/app:1")], None)
        .ok();
    t.docker("anon", &["pull", &t.image("private/app:1")], None)
        .fails_with("denied");
}

/// A login never reduces access: after logging in, docker, podman, skopeo and buildah still
/// pull what anonymous may pull (they send the stored login on every request), and ctr pushes
/// an image built on a public one (its cross-repo mount needs `pull` on the public source).
async fn a_login_never_reduces_access(target: &str) {
    let t = T::on("login", target);
    t.seed("public/base:1");
    let (user, pw) = t.user("alice");
    t.acl("anonymous", &format!("{}/public/**", t.prefix), "pull");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/mine/**", t.prefix),
        "pull,push",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/public/base:pull", t.prefix),
        "pull",
    )
    .await;
    let base = t.image("public/base:1");

    // explain names the anonymous rule for a signed-in user.
    let out = t
        .cli(
            &[
                "acl",
                "explain",
                &user,
                &format!("repository:{}/public/base:pull", t.prefix),
            ],
            None,
        )
        .ok();
    assert!(
        out.stdout.contains("anonymous") && out.stdout.contains("granted: pull"),
        "{}",
        out.describe()
    );

    // docker: login stores a refresh token, the pull then uses it.
    t.docker_login("d", &user, &pw).ok();
    t.docker("d", &["pull", &base], None).ok();

    // podman, skopeo, buildah with the login in their auth file.
    let auth = t.authfile("alice");
    t.podman(
        &[
            "login",
            "--authfile",
            &auth,
            "-u",
            &user,
            "--password-stdin",
            t.host(),
        ],
        Some(&pw),
    )
    .ok();
    t.podman(&["pull", "--authfile", &auth, &base], None).ok();
    t.skopeo(&["inspect", "--authfile", &auth, &format!("docker://{base}")])
        .ok();
    t.buildah(&["pull", "--authfile", &auth, &base]).ok();
    // Still no push where only anonymous pull is allowed.
    t.skopeo(&[
        "copy",
        "--dest-authfile",
        &auth,
        env().get("E2E_IMAGE_SINGLE"),
        &format!("docker://{}", t.image("public/base:2")),
    ])
    .fails_with("denied");

    // ctr: the public base pulled anonymously, then pushed into alice's namespace; the layers
    // are mounted from the public repository with alice's token.
    let mine = t.image("mine/app:1");
    t.ctr(&["images", "pull", "--plain-http", &base]).ok();
    t.ctr(&["images", "tag", &base, &mine]).ok();
    let creds = format!("{user}:{pw}");
    t.ctr(&["images", "push", "--plain-http", "--user", &creds, &mine])
        .ok();
    t.ctr(&["images", "rm", "--sync", &base, &mine]).ok();
    let out = t
        .skopeo(&[
            "inspect",
            "--creds",
            &creds,
            "--format",
            "{{.Digest}}",
            &format!("docker://{mine}"),
        ])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        env().get("E2E_IMAGE_SINGLE_DIGEST"),
        "{}",
        out.describe()
    );
}

/// `${account}/**` for `authenticated`: everyone pushes to their own namespace only.
async fn account_namespaces_are_their_owners_only(target: &str) {
    let t = T::on("ns", target);
    let (alice, apw) = t.user("alice");
    let (bob, bpw) = t.user("bob");
    // Global, but harmless to the other tests: no other test's repository is named after
    // one of its users.
    t.acl("authenticated", "${account}/**", "pull,push");
    t.wait_grant(
        Some((&alice, &apw)),
        &format!("repository:{alice}/app:pull,push"),
        "pull,push",
    )
    .await;

    let host = t.host();
    let own = format!("{host}/{alice}/app:1");
    let other = format!("{host}/{bob}/app:1");
    t.docker_import("a", &own);
    t.docker("a", &["tag", &own, &other], None).ok();
    t.docker_login("a", &alice, &apw).ok();
    t.docker("a", &["push", &own], None).ok();
    t.docker("a", &["push", &other], None).fails_with("denied");

    // Bob, with skopeo: his own namespace yes, Alice's no.
    let auth = t.authfile("bob");
    t.skopeo(&["login", "--authfile", &auth, "-u", &bob, "-p", &bpw, host])
        .ok();
    let src = env().get("E2E_IMAGE_SINGLE");
    t.skopeo(&[
        "copy",
        "--authfile",
        &auth,
        src,
        &format!("docker://{host}/{bob}/app:1"),
    ])
    .ok();
    t.skopeo(&[
        "copy",
        "--authfile",
        &auth,
        src,
        &format!("docker://{host}/{alice}/app:2"),
    ])
    .fails_with("denied: requested access to the resource is denied");
    // Reading someone else's namespace is refused too.
    t.skopeo(&[
        "inspect",
        "--authfile",
        &auth,
        &format!("docker://{host}/{alice}/app:1"),
    ])
    .fails_with("authentication required");
}

/// `skopeo delete` (which asks for `repository:R:*`) works with the delete right only.
async fn skopeo_delete_needs_the_delete_right(target: &str) {
    let t = T::on("del", target);
    t.seed("keep/app:1");
    t.seed("drop/app:1");
    let (user, pw) = t.user("ops");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    t.acl(
        &format!("user:{user}"),
        &format!("{}/drop/*", t.prefix),
        "delete",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/drop/app:*", t.prefix),
        "pull,push,delete",
    )
    .await;

    let auth = t.authfile("ops");
    t.skopeo(&[
        "login",
        "--authfile",
        &auth,
        "-u",
        &user,
        "-p",
        &pw,
        t.host(),
    ])
    .ok();
    let keep = format!("docker://{}", t.image("keep/app:1"));
    let drop = format!("docker://{}", t.image("drop/app:1"));
    t.skopeo(&["delete", "--authfile", &auth, &keep])
        .fails_with("authentication required");
    t.skopeo(&["inspect", "--authfile", &auth, &keep]).ok();
    t.skopeo(&["delete", "--authfile", &auth, &drop]).ok();
    t.skopeo(&["inspect", "--authfile", &auth, &drop])
        .fails_with("manifest unknown");
}

/// docker mounts layers from a repository the user may pull instead of uploading them again.
async fn docker_push_mounts_layers_from_a_readable_repository(target: &str) {
    let t = T::on("mount", target);
    let (owner, opw) = t.user("owner");
    let (user, pw) = t.user("user");
    let src = format!("{}/src", t.prefix);
    let dst = format!("{}/dst", t.prefix);
    t.acl(&format!("user:{owner}"), &src, "pull,push");
    t.acl(&format!("user:{user}"), &src, "pull");
    t.acl(&format!("user:{user}"), &dst, "pull,push");
    t.wait_grant(
        Some((&owner, &opw)),
        &format!("repository:{src}:pull,push"),
        "pull,push",
    )
    .await;
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{dst}:pull,push"),
        "pull,push",
    )
    .await;

    let src_image = t.image("src:1");
    let dst_image = t.image("dst:1");
    t.docker_import("o", &src_image);
    t.docker_login("o", &owner, &opw).ok();
    t.docker("o", &["push", &src_image], None).ok();

    t.docker_login("u", &user, &pw).ok();
    t.docker("u", &["tag", &src_image, &dst_image], None).ok();
    let out = t.docker("u", &["push", &dst_image], None).ok();
    assert!(
        out.stdout.contains(&format!("Mounted from {src}")),
        "the layer was not mounted: {}",
        out.describe()
    );
}

/// `_catalog` (scope `registry:catalog:*`) is for admins only.
async fn the_catalog_is_for_admins_only(target: &str) {
    let t = T::on("catalog", target);
    t.seed("app:1");
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/app:pull", t.prefix),
        "pull",
    )
    .await;

    let admin = t
        .token(
            Some(("admin", env().admin_password())),
            "registry:catalog:*",
        )
        .await;
    let (status, body) = t.registry_get("/v2/_catalog?n=1000", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let repos = json["repositories"].as_array().unwrap();
    let want = format!("{}/app", t.prefix);
    assert!(repos.iter().any(|r| r == &want[..]), "{want} not in {body}");

    let token = t.token(Some((&user, &pw)), "registry:catalog:*").await;
    assert_eq!(claims(&token)["access"], serde_json::json!([]));
    let (status, body) = t.registry_get("/v2/_catalog", Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = t.registry_get("/v2/_catalog", None).await;
    assert_eq!(status, 401, "{body}");
}

/// Creating an account whose name is the first segment of existing repositories, while an
/// `${account}` rule exists, would hand it those repositories: the CLI, asking the real
/// registry, names them and needs `--force`.
async fn a_new_account_needs_force_to_take_an_existing_namespace(target: &str) {
    let t = T::on("takeover", target);
    let owner = format!("{}-bob", t.prefix);
    let creds = format!("admin:{}", env().admin_password());
    t.skopeo(&[
        "copy",
        "--dest-creds",
        &creds,
        env().get("E2E_IMAGE_SINGLE"),
        &format!("docker://{}/{owner}/tools:1", t.host()),
    ])
    .ok();
    t.acl("authenticated", "${account}/**", "pull");
    let registry = t.target.registry_url();
    let add = |force: bool| {
        let mut args = vec!["user", "add", owner.as_str(), "--password-stdin"];
        if force {
            args.push("--force");
        }
        let mut cmd = t.cli_command(&args);
        cmd.env("REGISTRYO_REGISTRY_URL", &registry);
        run(cmd, Some("bobs-password-1"))
    };
    let out = add(false).fails_with("--force");
    assert!(
        out.stderr.contains(&format!("{owner}/tools")),
        "{}",
        out.describe()
    );
    assert!(!t.cli(&["user", "list"], None).ok().stdout.contains(&owner));
    add(true).ok();
    t.wait_grant(
        Some((&owner, "bobs-password-1")),
        &format!("repository:{owner}/tools:pull"),
        "pull",
    )
    .await;
}

both_versions!(
    a_reader_pulls_and_is_denied_a_push,
    anonymous_pull_only_where_a_rule_allows_it,
    a_login_never_reduces_access,
    account_namespaces_are_their_owners_only,
    skopeo_delete_needs_the_delete_right,
    docker_push_mounts_layers_from_a_readable_repository,
    the_catalog_is_for_admins_only,
    a_new_account_needs_force_to_take_an_existing_namespace,
);
