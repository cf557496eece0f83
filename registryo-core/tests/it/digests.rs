//! The digest index against the real registry (distribution 2.8): the tags sharing a manifest
//! are found with one `HEAD` per tag the first time and none while the index is warm; a
//! delete forgets what was learnt of the repository; exact checks always ask the registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use registryo_core::client::{
    RegistryAuthLayer, RegistryClient, RegistryError, RegistryVersion, ReqwestTransport,
    SelfSignedTokens,
};
use registryo_core::scope::RepositoryName;
use registryo_core::testing::{self, RegistryConfig, TestRegistry};
use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
use serde_json::json;
use tower_layer::Layer;
use tower_service::Service;

/// The client's HTTP service, counting the `HEAD` requests that go through it.
#[derive(Clone)]
struct CountHeads<S> {
    inner: S,
    heads: Arc<AtomicUsize>,
}

impl<S> Service<Request<Bytes>> for CountHeads<S>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = RegistryError>,
{
    type Response = Response<Bytes>;
    type Error = RegistryError;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RegistryError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Bytes>) -> S::Future {
        if req.method() == Method::HEAD {
            self.heads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.call(req)
    }
}

#[tokio::test]
async fn the_tags_sharing_a_manifest_are_found_without_a_head_per_tag_once_warm() {
    let key = SigningKey::generate(Algorithm::ES256, "digest index test").unwrap();
    let keys = Arc::new(KeySet::new(vec![key], KidStyle::Libtrust).unwrap());
    let registry = TestRegistry::start_version(
        RegistryVersion::V2,
        RegistryConfig {
            bundle_pem: &keys.cert_bundle_pem(),
            issuer: "registryo",
            service: "registryo-test",
            delete_enabled: true,
        },
    )
    .await;
    let heads = Arc::new(AtomicUsize::new(0));
    let tokens = SelfSignedTokens::new(Arc::clone(&keys), "registryo", "registryo-test");
    let service = CountHeads {
        inner: RegistryAuthLayer::new(tokens).layer(ReqwestTransport::new().unwrap()),
        heads: Arc::clone(&heads),
    };
    let client = RegistryClient::new(registry.url(), service).unwrap();
    let repo: RepositoryName = "team/app".parse().unwrap();
    let config = Bytes::from(json!({"architecture": "amd64", "os": "linux"}).to_string());
    let push = |tag: String, layer: &'static str| {
        let (client, repo, config) = (&client, &repo, config.clone());
        async move {
            testing::push_image(client, repo, &tag, false, Bytes::from(layer), config, None)
                .await
                .0
                .digest
        }
    };
    // 60 tags: every fifth on one manifest, the others on another.
    let mut shared = None;
    for i in 0..60 {
        let layer = if i % 5 == 0 { "shared" } else { "other" };
        let d = push(format!("t{i}"), layer).await;
        if i % 5 == 0 {
            shared = Some(d);
        }
    }
    let shared = shared.unwrap();
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..60).step_by(5).map(|i| format!("t{i}")).collect();
        v.sort();
        v
    };
    heads.store(0, Ordering::SeqCst);
    assert_eq!(
        client.tags_sharing_cached(&repo, &shared).await.unwrap(),
        want
    );
    assert_eq!(heads.load(Ordering::SeqCst), 60, "cold: one HEAD per tag");
    heads.store(0, Ordering::SeqCst);
    assert_eq!(
        client.tags_sharing_cached(&repo, &shared).await.unwrap(),
        want
    );
    assert_eq!(heads.load(Ordering::SeqCst), 0, "warm: no HEAD");
    // A new tag is not in the index: only it is asked about.
    push("t60".to_owned(), "shared").await;
    heads.store(0, Ordering::SeqCst);
    let got = client.tags_sharing_cached(&repo, &shared).await.unwrap();
    assert!(got.contains(&"t60".to_owned()), "{got:?}");
    assert_eq!(heads.load(Ordering::SeqCst), 1, "only the new tag");
    // The exact look-up asks the registry for every tag.
    heads.store(0, Ordering::SeqCst);
    assert_eq!(client.tags_sharing(&repo, &shared).await.unwrap(), got);
    assert_eq!(heads.load(Ordering::SeqCst), 61);
    // A delete forgets the repository: the next look-up asks again, and finds the truth.
    let other = client.manifest_digest(&repo, "t1").await.unwrap();
    client.delete_manifest(&repo, &other).await.unwrap();
    heads.store(0, Ordering::SeqCst);
    assert_eq!(
        client.tags_sharing_cached(&repo, &shared).await.unwrap(),
        got
    );
    assert_eq!(
        heads.load(Ordering::SeqCst),
        13,
        "the 13 tags left, asked again"
    );
    // What a push notification tells (learn_digest) is known as if resolved; a deletion
    // reported by the registry (forget_digests) forgets the repository.
    push("t61".to_owned(), "shared").await;
    client.learn_digest(&repo, "t61", &shared);
    heads.store(0, Ordering::SeqCst);
    let got = client.tags_sharing_cached(&repo, &shared).await.unwrap();
    assert!(got.contains(&"t61".to_owned()), "{got:?}");
    assert_eq!(heads.load(Ordering::SeqCst), 0, "the pushed tag was learnt");
    client.forget_digests(&repo);
    heads.store(0, Ordering::SeqCst);
    client.tags_sharing_cached(&repo, &shared).await.unwrap();
    assert_eq!(
        heads.load(Ordering::SeqCst),
        14,
        "forgotten: every tag asked again"
    );
}
