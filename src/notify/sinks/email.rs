//! E-mail over SMTP: STARTTLS that must succeed (or TLS from the first byte), authentication with
//! a password from the environment or a file, one Message-ID per notice so mail clients and
//! archives drop duplicates.

use std::time::Duration;

use futures::future::BoxFuture;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{SendError, Sink};
use crate::config::{EmailSettings, SmtpTls};
use crate::notify::{Message, Notice};

pub struct Email {
    pub settings: EmailSettings,
    pub timeout: Duration,
}

impl Email {
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        let s = &self.settings;
        let permanent = |what: &str, e: &dyn std::fmt::Display| SendError::Permanent(format!("{what}: {e}"));
        let tls_parameters = || -> Result<TlsParameters, SendError> {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(ca) = &s.ca_file {
                let pem = std::fs::read(ca).map_err(|e| permanent(&format!("cannot read the mail server's CA {}", ca.display()), &e))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| permanent(&format!("the CA file {}", ca.display()), &e))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| permanent("cannot set up TLS to the mail server", &e))
        };
        let tls = match s.tls {
            SmtpTls::StartTls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut b =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone()).port(s.port).tls(tls).timeout(Some(self.timeout));
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            let password = password.reveal("the mail server's password").map_err(SendError::Permanent)?;
            b = b.credentials(Credentials::new(user.clone(), password));
        }
        Ok(b.build())
    }

    fn mail(&self, message: &Message) -> Result<lettre::Message, SendError> {
        let s = &self.settings;
        let address = |a: &str| a.parse::<lettre::message::Mailbox>().map_err(|e| SendError::Permanent(format!("the address `{a}`: {e}")));
        let mut b = lettre::Message::builder()
            .from(address(&s.from)?)
            .subject(message.title.chars().take(200).collect::<String>())
            .message_id(Some(format!("<{}@flightdeck>", message.key)));
        for to in &s.to {
            b = b.to(address(to)?);
        }
        b.body(message.text.clone()).map_err(|e| SendError::Permanent(format!("cannot build the e-mail: {e}")))
    }
}

impl Sink for Email {
    fn send<'a>(&'a self, message: &'a Message, _batch: &'a [Notice]) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let transport = self.transport()?;
            let mail = self.mail(message)?;
            let server = format!("the mail server {}:{}", self.settings.host, self.settings.port);
            match transport.send(mail).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() || e.is_tls() => {
                    Err(SendError::Permanent(format!("{server} refused it: {}", crate::logstore::sanitize::plain(&e.to_string()))))
                }
                Err(e) => Err(SendError::retry(format!("{server}: {}", crate::logstore::sanitize::plain(&e.to_string())))),
            }
        })
    }
}
