//! What ships beside the binary: the systemd unit, checked by `systemd-analyze verify` (with
//! its `ExecStart` pointed at the binary these tests run), which must accept it without a
//! single warning.

use std::path::Path;
use std::process::Command;

use crate::support::binary::BIN;

/// `systemd-analyze verify` on `unit` (text) with the binary path put in: its complaints, or
/// empty when it has none.
fn verify(unit: &str, dir: &Path) -> String {
    let file = dir.join("registryo.service");
    std::fs::write(&file, unit.replace("/usr/local/bin/registryo", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run systemd-analyze ({e}): scripts/e2e/install installs systemd")
        });
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        said.push_str(&format!("\n(exit status {})", out.status));
    }
    said.trim().to_owned()
}

#[test]
fn the_systemd_unit_verifies_cleanly_and_is_sandboxed() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/systemd/registryo.service"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(verify(&unit, dir.path()), "", "systemd-analyze complains");
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=registryo registryo-public",
        "NoNewPrivileges=yes",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    // The check can fail: a bad value is reported.
    let broken = unit.replace("ProtectSystem=strict", "ProtectSystem=strickt");
    let said = verify(&broken, dir.path());
    assert!(said.contains("protect system"), "{said}");
}
