//! The registry's notifications, end to end: real clients push, pull, mount and delete
//! through the real registry (2.8 and v3), which notifies registryo; each event is found
//! with the right actor through the API and the CLI, a redelivered envelope is stored once,
//! and a wrong secret is refused.

use std::time::Duration;

use super::*;
use crate::support::{poll, until};

/// The registry delivers on its own schedule: look for up to a minute.
const TRIES: u32 = 300;
const PAUSE: Duration = Duration::from_millis(200);

impl T {
    /// The activity of `repository` as the admin sees it through the API.
    async fn activity(&self, repository: &str) -> Vec<Value> {
        let resp = self
            .http
            .get(format!("{}/api/v1/activity", self.target.registryo))
            .query(&[("repository", repository), ("limit", "1000")])
            .basic_auth("admin", Some(env().admin_password()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.unwrap();
        body["events"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `repository`'s activity holds an event matching `want`; returns it.
    async fn wait_event(
        &self,
        what: &str,
        repository: &str,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        poll(what, TRIES, PAUSE, || async {
            self.activity(repository)
                .await
                .into_iter()
                .find(|e| want(e))
        })
        .await
    }
}

fn is(e: &Value, action: &str, actor: &str) -> bool {
    e["action"] == action && e["actor"] == actor
}

/// docker pushes (owner), docker pushes an image sharing its layers into another repository
/// (a cross-repository mount, user), skopeo pulls (user) and deletes (owner): each event is
/// recorded with its actor; the registry's own envelope sent again is stored once; a wrong
/// secret gets 401.
async fn pushes_pulls_mounts_and_deletes_are_recorded_with_their_actor(target: &str) {
    let t = T::on("activity", target);
    let (owner, opw) = t.user("owner");
    let (user, pw) = t.user("user");
    let src = format!("{}/src", t.prefix);
    let dst = format!("{}/dst", t.prefix);
    t.acl(&format!("user:{owner}"), &src, "*");
    t.acl(&format!("user:{user}"), &src, "pull");
    t.acl(&format!("user:{user}"), &dst, "pull,push");
    t.wait_grant(
        Some((&owner, &opw)),
        &format!("repository:{src}:*"),
        "pull,push,delete",
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
    let push = t
        .wait_event("owner's push", &src, |e| {
            is(e, "push", &owner) && e["tag"] == "1" && e["subject"] == "manifest"
        })
        .await;
    let digest = push["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{push}");
    assert!(push["size"].as_i64().unwrap() > 0, "{push}");
    assert!(
        push["media_type"].as_str().unwrap().contains("manifest"),
        "{push}"
    );
    assert_eq!(push["remote_addr"], "127.0.0.1", "{push}");
    assert!(
        push["user_agent"].as_str().unwrap().contains("docker"),
        "{push}"
    );

    t.docker_login("u", &user, &pw).ok();
    t.docker("u", &["tag", &src_image, &dst_image], None).ok();
    let out = t.docker("u", &["push", &dst_image], None).ok();
    assert!(out.stdout.contains("Mounted from"), "{}", out.describe());
    let mount = t
        .wait_event("user's mount", &dst, |e| is(e, "mount", &user))
        .await;
    assert_eq!(mount["from_repository"], src.as_str(), "{mount}");
    t.wait_event("user's push", &dst, |e| {
        is(e, "push", &user) && e["tag"] == "1"
    })
    .await;

    let creds = format!("{user}:{pw}");
    t.skopeo(&[
        "inspect",
        "--creds",
        &creds,
        &format!("docker://{src_image}"),
    ])
    .ok();
    let pull = t
        .wait_event("user's pull", &src, |e| is(e, "pull", &user))
        .await;
    assert!(pull["count"].as_i64().unwrap() >= 1, "{pull}");

    let ocreds = format!("{owner}:{opw}");
    t.skopeo(&[
        "delete",
        "--creds",
        &ocreds,
        &format!("docker://{src_image}"),
    ])
    .ok();
    // Both versions report the tags that went (2.8: every tag of the manifest) and the
    // manifest, by digest.
    t.wait_event("owner's manifest delete", &src, |e| {
        is(e, "delete", &owner) && e["subject"] == "manifest" && e["digest"] == digest.as_str()
    })
    .await;
    t.wait_event("owner's tag delete", &src, |e| {
        is(e, "delete", &owner) && e["subject"] == "tag" && e["tag"] == "1"
    })
    .await;

    // The web UI: the audit log (both versions) and, where the shared server browses this
    // registry (2.8), the repository page's tag list and Activity.
    let web = ui_session(&t).await;
    let audit = web.page(&format!("/admin/audit?repository={src}")).await;
    for (action, who) in [("push", &owner), ("pull", &user), ("delete", &owner)] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(&format!("<code>registry.{action}</code>"))
                    && l.contains(&format!("<td>{who}</td>"))),
            "registry.{action} by {who} in the audit log: {audit}"
        );
    }
    let mounts = web
        .page(&format!(
            "/admin/audit?repository={dst}&action=registry.mount"
        ))
        .await;
    assert!(mounts.contains(&format!("<td>{user}</td>")), "{mounts}");
    if t.target.registryo == env().registryo_url() && t.target.version == "2" {
        let page = web.page(&format!("/registry/r/{dst}")).await;
        let tag_row = page
            .lines()
            .skip_while(|l| !l.contains("<code>1</code></a></td>"))
            .take(3)
            .collect::<String>();
        assert!(
            tag_row.contains(&format!("<td>{user}</td>")),
            "pushed by: {page}"
        );
        assert!(page.contains("<h2 class=\"pad\">Activity</h2>"), "{page}");
        assert!(
            page.contains(&format!("from {src}")),
            "the mount in the activity: {page}"
        );
    }

    // The CLI calls the same operation.
    let out = t.cli(&["activity", "--repository", &src], None).ok();
    for (action, who) in [("push", &owner), ("pull", &user), ("delete", &owner)] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(&format!(" {action} ")) && l.contains(&format!("by {who} "))),
            "{action} by {who}: {}",
            out.stdout
        );
    }

    // The registry's envelope sent again (it did not see the answer): stored once.
    let secret = notification_secret(&t);
    let envelope = json!({"events": [{
        "id": push["event_id"], "timestamp": push["time"], "action": "push",
        "target": {"mediaType": push["media_type"], "size": push["size"], "digest": digest,
                   "repository": src, "tag": "1",
                   "url": format!("http://{}/v2/{src}/manifests/{digest}", t.host())},
        "request": {"addr": "127.0.0.1:1", "useragent": "again"},
        "actor": {"name": owner},
    }]});
    let before = t.activity(&src).await.len();
    let events_url = format!("{}/registry/events", t.target.registryo);
    let resp = t
        .http
        .post(&events_url)
        .bearer_auth(&secret)
        .header("content-type", registryo_core::notify::MEDIA_TYPE)
        .body(envelope.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["recorded"].clone(), body["duplicates"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(t.activity(&src).await.len(), before);
    // A wrong secret, or none: 401, nothing stored.
    for auth in [Some("Bearer not-the-secret"), None] {
        let mut req = t.http.post(&events_url).body(envelope.to_string());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), 401, "{auth:?}");
    }
    until("nothing more recorded", 3, PAUSE, || async {
        t.activity(&src).await.len() == before
    })
    .await;
    // The pushes count under the test's namespace in /metrics (of the shared server: the one
    // with a metrics token here).
    let shared = crate::support::e2e_env::env();
    if t.target.registryo.trim_end_matches('/') == shared.registryo_url().trim_end_matches('/') {
        let token =
            std::fs::read_to_string(shared.get("REGISTRYO_E2E_METRICS_TOKEN_FILE")).unwrap();
        let scrape = t
            .http
            .get(format!("{}/metrics", t.target.registryo))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let namespace = format!("namespace=\"{}\"", t.prefix);
        assert!(
            scrape
                .lines()
                .any(|l| l.starts_with("registryo_namespace_events_total{")
                    && l.contains("action=\"push\"")
                    && l.contains(&namespace)),
            "no push counted for {namespace}:\n{scrape}"
        );
    }
}

