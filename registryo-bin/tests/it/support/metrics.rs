//! Reading `/metrics` (the Prometheus text format) and asking Prometheus' HTTP API.

use std::collections::{BTreeMap, BTreeSet};

/// One scrape: every sample's series (its name and labels) and value.
#[derive(Debug, Default)]
pub struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses the text format: `name{label="value",…} value` lines, `#` lines skipped.
    /// Label values here never hold `"`, `,` or `\` (ours are from fixed lists).
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (series, value) = line
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("not a sample: {line}"));
                let value: f64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("not a value: {line}"));
                let (name, labels) = match series.split_once('{') {
                    None => (series, BTreeMap::new()),
                    Some((name, rest)) => {
                        let rest = rest.strip_suffix('}').unwrap_or(rest);
                        let labels = rest
                            .split(',')
                            .filter(|p| !p.is_empty())
                            .map(|pair| {
                                let (k, v) = pair
                                    .split_once('=')
                                    .unwrap_or_else(|| panic!("not a label: {line}"));
                                (k.to_owned(), v.trim_matches('"').to_owned())
                            })
                            .collect();
                        (name, labels)
                    }
                };
                (name.to_owned(), labels, value)
            })
            .collect();
        Scrape { samples }
    }

    /// The value of the one sample named `name` whose labels include `labels`; `None` when
    /// there is none, and a failure when several match.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert!(
            found.len() <= 1,
            "{name} {labels:?} matches {} samples",
            found.len()
        );
        found.first().copied()
    }

    /// [`Scrape::value`], 0 when absent.
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    /// Every series, written `name{k=v,…}`.
    pub fn series(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|(n, l, _)| {
                let labels: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{n}{{{}}}", labels.join(","))
            })
            .collect()
    }
}

/// One value of an instant query to Prometheus' `/api/v1/query`: `None` until the query
/// finds exactly one series (e.g. before the first scrape).
pub async fn prometheus_value(prometheus: &str, query: &str) -> Option<f64> {
    let resp = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = resp.json().await.ok()?;
    assert_eq!(body["status"], "success", "{query}: {body}");
    let result = body["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}
