//! E-mail: password reset and invitation messages, sent over SMTP with lettre.
//!
//! - [`Mail`] holds the settings (the From address, the public URL links point to, token
//!   lifetimes, limits) and a [`MailSender`]: [`SmtpSender`] in the server, [`MemorySender`]
//!   in tests.
//! - Messages are `multipart/alternative` (plain text and HTML), rendered from askama
//!   templates in `templates/email/` (the HTML one auto-escaped).
//! - A message carries a secret link: neither the link nor the token is ever logged; errors
//!   name the recipient's account, never the message.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

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

/// Something that delivers [`Email`]s.
pub trait MailSender: Send + Sync + fmt::Debug {
    /// Deliver one message; the error is for the log (it must not contain the message).
    fn send<'a>(&'a self, from: &'a Mailbox, email: Email) -> SendFuture<'a>;
}

/// Build the `multipart/alternative` message for an [`Email`].
pub fn build_message(from: &Mailbox, email: Email) -> Result<Message, String> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e| format!("bad recipient address: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject)
        .multipart(MultiPart::alternative_plain_html(email.text, email.html))
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// How the SMTP connection is protected; in the configuration `none`, `starttls` or `tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay only).
    None,
    /// Plain text upgraded with `STARTTLS`, which is required (port 587 by default).
    StartTls,
    /// TLS from the first byte (port 465 by default).
    Tls,
}

impl SmtpTls {
    /// The usual port of this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// Where and how to reach the SMTP server. Its `Debug` hides the password.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server's host name (also checked against its certificate).
    pub host: String,
    /// The port; `0` takes the mode's usual one.
    pub port: u16,
    /// The connection's protection.
    pub tls: SmtpTls,
    /// The user name, when the server wants one.
    pub username: Option<String>,
    /// The password, with the user name.
    pub password: Option<String>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Delivers over SMTP (lettre, tokio, rustls).
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    target: String,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender")
            .field("server", &self.target)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for this server (no connection is made yet).
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, String> {
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| format!("SMTP TLS settings: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| format!("SMTP TLS settings: {e}"))?,
        };
        let port = if config.port == 0 {
            config.tls.default_port()
        } else {
            config.port
        };
        let mut builder = builder.port(port).timeout(Some(Duration::from_secs(20)));
        if let Some(user) = &config.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                config.password.clone().unwrap_or_default(),
            ));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            target: format!("{}:{port}", config.host),
        })
    }
}

impl MailSender for SmtpSender {
    fn send<'a>(&'a self, from: &'a Mailbox, email: Email) -> SendFuture<'a> {
        Box::pin(async move {
            let message = build_message(from, email)?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP delivery through {} failed: {e}", self.target))
        })
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
    fn send<'a>(&'a self, from: &'a Mailbox, email: Email) -> SendFuture<'a> {
        Box::pin(async move {
            // Built as for SMTP, so a message that could not be sent fails here too.
            build_message(from, email.clone())?;
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

/// E-mail for the web layer: settings, a sender, and the per-address request counts.
#[derive(Debug)]
pub struct Mail {
    /// The settings.
    pub settings: MailSettings,
    from: Mailbox,
    sender: Arc<dyn MailSender>,
    requests: Mutex<HashMap<String, (u32, Instant)>>,
    /// Held while a reset request counts an account's recent tokens and makes a new one, so
    /// concurrent requests cannot both pass the per-account limit (within this process).
    pub(crate) issuing: tokio::sync::Mutex<()>,
}

impl Mail {
    /// E-mail with these settings through this sender; fails if the From address does not
    /// parse.
    pub fn new(settings: MailSettings, sender: Arc<dyn MailSender>) -> Result<Mail, String> {
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("the From address {:?} is not valid: {e}", settings.from))?;
        Ok(Mail {
            settings,
            from,
            sender,
            requests: Mutex::new(HashMap::new()),
            issuing: tokio::sync::Mutex::new(()),
        })
    }

    /// Deliver a message.
    pub async fn send(&self, email: Email) -> Result<(), String> {
        self.sender.send(&self.from, email).await
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
        let from: Mailbox = "Registryo <ro@example.com>".parse().unwrap();
        let raw = String::from_utf8(build_message(&from, email).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
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
    fn smtp_debug_hides_the_password() {
        let c = SmtpConfig {
            host: "h".into(),
            port: 0,
            tls: SmtpTls::StartTls,
            username: Some("u".into()),
            password: Some("hunter2".into()),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(SmtpSender::new(&c).is_ok());
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
}
