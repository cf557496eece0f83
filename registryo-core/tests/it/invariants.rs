//! Architecture invariants: which crate may depend on which.
//!
//! Asks cargo for each crate's normal (non-dev) dependency tree, with every feature on, and fails
//! if a forbidden crate appears anywhere in it:
//! - registryo-core depends on no web framework and no database;
//! - registryo-http never on registryo-store (the web reaches storage only through core's
//!   traits), registryo-store never on registryo-http;
//! - no library depends on registryo-bin.

use std::process::Command;

const WEB_AND_DATABASE: &[&str] = &[
    "axum",
    "axum-core",
    "actix-web",
    "rocket",
    "warp",
    "poem",
    "salvo",
    "sqlx",
    "sqlx-core",
    "diesel",
    "sea-orm",
    "rusqlite",
    "tokio-postgres",
    "postgres",
    "libsqlite3-sys",
];

/// The names of every crate in a package's normal dependency tree, the package included.
fn tree(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--all-features",
            "--prefix",
            "none",
            "--format",
            "{p}",
            // Not --offline: with --all-features the tree holds crates of features that no
            // build has used yet (e.g. client-rustls), which a fresh CARGO_HOME lacks.
            "--locked",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    let names: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.first().is_some_and(|n| n == package),
        "the tree should start at {package}: {tree}"
    );
    names
}

fn assert_free_of(package: &str, forbidden: &[&str], why: &str) {
    let names = tree(package);
    let bad: Vec<&String> = names
        .iter()
        .filter(|n| forbidden.contains(&n.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "{package} must not depend on {bad:?}: {why}"
    );
}

#[test]
fn core_depends_on_no_web_framework_or_database() {
    let names = tree("registryo-core");
    assert!(
        names.iter().any(|n| n == "http"),
        "http should be a dependency: {names:?}"
    );
    assert_free_of(
        "registryo-core",
        WEB_AND_DATABASE,
        "the core holds no web framework and no database (ARCHITECTURE.md)",
    );
}

#[test]
fn the_store_does_not_depend_on_the_web_layer() {
    assert_free_of(
        "registryo-store",
        &["registryo-http", "registryo-bin", "axum", "axum-core"],
        "store → core only (ARCHITECTURE.md)",
    );
}

#[test]
fn the_web_layer_does_not_depend_on_the_store() {
    assert_free_of(
        "registryo-http",
        &["registryo-store", "sqlx", "sqlx-core", "libsqlite3-sys"],
        "http → core only; the composition root gives it a store (ARCHITECTURE.md)",
    );
}

#[test]
fn no_library_depends_on_the_binary() {
    for package in ["registryo-core", "registryo-store", "registryo-http"] {
        assert_free_of(
            package,
            &["registryo-bin"],
            "registryo-bin is the composition root (ARCHITECTURE.md)",
        );
    }
}
