//! The SMTP mail sender (lettre with tokio and rustls on aws-lc-rs, the webpki roots): the
//! mail port of registryo-core ([`MailSender`]) over a real SMTP server.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use registryo_core::app::mail::{Email, MailSender, SendFuture};

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
    fn send<'a>(&'a self, from: &'a str, email: Email) -> SendFuture<'a> {
        Box::pin(async move {
            let from: Mailbox = from
                .parse()
                .map_err(|e| format!("the From address {from:?} is not valid: {e}"))?;
            let message = build_message(&from, email)?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP delivery through {} failed: {e}", self.target))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registryo_core::app::mail::link_email;

    #[test]
    fn messages_are_multipart_alternative() {
        let email = link_email(
            "x@example.com",
            "alice",
            "http://h/reset?token=T0K",
            false,
            Duration::from_secs(3600),
        )
        .unwrap();
        let from: Mailbox = "Registryo <ro@example.com>".parse().unwrap();
        let raw = String::from_utf8(build_message(&from, email).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
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
}
