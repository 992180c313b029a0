//! Delivery to a real SMTP server on loopback (aiosmtpd), and to `.eml` files.

use std::collections::BTreeSet;

use jiff::SignedDuration;
use mail_parser::{MessageParser, MimeHeaders};
use portal_core::{DeliveryCause, DeliveryProblem, DeliveryState, Language, MailTransport, TransportError};
use portal_mail::{DispatchReport, FileTransport, SmtpConfig, SmtpTransport};
use portal_testkit::{SinkBehaviour, SinkOptions, SinkTls, SmtpSink, TestCertificate, free_port};

use crate::helpers::{TestResult, World, token_in};

fn plain_transport(port: u16) -> TestResult<SmtpTransport> {
    Ok(SmtpTransport::new(SmtpConfig::from_url(&format!("smtp://127.0.0.1:{port}?tls=none&timeout=5"))?)?)
}

/// Checks one received message the way a mail program reads it, and returns the link token.
async fn check_invitation(world: &World, raw: &[u8], to: &str) -> TestResult<String> {
    let message = MessageParser::default().parse(raw).ok_or("an unparseable message")?;
    let from = message.from().and_then(|a| a.first()).ok_or("no From")?;
    assert_eq!(from.name(), Some("Account notifications"));
    assert_eq!(from.address(), Some("no-reply@example.org"));
    assert_eq!(message.to().and_then(|a| a.first()).and_then(|a| a.address()), Some(to));
    assert_eq!(message.subject(), Some("Your account invitation"));
    let content_type = message.content_type().ok_or("no Content-Type")?;
    assert_eq!((content_type.ctype(), content_type.subtype()), ("multipart", Some("alternative")));
    assert_eq!((message.text_body_count(), message.html_body_count()), (1, 1));
    let text = message.body_text(0).ok_or("no text part")?;
    let html = message.body_html(0).ok_or("no HTML part")?;
    assert!(text.contains("valid for 48 hours, until Sunday 17 January 2027, 02:00 (America/Chicago)"), "{text}");
    let token = token_in(&text, "invitation").ok_or("no link in the text part")?;
    assert_eq!(token_in(&html, "invitation"), Some(token.clone()));
    // The link works: the core accepts it (without consuming it).
    world.service.verify_invite(&token).await?;
    Ok(token)
}

fn message_id(raw: &[u8]) -> Option<String> {
    MessageParser::default().parse(raw)?.message_id().map(str::to_owned)
}

#[tokio::test]
async fn an_invitation_arrives_over_smtp_with_its_headers_parts_and_a_working_link() -> TestResult {
    let server = SmtpSink::start();
    let world = World::new().await?;
    let ada = world.client("Ada Lovelace", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;

    let dispatcher = world.dispatcher(plain_transport(server.port())?);
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 1, sent: 1, ..Default::default() });

    let received = server.wait_for(1);
    assert_eq!(received.len(), 1);
    check_invitation(&world, &received[0], "ada@example.org").await?;
    let (mail, state) = &world.outbox()[0];
    assert!(matches!(state, DeliveryState::Sent { .. }));
    assert_eq!(message_id(&received[0]), Some(format!("{}@example.org", mail.id)));
    Ok(())
}

#[tokio::test]
async fn while_smtp_is_down_rows_stay_pending_then_each_is_delivered_exactly_once() -> TestResult {
    let port = free_port();
    let world = World::new().await?;
    for (name, email) in [("Ada", "ada@example.org"), ("Grace", "grace@example.org")] {
        let client = world.client(name, email, Language::En).await?;
        world.invite(&client).await?;
    }
    let dispatcher = world.dispatcher(plain_transport(port)?);

    // Nobody listens: both rows stay pending with a transient error.
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 2, retried: 2, ..Default::default() });
    for (_, state) in world.outbox() {
        let DeliveryState::Pending { attempts: 1, last_problem: Some(problem), .. } = state else {
            panic!("expected pending after one failed attempt, got {state:?}");
        };
        assert!(problem.detail.starts_with("SMTP connect:"), "{problem:?}");
        assert_eq!(problem.cause, DeliveryCause::Unreachable);
    }

    // The server comes up; once the backoff has passed, each row is delivered once.
    let server = SmtpSink::start_with(SinkOptions { port: Some(port), ..SinkOptions::default() });
    world.advance(SignedDuration::from_mins(2));
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 2, sent: 2, ..Default::default() });
    world.advance(SignedDuration::from_hours(2));
    assert_eq!(dispatcher.run_once().await?, DispatchReport::default());

    let received = server.wait_for(2);
    assert_eq!(received.len(), 2);
    let ids: BTreeSet<_> = received.iter().filter_map(|raw| message_id(raw)).collect();
    let expected: BTreeSet<_> = world.outbox().iter().map(|(mail, _)| format!("{}@example.org", mail.id)).collect();
    assert_eq!(ids, expected, "each row arrives once, under its own Message-ID");
    assert!(world.outbox().iter().all(|(_, state)| matches!(state, DeliveryState::Sent { .. })));
    Ok(())
}

