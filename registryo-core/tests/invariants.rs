//! Architecture invariant: registryo-core depends on no web framework and no database.
//!
//! Asks cargo for the crate's normal (non-dev) dependency tree, with every feature on, and fails
//! if a framework or database crate appears anywhere in it.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
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

#[test]
fn core_depends_on_no_web_framework_or_database() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "registryo-core",
            "-e",
            "normal",
            "--all-features",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"registryo-core"),
        "the tree should start at registryo-core: {tree}"
    );
    assert!(
        names.contains(&"http"),
        "http should be a dependency: {tree}"
    );
    let bad: Vec<&&str> = names.iter().filter(|n| FORBIDDEN.contains(n)).collect();
    assert!(
        bad.is_empty(),
        "registryo-core must not depend on {bad:?} (ARCHITECTURE.md, invariant 1)"
    );
}
