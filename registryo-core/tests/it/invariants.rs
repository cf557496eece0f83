//! Architecture invariants: which crate may depend on which.
//!
//! Asks cargo for each crate's dependency tree (normal edges; dev edges too where said), with
//! every feature on, and fails if a forbidden crate appears anywhere in it:
//! - registryo-core depends on no web framework and no database;
//! - registryo-http never on registryo-store (the web reaches storage only through core's
//!   traits), not even for its tests: its tree is checked with its dev-dependencies too
//!   (the tests of http over a real store are registryo-bin's); registryo-store never on
//!   registryo-http;
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

/// The names of every crate in a package's dependency tree along `edges` (`cargo tree -e`:
/// `normal`, or `normal,dev` for the package's tests too), the package included.
fn tree(package: &str, edges: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            package,
            "-e",
            edges,
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
        "cargo tree -p {package} -e {edges} failed: {}",
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

fn assert_free_of(package: &str, edges: &str, forbidden: &[&str], why: &str) {
    let names = tree(package, edges);
    let bad: Vec<&String> = names
        .iter()
        .filter(|n| forbidden.contains(&n.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "{package} must not depend on {bad:?} (cargo tree -e {edges}): {why}"
    );
}

#[test]
fn core_depends_on_no_web_framework_or_database() {
    let names = tree("registryo-core", "normal");
    assert!(
        names.iter().any(|n| n == "http"),
        "http should be a dependency: {names:?}"
    );
    assert_free_of(
        "registryo-core",
        "normal",
        WEB_AND_DATABASE,
        "the core holds no web framework and no database (ARCHITECTURE.md)",
    );
}

#[test]
fn the_store_does_not_depend_on_the_web_layer() {
    assert_free_of(
        "registryo-store",
        "normal",
        &["registryo-http", "registryo-bin", "axum", "axum-core"],
        "store → core only (ARCHITECTURE.md)",
    );
}

#[test]
fn the_web_layer_does_not_depend_on_the_store() {
    // Dev edges too: the tests of the router over a real store live in registryo-bin.
    assert_free_of(
        "registryo-http",
        "normal,dev",
        &["registryo-store", "sqlx", "sqlx-core", "libsqlite3-sys"],
        "http → core only, also for its tests; the composition root gives it a store \
         (ARCHITECTURE.md)",
    );
}

#[test]
fn no_library_depends_on_the_binary() {
    for package in ["registryo-core", "registryo-store", "registryo-http"] {
        assert_free_of(
            package,
            "normal",
            &["registryo-bin"],
            "registryo-bin is the composition root (ARCHITECTURE.md)",
        );
    }
}
