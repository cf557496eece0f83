//! E-mail the tests read: the messages the SMTP server `./scripts/test` starts (aiosmtpd)
//! delivered into its Maildir (`REGISTRYO_E2E_MAILDIR`), and the token of a reset or
//! invitation link in any message.

use std::path::PathBuf;

use super::e2e_env::env;
use super::{PAUSE, poll};

/// The token of the first `/reset?token=` link in `text` (43 characters: 256 bits, URL-safe
/// base64).
pub fn reset_token(text: &str) -> String {
    let needle = "/reset?token=";
    let start = text.find(needle).expect("a reset link") + needle.len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{text}");
    token
}

/// Every delivered message, decoded from quoted-printable enough to read links.
pub fn messages() -> Vec<String> {
    let dir = PathBuf::from(env().get("REGISTRYO_E2E_MAILDIR")).join("new");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|raw| {
            raw.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
        })
        .collect()
}

/// The messages sent to `addr`.
pub fn messages_to(addr: &str) -> Vec<String> {
    messages()
        .into_iter()
        .filter(|m| {
            m.lines().any(|l| {
                l.starts_with("To:") && l.to_ascii_lowercase().contains(&addr.to_ascii_lowercase())
            })
        })
        .collect()
}

/// Waits for the first message to `addr` (100 looks, [`PAUSE`] apart: twenty seconds at
/// least); returns it.
pub async fn wait_message(addr: &str) -> String {
    poll(&format!("a message to {addr}"), 100, PAUSE, || async {
        messages_to(addr).into_iter().next()
    })
    .await
}