/// An admin's web session on the target's registryo.
struct Web {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Web {
    async fn page(&self, path: &str) -> String {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        resp.text().await.unwrap()
    }
}

async fn ui_session(t: &T) -> Web {
    let http = crate::support::cookies::no_redirects();
    let base = t.target.registryo.clone();
    let resp =
        crate::support::cookies::sign_in(&http, &base, "admin", env().admin_password(), &[]).await;
    let session =
        crate::support::cookies::set_cookie(&resp, "registryo_session").expect("a session cookie");
    Web {
        http,
        base,
        cookie: format!("registryo_session={session}"),
    }
}

/// The secret `registry-config` gives the registry (the same every time: kept in the store).
fn notification_secret(t: &T) -> String {
    let realm = format!("{}/token", t.target.registryo);
    let out = t
        .cli(
            &[
                "registry-config",
                "--realm",
                &realm,
                "--registry-version",
                &t.target.version,
            ],
            None,
        )
        .ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("Authorization:"))
        .unwrap_or_else(|| panic!("no notification header: {}", out.stdout));
    let start = line.find("Bearer ").unwrap() + "Bearer ".len();
    line[start..].trim_end_matches(['"', ']']).to_owned()
}

both_versions!(pushes_pulls_mounts_and_deletes_are_recorded_with_their_actor);
