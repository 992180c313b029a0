//! The TLS rule for relays and the probe behind `portal-server mail check`, against a real
//! aiosmtpd on loopback.

use jiff::Timestamp;
use mail_parser::MessageParser;
use portal_core::{
    DeliveryCause, DeliveryProblem, DeliveryState, EmailAddress, Language, MailTransport, TransportError,
};
use portal_mail::{DispatchReport, ProbeAuth, ProbeTls, SmtpConfig, SmtpFailure, SmtpStep, SmtpTransport, TlsMode};

use crate::helpers::{TestResult, World, renderer};
use portal_testkit::{SinkBehaviour, SinkOptions, SinkTls, SmtpSink, TestCertificate, free_port};

fn transport(url: &str) -> TestResult<SmtpTransport> {
    Ok(SmtpTransport::new(SmtpConfig::from_url(url)?)?)
}

fn test_message(to: &str) -> TestResult<portal_core::RenderedEmail> {
    Ok(renderer().test_message(&EmailAddress::parse(to)?, Timestamp::from_second(1_800_000_000)?)?)
}

#[tokio::test]
async fn a_loopback_relay_without_starttls_gets_mail_with_the_plain_smtp_url() -> TestResult {
    let server = SmtpSink::start();
    let url = format!("smtp://127.0.0.1:{}", server.port());
    assert_eq!(SmtpConfig::from_url(&url)?.tls, TlsMode::Opportunistic);
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;

    let dispatcher = world.dispatcher(transport(&url)?);
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 1, sent: 1, ..Default::default() });
    assert_eq!(server.wait_for(1).len(), 1);
    assert!(matches!(world.state_of(0), DeliveryState::Sent { .. }));
    Ok(())
}

#[tokio::test]
async fn credentials_are_never_sent_to_a_relay_that_offers_no_starttls() -> TestResult {
    let server = SmtpSink::start();
    let email = test_message("ada@example.org")?;

    // Opportunistic TLS with a login: the missing offer stops the session before AUTH.
    let opportunistic = transport(&format!("smtp://mailer:hunter2@127.0.0.1:{}?tls=opportunistic", server.port()))?;
    let error = opportunistic.probe(Some(&email)).await.err().ok_or("the probe passed")?;
    assert_eq!((error.step, &error.failure), (SmtpStep::Tls, &SmtpFailure::CredentialsNeedTls));
    assert!(error.report.greeting.is_some() && error.report.auth.is_none(), "{error:?}");
    match opportunistic.send(&email).await {
        Err(TransportError::Transient(DeliveryProblem { cause, detail: text })) => {
            assert_eq!(cause, DeliveryCause::NoSecureConnection);
            assert!(text.starts_with("SMTP TLS:") && text.contains("not sent"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        other => panic!("expected a transient refusal, got {other:?}"),
    }

    // Without `tls=`, a login to a loopback host keeps TLS required.
    let default = transport(&format!("smtp://mailer:hunter2@127.0.0.1:{}", server.port()))?;
    let error = default.probe(None).await.err().ok_or("the probe passed")?;
    assert_eq!((error.step, &error.failure), (SmtpStep::Tls, &SmtpFailure::StartTlsNotOffered));
    assert!(error.advice().is_some_and(|advice| advice.contains("tls=opportunistic")));

    assert!(server.received().is_empty(), "nothing was delivered");
    Ok(())
}

#[tokio::test]
async fn a_probe_reports_each_step_and_delivers_a_test_message() -> TestResult {
    let server = SmtpSink::start();
    let relay = transport(&format!("smtp://localhost:{}?timeout=5", server.port()))?;

    let report = relay.probe(None).await?;
    assert_eq!(report.relay, format!("localhost:{}", server.port()));
    assert!(report.connected.is_some_and(|address| address.ip().is_loopback()), "{report:?}");
    assert!(report.greeting.as_deref().is_some_and(|greeting| greeting.starts_with("220 ")), "{report:?}");
    assert_eq!(report.tls, Some(ProbeTls::NotOffered));
    assert_eq!(report.auth, Some(ProbeAuth::NotConfigured { offered: false }));
    assert_eq!(report.test_message, None);
    assert!(server.received().is_empty(), "a probe without a test message sends nothing");

    let report = relay.probe(Some(&test_message("ops@example.org")?)).await?;
    assert_eq!(report.test_message.as_deref(), Some("ops@example.org"));
    let received = server.wait_for(1);
    let message = MessageParser::default().parse(&received[0]).ok_or("an unparseable message")?;
    assert_eq!(message.subject(), Some("Mail check: the portal can send mail"));
    assert!(message.body_text(0).is_some_and(|text| text.contains("portal-server mail check")));
    Ok(())
}

#[tokio::test]
async fn a_probe_over_starttls_names_the_tls_session() -> TestResult {
    let certificate = TestCertificate::generate();
    let cert = certificate.cert();
    let server = SmtpSink::start_with(SinkOptions { tls: SinkTls::StartTls(&certificate), ..SinkOptions::default() });
    let url = format!("smtp://127.0.0.1:{}?tls=required&timeout=5&ca_file={}", server.port(), cert.display());
    let report = transport(&url)?.probe(None).await?;
    let Some(ProbeTls::StartTls { session }) = &report.tls else { panic!("no STARTTLS in {report:?}") };
    assert!(session.starts_with("TLS 1."), "{session}");

    // Without the test CA the certificate is not trusted: the probe says so at the TLS step.
    let untrusting = transport(&format!("smtp://127.0.0.1:{}?tls=required&timeout=5", server.port()))?;
    let error = untrusting.probe(None).await.err().ok_or("an untrusted certificate passed")?;
    assert_eq!(error.step, SmtpStep::Tls);
    assert!(matches!(error.failure, SmtpFailure::Connection(_)), "{error:?}");
    assert!(error.advice().is_some_and(|advice| advice.contains("ca_file")));
    Ok(())
}

#[tokio::test]
async fn a_probe_names_the_step_that_failed() -> TestResult {
    let nobody = transport(&format!("smtp://127.0.0.1:{}?timeout=5", free_port()))?;
    let error = nobody.probe(None).await.err().ok_or("nothing listens, yet the probe passed")?;
    assert_eq!(error.step, SmtpStep::Connect);
    assert!(error.to_string().starts_with("SMTP connect: "), "{error}");
    assert_eq!(error.report.connected, None);

    let refusing =
        SmtpSink::start_with(SinkOptions { behaviour: SinkBehaviour::RejectRecipients, ..SinkOptions::default() });
    let relay = transport(&format!("smtp://127.0.0.1:{}?timeout=5", refusing.port()))?;
    let error = relay.probe(Some(&test_message("nobody@example.org")?)).await.err().ok_or("the recipient passed")?;
    assert_eq!(error.step, SmtpStep::RcptTo);
    assert_eq!(error.failure, SmtpFailure::Reply { code: 550, text: "550 5.1.1 no such user".into() });
    assert!(error.report.auth.is_some() && error.report.test_message.is_none());
    Ok(())
}