#[tokio::test]
async fn a_5xx_reply_marks_the_row_failed_with_the_servers_reason() -> TestResult {
    let server =
        SmtpSink::start_with(SinkOptions { behaviour: SinkBehaviour::RejectRecipients, ..SinkOptions::default() });
    let world = World::new().await?;
    let ada = world.client("Ada", "nobody@example.org", Language::En).await?;
    let sent = world.invite(&ada).await?;

    let dispatcher = world.dispatcher(plain_transport(server.port())?);
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 1, failed: 1, ..Default::default() });
    let Some(DeliveryState::Failed { problem, gave_up_after: None, .. }) = world.store_delivery(sent.token_id).await?
    else {
        panic!("the row is failed at once");
    };
    assert_eq!(problem, DeliveryProblem::new(DeliveryCause::AddressRefused, "SMTP RCPT TO: 550 5.1.1 no such user"));
    world.advance(SignedDuration::from_hours(2));
    assert_eq!(dispatcher.run_once().await?, DispatchReport::default(), "a failed row is never retried");
    Ok(())
}

#[tokio::test]
async fn starttls_is_used_when_offered_and_a_relay_without_it_gets_nothing_when_tls_is_required() -> TestResult {
    let certificate = TestCertificate::generate();
    let cert = certificate.cert();
    let server = SmtpSink::start_with(SinkOptions { tls: SinkTls::StartTls(&certificate), ..SinkOptions::default() });
    let url = format!("smtp://127.0.0.1:{}?timeout=5&ca_file={}", server.port(), cert.display());
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;

    let dispatcher = world.dispatcher(SmtpTransport::new(SmtpConfig::from_url(&url)?)?);
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 1, sent: 1, ..Default::default() });
    let received = server.wait_for(1);
    check_invitation(&world, &received[0], "ada@example.org").await?;

    // A server that offers no STARTTLS gets nothing when STARTTLS is required (the default for
    // a remote host; written out here, as the default for loopback is STARTTLS when offered).
    let plain = SmtpSink::start();
    let url = format!("smtp://127.0.0.1:{}?tls=required&timeout=5", plain.port());
    let strict = SmtpTransport::new(SmtpConfig::from_url(&url)?)?;
    let queued = &world.outbox()[0].0;
    let client = portal_core::ClientDirectory::client(&world.store, world.practice.id, &queued.client_id).await?;
    let email = crate::helpers::renderer().render(
        queued,
        &world.practice,
        &client.ok_or("the client is in the directory")?,
        &portal_core::LinkKey::from_bytes(crate::helpers::KEY),
    )?;
    match strict.send(&email).await {
        Err(TransportError::Transient(problem)) => {
            assert!(problem.detail.contains("STARTTLS"), "{problem:?}");
            assert_eq!(problem.cause, DeliveryCause::NoSecureConnection);
        }
        other => panic!("expected a transient STARTTLS failure, got {other:?}"),
    }
    assert!(plain.received().is_empty());
    Ok(())
}

#[tokio::test]
async fn implicit_tls_delivers_and_an_untrusted_certificate_is_a_transient_failure() -> TestResult {
    let certificate = TestCertificate::generate();
    let cert = certificate.cert();
    let server = SmtpSink::start_with(SinkOptions { tls: SinkTls::Implicit(&certificate), ..SinkOptions::default() });
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;

    // Without the test CA the certificate is not trusted: nothing is sent, the row waits.
    let untrusting =
        SmtpTransport::new(SmtpConfig::from_url(&format!("smtps://127.0.0.1:{}?timeout=5", server.port()))?)?;
    let dispatcher = world.dispatcher(untrusting);
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 1, retried: 1, ..Default::default() });
    let DeliveryState::Pending { last_problem: Some(problem), .. } = world.state_of(0) else { panic!("pending") };
    assert!(problem.detail.starts_with("SMTP TLS:"), "{problem:?}");
    assert_eq!(problem.cause, DeliveryCause::NoSecureConnection);

    let url = format!("smtps://127.0.0.1:{}?timeout=5&ca_file={}", server.port(), cert.display());
    let dispatcher = world.dispatcher(SmtpTransport::new(SmtpConfig::from_url(&url)?)?);
    world.advance(SignedDuration::from_mins(2));
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 1, sent: 1, ..Default::default() });
    check_invitation(&world, &server.wait_for(1)[0], "ada@example.org").await?;
    Ok(())
}

#[tokio::test]
async fn the_embedded_default_writes_a_readable_eml_file_with_a_working_link() -> TestResult {
    let dir = tempfile::tempdir()?;
    let world = World::new().await?;
    let ada = world.client("Ada Lovelace", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    let transport = FileTransport::new(dir.path().join("mail"))?;

    let dispatcher = world.dispatcher(transport);
    assert_eq!(dispatcher.run_once().await?, DispatchReport { claimed: 1, sent: 1, ..Default::default() });
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))?.collect::<Result<_, _>>()?;
    assert_eq!(files.len(), 1);
    let mail_id = world.outbox()[0].0.id;
    assert_eq!(files[0].file_name().to_string_lossy(), format!("{mail_id}@example.org.eml"));
    check_invitation(&world, &std::fs::read(files[0].path())?, "ada@example.org").await?;
    Ok(())
}
