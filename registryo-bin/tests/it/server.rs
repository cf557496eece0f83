//! The `registryo` binary, run for real: `serve` on port 0 with a fresh data directory, and
//! the CLI on the same directory while it runs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::binary::{Server, public_dir, registryo, started};
use crate::support::command::output;
use crate::support::cookies::{no_redirects, set_cookie, sign_in};
use crate::support::eventually;
use registryo_core::testing::jwt;

mod backup;
mod cli;
mod metrics;
mod process;
mod tls;
mod upgrade;

/// `registryo` on the data directory `data`, run from there.
fn base_command(data: &Path) -> Command {
    let mut c = registryo(data);
    c.env("REGISTRYO_DATA", data);
    c
}

/// `serve` with a fresh data directory of its own; the first admin's password given, or
/// generated and printed.
fn start(admin_password: Option<&str>) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = base_command(data.path());
    cmd.env("REGISTRYO_LOG", "warn");
    if let Some(pw) = admin_password {
        cmd.env("REGISTRYO_ADMIN_PASSWORD", pw);
    }
    started(cmd).owning(data)
}

impl Server {
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = base_command(self.data());
        cmd.args(args);
        output(cmd, stdin)
    }

    fn cli_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = base_command(self.data());
        cmd.args(args).envs(vars.iter().copied());
        output(cmd, None)
    }

    fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "registryo {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn cli_err(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(!out.status.success(), "registryo {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    async fn token(&self, query: &str, auth: Option<(&str, &str)>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut req = client.get(self.url(&format!("/token?{query}")));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, json)
    }

    async fn post(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// The access claim of a token, without checking the signature (the core's tests do that).
fn access(json: &Value) -> Vec<(String, Vec<String>)> {
    let token = json["token"].as_str().expect("a token");
    jwt::claims(token)["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// A client whose requests come from `127.0.0.N` (every 127/8 address is loopback on Linux).
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, n]))
        .build()
        .unwrap()
}

async fn basic_token(server: &Server, from: u8, user: &str, pw: &str) -> reqwest::Response {
    client_from(from)
        .get(server.url("/token?service=registry.test&scope=repository:a/b:pull"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap()
}

/// Sign in through the web form; the session cookie.
async fn web_signin(server: &Server, user: &str, pw: &str) -> Option<String> {
    let r = sign_in(&no_redirects(), &server.url(""), user, pw, &[]).await;
    set_cookie(&r, "registryo_session").filter(|c| !c.is_empty())
}

/// Whether a session cookie still opens the profile page.
async fn session_works(server: &Server, cookie: &str) -> bool {
    let r = no_redirects()
        .get(server.url("/profile"))
        .header("cookie", format!("registryo_session={cookie}"))
        .send()
        .await
        .unwrap();
    r.status() == 200
}
