//! E-mail: the mail port ([`MailSender`]), the messages (reset and invitation links, from
//! templates in `templates/email/`, the HTML one auto-escaped), and the settings and limits
//! of sending them.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;

/// A message ready to send: one recipient, a subject, a plain-text and an HTML body.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl fmt::Debug for Email {
    /// The bodies hold a secret link: `Debug` shows only the recipient and the subject.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What a [`MailSender`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Something that delivers [`Email`]s: the mail port (registryo-http's `SmtpSender` over
/// lettre; [`MemorySender`] in tests).
pub trait MailSender: Send + Sync + fmt::Debug {
    /// Deliver one message from `from` (a checked address, see [`check_from`]); the error is
    /// for the log (it must not contain the message).
    fn send<'a>(&'a self, from: &'a str, email: Email) -> SendFuture<'a>;
}

/// A From address: `addr@domain` or `Name <addr@domain>`, on one line.
pub fn check_from(from: &str) -> Result<(), String> {
    let addr = match (from.rfind('<'), from.strip_suffix('>')) {
        (Some(i), Some(inner)) => &inner[i + 1..],
        _ => from,
    };
    let ok = !from.contains(['\r', '\n'])
        && addr.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && !d.is_empty() && !d.contains('@') && !addr.contains(' ')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("the From address {from:?} is not valid"))
    }
}

/// Keeps messages in memory instead of sending them (for tests).
#[derive(Debug, Default)]
pub struct MemorySender {
    sent: Mutex<Vec<Email>>,
}

impl MemorySender {
    /// The messages "sent" so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl MailSender for MemorySender {
    fn send<'a>(&'a self, from: &'a str, email: Email) -> SendFuture<'a> {
        Box::pin(async move {
            check_from(from)?;
            if email
                .to
                .split_once('@')
                .is_none_or(|(l, d)| l.is_empty() || d.is_empty())
            {
                return Err(format!("bad recipient address {:?}", email.to));
            }
            self.sent
                .lock()
                .map_err(|_| "poisoned".to_owned())?
                .push(email);
            Ok(())
        })
    }
}

/// The e-mail settings of the server.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The From address (`Registryo <registryo@example.com>` or a bare address).
    pub from: String,
    /// The URL users reach the server at, without a trailing `/`: links are
    /// `{public_url}/reset?token=…`.
    pub public_url: String,
    /// How long a password reset link works.
    pub reset_ttl: Duration,
    /// How long an invitation link works.
    pub invite_ttl: Duration,
    /// Reset mails per account within [`MailSettings::window`].
    pub max_per_account: u32,
    /// Reset requests per client address within the window.
    pub max_per_addr: u32,
    /// The window of both limits.
    pub window: Duration,
}

