//! Browser tests: real headless Chromium (Debian's `chromium` and `chromium-driver`) driven
//! through `chromedriver` with fantoccini, against the `registryo serve` and the real registry
//! that `./scripts/test` starts (the same description as the end-to-end tests:
//! `REGISTRYO_E2E_ENV`). Ignored by a plain `cargo test`; `scripts/test` runs them with
//! `--include-ignored`.
//!
//! One test walks the UI as a person would: sign in, browse to one platform of a multi-arch
//! image, delete a tag, create a user and a rule and watch the repository's access list change.
//! Screenshots of the main pages go to `test-output/screenshots/` at the workspace root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use registryo_core::testing::free_port;

use crate::support::command::run;
use crate::support::e2e_env::env;

// --- chromedriver ------------------------------------------------------------------------------

/// A `chromedriver` child on a free port; killed on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start chromedriver ({e}): run scripts/e2e/install (chromium-driver)")
        });
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        "--window-size=1280,1100".to_owned(),
        format!("--user-data-dir={}", driver._profile.path().display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({"binary": "/usr/bin/chromium", "args": args}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"));
    (driver, client)
}

/// `test-output/screenshots/` at the workspace root.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("test-output")
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// The text of the page's `main`, retried while a new page is loading.
async fn text(c: &Client) -> String {
    let mut last = None;
    for _ in 0..100 {
        match c.find(Locator::Css("main")).await {
            Ok(main) => match main.text().await {
                Ok(t) => return t,
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no readable <main>: {last:?}");
}

/// Clicks `el` and waits until the page it was on is gone (the click navigated).
async fn click_and_wait(c: &Client, el: fantoccini::elements::Element) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    el.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while old.tag_name().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the click did not navigate in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click_link(c: &Client, text: &str) {
    let link = c
        .find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("no link {text:?}: {e}"));
    click_and_wait(c, link).await;
}

async fn fill(c: &Client, form: &str, fields: &[(&str, &str)]) {
    let f = c.find(Locator::Css(form)).await.unwrap();
    for (name, value) in fields {
        let input = f
            .find(Locator::Css(&format!("[name=\"{name}\"]")))
            .await
            .unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    let button = f.find(Locator::Css("button[type=submit]")).await.unwrap();
    click_and_wait(c, button).await;
}

// --- the test ----------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the registryo, registry and Chromium that ./scripts/test starts"]
async fn a_person_browses_deletes_a_tag_and_grants_access() {
    let e = env();
    let base = e.registryo_url();
    let host = e.host();
    let skopeo = e.wrapper("skopeo");
    let creds = format!("admin:{}", e.admin_password());
    // The test images: single-platform OCI, Docker schema 2, a multi-arch index, and two tags
    // on one manifest to delete.
    for (src, dest, extra) in [
        (e.get("E2E_IMAGE_SINGLE"), "browser/single:1.0", None),
        (
            e.get("E2E_IMAGE_SINGLE"),
            "browser/docker:1.0",
            Some("--format=v2s2"),
        ),
        (
            e.get("E2E_IMAGE_MULTI"),
            "browser/multi:latest",
            Some("--all"),
        ),
        (e.get("E2E_IMAGE_SINGLE"), "browser/trash:old", None),
        (e.get("E2E_IMAGE_SINGLE"), "browser/trash:older", None),
    ] {
        let mut cmd = Command::new(&skopeo);
        cmd.args(["copy", "--dest-tls-verify=false", "--dest-creds", &creds]);
        cmd.args(extra);
        cmd.args([src, &format!("docker://{host}/{dest}")]);
        run(cmd, None).ok();
    }

    let (_driver, c) = start_browser().await;
    let result = walk(&c, base, e.admin_password()).await;
    let _ = c.close().await;
    result
}

async fn walk(c: &Client, base: &str, admin_password: &str) {
    // Sign in.
    c.goto(&format!("{base}/signin")).await.unwrap();
    shot(c, "01-signin").await;
    fill(
        c,
        "form[action=\"/signin\"]",
        &[("username", "admin"), ("password", admin_password)],
    )
    .await;
    assert!(text(c).await.contains("Hello"), "{}", text(c).await);

    // Repositories → the multi-arch image → its arm64 platform. The catalog is kept 15 s, and
    // the e2e tests may have filled it just before these images were pushed (creating an
    // account asks for the repositories): look again until they show.
    click_link(c, "Repositories").await;
    let deadline = Instant::now() + Duration::from_secs(40);
    while !text(c).await.contains("browser/multi") {
        assert!(Instant::now() < deadline, "browser/multi never listed");
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.refresh().await.unwrap();
    }
    shot(c, "02-repositories").await;
    click_link(c, "browser/multi").await;
    let t = text(c).await;
    assert!(
        t.contains("latest") && t.contains("all administrators"),
        "{t}"
    );
    shot(c, "03-repository").await;
    click_link(c, "latest").await;
    let t = text(c).await;
    assert!(t.contains("application/vnd.oci.image.index.v1+json"), "{t}");
    shot(c, "04-multi-arch").await;
    click_link(c, "linux/arm64/v8").await;
    let t = text(c).await;
    assert!(t.contains("linux/arm64/v8") && t.contains("Layers"), "{t}");
    shot(c, "05-platform").await;

    // A single-platform image and a Docker schema 2 image.
    c.goto(&format!("{base}/registry/r/browser/single/-/tags/1.0"))
        .await
        .unwrap();
    let t = text(c).await;
    assert!(
        t.contains("Build history") && t.contains("linux/amd64"),
        "{t}"
    );
    shot(c, "06-tag").await;
    c.goto(&format!("{base}/registry/r/browser/docker/-/tags/1.0"))
        .await
        .unwrap();
    let t = text(c).await;
    assert!(
        t.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{t}"
    );
    shot(c, "07-docker-schema2").await;

    // Delete a tag: the confirmation names the other tag on the same manifest.
    c.goto(&format!("{base}/registry/r/browser/trash"))
        .await
        .unwrap();
    let delete = c
        .find(Locator::Css(
            "a[href=\"/registry/r/browser/trash/-/tags/old/delete\"]",
        ))
        .await
        .unwrap();
    click_and_wait(c, delete).await;
    let t = text(c).await;
    assert!(t.contains("older") && t.contains("deleted too"), "{t}");
    shot(c, "08-delete-confirm").await;
    let confirm = c.find(Locator::Css("main button.danger")).await.unwrap();
    click_and_wait(c, confirm).await;
    let t = text(c).await;
    assert!(t.contains("Deleted.") && t.contains("No tags."), "{t}");

    // Create a user and a rule: the repository's access list changes.
    c.goto(&format!("{base}/registry/r/browser/multi"))
        .await
        .unwrap();
    assert!(!text(c).await.contains("browsey"));
    c.goto(&format!("{base}/admin/users")).await.unwrap();
    shot(c, "09-admin-users").await;
    fill(
        c,
        "form[method=\"post\"][action=\"/admin/users\"]",
        &[
            ("username", "browsey"),
            ("password", "browsey-password-1"),
            ("email", "browsey@mail.example"),
        ],
    )
    .await;
    assert!(text(c).await.contains("browsey"));
    c.goto(&format!("{base}/admin/rules")).await.unwrap();
    fill(
        c,
        "form[method=\"post\"][action=\"/admin/rules\"]",
        &[
            ("subject", "user:browsey"),
            ("pattern", "browser/*"),
            ("actions", "pull,push"),
        ],
    )
    .await;
    shot(c, "10-rules").await;
    c.goto(&format!("{base}/registry/r/browser/multi"))
        .await
        .unwrap();
    let t = text(c).await;
    assert!(
        t.contains("browsey") && t.contains("user:browsey browser/* pull,push"),
        "{t}"
    );
    shot(c, "11-repository-access-changed").await;
    c.goto(&format!(
        "{base}/admin/explain?user=browsey&scope=repository:browser/multi:pull,push,delete"
    ))
    .await
    .unwrap();
    assert!(text(c).await.contains("granted"));
    shot(c, "12-explain").await;
    c.goto(&format!("{base}/profile")).await.unwrap();
    shot(c, "13-profile").await;
}
