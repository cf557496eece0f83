//! Cost of signing one registry token.
//!
//! Run: `cargo bench -p registryo-benches --bench sign`
//!
//! Compares `KeySet::sign` (key parsed once, header pre-encoded) for ES256, ES384 and RS256
//! with `jsonwebtoken::encode` for ES256, which parses the PEM key again on every call.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use registryo_core::token::{Access, Algorithm, Claims, KeySet, KidStyle, SigningKey};

fn claims() -> Claims {
    Claims::new(
        "registryo",
        "alice",
        "registry.example",
        Duration::from_secs(300),
        vec![Access::new("repository", "team/app", ["pull", "push"])],
    )
}

fn sign(c: &mut Criterion) {
    let claims = claims();
    let mut group = c.benchmark_group("sign");
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::RS256] {
        let key = SigningKey::generate(alg, "bench").expect("generate key");
        let keys = KeySet::new(vec![key], KidStyle::Libtrust).expect("key set");
        group.bench_function(format!("keyset_{alg}"), |b| {
            b.iter(|| keys.sign(black_box(&claims)).expect("sign"))
        });
    }

    // The same header (typ, alg, kid, x5c) through jsonwebtoken, from the PEM key.
    let key = SigningKey::generate(Algorithm::ES256, "bench").expect("generate key");
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(key.key_pem().as_bytes()).expect("pem");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(key.kid(KidStyle::Libtrust).to_owned());
    // A PEM body is the standard base64 of the DER, as x5c wants it.
    let x5c: String = key
        .cert_pem()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    header.x5c = Some(vec![x5c]);
    group.bench_function("jsonwebtoken_encode_ES256", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding).expect("encode"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = sign
}
criterion_main!(benches);
