//! The recording transport.

use super::*;

#[tokio::test]
async fn the_recording_transport_records_and_fails_on_request() -> TestResult {
    let transport = RecordingTransport::new();
    let email = RenderedEmail {
        message_id: "1@portal".into(),
        from_name: "Sunrise Therapy".into(),
        from_address: "no-reply@example.org".into(),
        to: "ada@example.org".into(),
        subject: "Your invitation".into(),
        text: "secret link".into(),
        html: "<a>secret link</a>".into(),
    };
    transport.fail_next_permanent(1);
    transport.fail_next_transient(2);
    let shared = transport.clone();
    assert!(matches!(shared.send(&email).await, Err(TransportError::Permanent(_))));
    for _ in 0..2 {
        let error = shared.send(&email).await.err().ok_or("a transient failure")?;
        assert!(matches!(error, TransportError::Transient(_)));
        assert!(!error.to_string().contains("secret link"));
    }
    assert!(transport.sent().is_empty());
    shared.send(&email).await?;
    assert_eq!(transport.sent(), vec![email]);
    assert_eq!(transport.attempts(), 4);
    Ok(())
}
