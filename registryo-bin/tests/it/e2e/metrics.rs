//! Debian's Prometheus (started by `./scripts/test`, scraping the shared registryo every
//! second with its bearer token) sees what token requests did; `promtool` accepts a scrape.

use std::collections::HashMap;

use super::*;
use crate::support::metrics::prometheus_value;
use crate::support::{PAUSE, poll};

/// The Prometheus `scripts/e2e/start-prometheus` started: its URL.
fn prometheus() -> String {
    let file = env().get("REGISTRYO_E2E_PROMETHEUS_ENV");
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("E2E_PROMETHEUS_URL="))
        .unwrap_or_else(|| panic!("no E2E_PROMETHEUS_URL in {file}"))
        .to_owned()
}

fn metrics_token() -> String {
    let file = env().get("REGISTRYO_E2E_METRICS_TOKEN_FILE");
    std::fs::read_to_string(file).unwrap().trim().to_owned()
}

/// `sum(registryo_token_requests_total{grant_type=G,outcome=O})`, by Prometheus.
fn tokens(grant: &str, outcome: &str) -> String {
    format!(
        "sum(registryo_token_requests_total{{job=\"registryo\",grant_type=\"{grant}\",outcome=\"{outcome}\"}})"
    )
}

/// What Prometheus answers for `query` once it answers at all (the first scrapes).
async fn value_now(prom: &str, query: &str) -> f64 {
    poll(&format!("Prometheus answering {query}"), 100, PAUSE, || {
        prometheus_value(prom, query)
    })
    .await
}

#[tokio::test]
#[ignore = "needs Prometheus and the shared server: run ./scripts/test"]
async fn prometheus_sees_token_requests_by_grant_type_and_outcome() {
    let t = T::new("metrics");
    let prom = prometheus();
    let (user, pw) = t.pusher("m").await;
    let mine = format!("repository:{}/app:pull", t.prefix);
    let other = format!("repository:{}-elsewhere/app:pull", t.prefix);
    // What each query should grow by at least (other tests run beside this one: at least).
    let mut want: HashMap<String, f64> = HashMap::new();
    want.insert(tokens("password", "ok"), 3.0);
    want.insert(tokens("password", "denied"), 2.0);
    want.insert(tokens("password", "unauthorized"), 10.0);
    want.insert(tokens("password", "throttled"), 2.0);
    want.insert(tokens("refresh_token", "ok"), 2.0);
    want.insert(tokens("refresh_token", "unauthorized"), 1.0);
    want.insert(
        "sum(registryo_throttled_attempts_total{channel=\"token\"})".to_owned(),
        2.0,
    );
    want.insert(
        "sum(registryo_token_request_duration_seconds_count{grant_type=\"password\"})".to_owned(),
        17.0,
    );
    want.insert(
        "sum(registryo_credential_cache_lookups_total{cache=\"password\",result=\"hit\"})"
            .to_owned(),
        1.0,
    );
    let mut before = HashMap::new();
    for query in want.keys() {
        before.insert(query.clone(), value_now(&prom, query).await);
    }

    for _ in 0..3 {
        assert_eq!(t.grant(Some((&user, &pw)), &mine).await.0, 200);
    }
    for _ in 0..2 {
        let (status, actions) = t.grant(Some((&user, &pw)), &other).await;
        assert_eq!((status, actions.len()), (200, 0));
    }
    // An account nobody has: ten wrong guesses from here, then the guessing limit holds.
    let ghost = format!("{}-ghost", t.prefix);
    for i in 0..12 {
        let (status, _) = t.grant(Some((&ghost, &format!("guess-{i}"))), &mine).await;
        assert_eq!(status, if i < 10 { 401 } else { 429 }, "guess {i}");
    }
    // A docker login, then its refresh token twice, and one that does not exist.
    let login = t
        .http
        .get(format!("{}/token", t.target.registryo))
        .query(&[
            ("service", env().service()),
            ("client_id", "docker"),
            ("offline_token", "true"),
        ])
        .basic_auth(&user, Some(&pw))
        .send()
        .await
        .unwrap();
    let body: Value = login.json().await.unwrap();
    let refresh = body["refresh_token"].as_str().expect("a refresh token");
    for (token, status) in [(refresh, 200), (refresh, 200), ("no-such-token", 401)] {
        let resp = t
            .http
            .post(format!("{}/token", t.target.registryo))
            .form(&[
                ("grant_type", "refresh_token"),
                ("service", env().service()),
                ("client_id", "docker"),
                ("scope", mine.as_str()),
                ("refresh_token", token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
    }

    for (query, grows) in &want {
        let from = before[query];
        eventually(&format!("{query} grown by {grows} from {from}"), || async {
            prometheus_value(&prom, query)
                .await
                .is_some_and(|now| now >= from + grows)
        })
        .await;
    }
    // The series Prometheus holds carry no name a client chose.
    let resp = t
        .http
        .get(format!("{prom}/api/v1/series"))
        .query(&[("match[]", "{job=\"registryo\"}")])
        .send()
        .await
        .unwrap();
    let series = resp.text().await.unwrap();
    assert!(series.contains("registryo_policy_rules"), "{series}");
    for word in [&user, &ghost, &t.prefix] {
        assert!(!series.contains(word.as_str()), "a series names {word}");
    }
}

#[tokio::test]
#[ignore = "needs Prometheus and the shared server: run ./scripts/test"]
async fn promtool_accepts_a_scrape_and_a_scrape_without_the_token_is_refused() {
    let url = format!("{}/metrics", env().registryo_url());
    let http = reqwest::Client::new();
    let resp = http
        .get(&url)
        .bearer_auth(metrics_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let scrape = resp.text().await.unwrap();
    let check = run(
        {
            let mut cmd = Command::new("promtool");
            cmd.args(["check", "metrics"]);
            cmd
        },
        Some(&scrape),
    );
    assert!(
        check.success() && check.stdout.trim().is_empty() && check.stderr.trim().is_empty(),
        "promtool check metrics: {}",
        check.describe()
    );
    // The shared server asks for its token (Prometheus has it).
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let wrong = http
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Prometheus scrapes it successfully: the target is up.
    let prom = prometheus();
    eventually("Prometheus' registryo target up", || async {
        prometheus_value(&prom, "up{job=\"registryo\"}").await == Some(1.0)
    })
    .await;
}
