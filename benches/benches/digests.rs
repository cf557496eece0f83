//! Finding the tags that share a manifest (what the delete confirmation on distribution 2.8
//! shows) in a repository of `DIGESTS_TAGS` tags (2,000 by default) on a real registry
//! (Debian's `docker-registry`, started here): the exact look-up (one `HEAD` per tag) against
//! the digest index once warm (one tag list, no `HEAD`).
//!
//! Run it: `cargo bench -p registryo-benches --bench digests` (needs `docker-registry`).

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use registryo_core::client::{RegistryClient, RegistryVersion, SelfSignedTokens};
use registryo_core::scope::RepositoryName;
use registryo_core::testing::{self, RegistryConfig, TestRegistry};
use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("DIGESTS_TAGS")
        .ok()
        .and_then(|v| v.parse().ok())
        // `cargo test` runs each bench once to check it works: a small store then.
        .unwrap_or(if registryo_benches::benchmarking() {
            2000
        } else {
            40
        });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let key = SigningKey::generate(Algorithm::ES256, "bench").expect("key");
    let keys = Arc::new(KeySet::new(vec![key], KidStyle::Libtrust).expect("keys"));
    let (_registry, client, repo, digest) = rt.block_on(async {
        let registry = TestRegistry::start_version(
            RegistryVersion::V2,
            RegistryConfig {
                bundle_pem: &keys.cert_bundle_pem(),
                issuer: "registryo",
                service: "bench",
                delete_enabled: true,
            },
        )
        .await;
        let tokens = SelfSignedTokens::new(Arc::clone(&keys), "registryo", "bench");
        let client = RegistryClient::connect(registry.url(), tokens).expect("client");
        let repo: RepositoryName = "bench/app".parse().expect("name");
        let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
        let mut digest = None;
        for i in 0..n {
            let layer = if i % 10 == 0 { "shared" } else { "other" };
            let (d, _) = testing::push_image(
                &client,
                &repo,
                &format!("build-{i}"),
                false,
                Bytes::from(layer),
                config.clone(),
                None,
            )
            .await;
            if i % 10 == 0 {
                digest = Some(d.digest);
            }
        }
        (registry, client, repo, digest.expect("a digest"))
    });
    let mut g = c.benchmark_group(format!("tags_sharing_{n}"));
    g.sample_size(10);
    g.bench_function("exact", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(client.tags_sharing(&repo, &digest))
                    .expect("tags"),
            )
        })
    });
    // The exact runs filled the index: from here on it is warm.
    g.bench_function("indexed_warm", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(client.tags_sharing_cached(&repo, &digest))
                    .expect("tags"),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