impl MailSettings {
    /// Settings with the default lifetimes (reset 1 h, invitation 7 days) and limits (3 per
    /// account, 10 per address, per 15 minutes).
    pub fn new(from: impl Into<String>, public_url: impl Into<String>) -> MailSettings {
        MailSettings {
            from: from.into(),
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            reset_ttl: Duration::from_secs(3600),
            invite_ttl: Duration::from_secs(7 * 86_400),
            max_per_account: 3,
            max_per_addr: 10,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// E-mail: settings, a sender, and the per-address request counts.
#[derive(Debug)]
pub struct Mail {
    /// The settings.
    pub settings: MailSettings,
    sender: Arc<dyn MailSender>,
    requests: Mutex<HashMap<String, (u32, Instant)>>,
    /// Held while a reset request counts an account's recent tokens and makes a new one, so
    /// concurrent requests cannot both pass the per-account limit (within this process).
    pub issuing: tokio::sync::Mutex<()>,
}

impl Mail {
    /// E-mail with these settings through this sender; fails if the From address does not
    /// parse.
    pub fn new(settings: MailSettings, sender: Arc<dyn MailSender>) -> Result<Mail, String> {
        check_from(&settings.from)?;
        Ok(Mail {
            settings,
            sender,
            requests: Mutex::new(HashMap::new()),
            issuing: tokio::sync::Mutex::new(()),
        })
    }

    /// Deliver a message.
    pub async fn send(&self, email: Email) -> Result<(), String> {
        self.sender.send(&self.settings.from, email).await
    }

    /// Count a reset request from a client address: `false` when the address is over its
    /// limit.
    pub fn allow_request(&self, addr: &str) -> bool {
        let window = self.settings.window;
        let Ok(mut map) = self.requests.lock() else {
            return false;
        };
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let e = map.entry(addr.to_owned()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= window {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        e.0 <= self.settings.max_per_addr
    }

    /// The link for a token.
    pub fn link(&self, token: &str) -> String {
        format!("{}/reset?token={token}", self.settings.public_url)
    }
}

/// The body of a reset or invitation message (plain text). No `Debug`: it holds the link.
#[derive(Template)]
#[template(path = "email/link.txt")]
struct LinkText<'a> {
    /// The account.
    pub username: &'a str,
    /// The secret link.
    pub link: &'a str,
    /// An invitation (else a reset).
    pub invite: bool,
    /// How long the link works, in words.
    pub valid_for: &'a str,
}

/// The body of a reset or invitation message (HTML, escaped). No `Debug`: it holds the link.
#[derive(Template)]
#[template(path = "email/link.html")]
struct LinkHtml<'a> {
    /// The account.
    pub username: &'a str,
    /// The secret link.
    pub link: &'a str,
    /// An invitation (else a reset).
    pub invite: bool,
    /// How long the link works, in words.
    pub valid_for: &'a str,
}

/// A duration in words: `1 hour`, `45 minutes`, `7 days`.
pub fn in_words(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 86_400 && s.is_multiple_of(86_400) {
        (s / 86_400, "day")
    } else if s >= 3600 && s.is_multiple_of(3600) {
        (s / 3600, "hour")
    } else if s >= 60 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The reset or invitation message for an account.
pub fn link_email(
    to: &str,
    username: &str,
    link: &str,
    invite: bool,
    valid_for: Duration,
) -> Result<Email, askama::Error> {
    let valid_for = in_words(valid_for);
    let text = LinkText {
        username,
        link,
        invite,
        valid_for: &valid_for,
    }
    .render()?;
    let html = LinkHtml {
        username,
        link,
        invite,
        valid_for: &valid_for,
    }
    .render()?;
    Ok(Email {
        to: to.to_owned(),
        subject: if invite {
            "Your Registryo account: choose your password".to_owned()
        } else {
            "Reset your Registryo password".to_owned()
        },
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_multipart_alternative_and_escaped() {
        let email = link_email(
            "x@example.com",
            "a<b>&\"c",
            "http://h/reset?token=T0K",
            false,
            Duration::from_secs(3600),
        )
        .unwrap();
        assert!(email.text.contains("a<b>&\"c"), "{}", email.text);
        assert!(email.text.contains("http://h/reset?token=T0K"));
        assert!(email.text.contains("1 hour"));
        assert!(
            email.html.contains("a&#60;b&#62;&#38;&#34;c"),
            "{}",
            email.html
        );
        assert!(!email.html.contains("<b>"));
        assert!(
            format!(
                "{:?}",
                link_email("x@e.c", "u", "L1NK", true, Duration::from_secs(60)).unwrap()
            )
            .find("L1NK")
            .is_none()
        );
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(in_words(Duration::from_secs(3600)), "1 hour");
        assert_eq!(in_words(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(in_words(Duration::from_secs(900)), "15 minutes");
        assert_eq!(in_words(Duration::from_secs(1)), "1 second");
    }

    #[test]
    fn requests_per_address_are_limited() {
        let mut s = MailSettings::new("ro@example.com", "http://h/");
        s.max_per_addr = 2;
        let mail = Mail::new(s, Arc::new(MemorySender::default())).unwrap();
        assert_eq!(mail.link("T"), "http://h/reset?token=T");
        assert!(mail.allow_request("1.2.3.4"));
        assert!(mail.allow_request("1.2.3.4"));
        assert!(!mail.allow_request("1.2.3.4"));
        assert!(mail.allow_request("5.6.7.8"));
        assert!(
            Mail::new(
                MailSettings::new("not an address", "x"),
                Arc::new(MemorySender::default())
            )
            .is_err()
        );
    }

    #[test]
    fn from_addresses() {
        for ok in [
            "ro@example.com",
            "Registryo <ro@example.com>",
            "\"R. O.\" <r@h>",
        ] {
            assert!(check_from(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ro",
            "a@b@c",
            "Name <>",
            "x@y\r\nBcc: z@w",
            "Name <a b@c>",
        ] {
            assert!(check_from(bad).is_err(), "{bad:?}");
        }
    }
}
