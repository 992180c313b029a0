//! `portal-server mail check`, the real binary against a real aiosmtpd on loopback: what it
//! says, step by step, and its exit status.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use portal_testkit::{ServerBuilder, SinkBehaviour, SinkOptions, SinkTls, SmtpSink, TestCertificate, free_port};

/// Runs `portal-server mail check ARGS` with only these `PORTAL_*` variables.
fn mail_check(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_MAIL_FROM", "Client portal <no-reply@example.org>")
        .envs(env.iter().copied())
        .args(["mail", "check"])
        .args(args)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[test]
fn mail_check_against_a_local_relay_without_starttls_says_what_works_and_sends_a_test_message() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let sink = SmtpSink::start();
    let url = format!("smtp://127.0.0.1:{}", sink.port());
    let (output, stdout, stderr) =
        mail_check(data.path(), &["--send-to", "ops@example.org"], &[("PORTAL_SMTP_URL", &url)]);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    for words in [
        &format!("Mail relay 127.0.0.1:{} (on this machine: STARTTLS when offered, plain otherwise)", sink.port()),
        &format!("ok      connect: connected to 127.0.0.1:{}", sink.port()),
        "ok      greeting: 220 ",
        "ok      TLS: none; the relay offers no STARTTLS",
        "ok      AUTH: not used",
        "ok      test message: accepted by the relay for ops@example.org",
        "Mail can go out.",
    ] {
        assert!(stdout.contains(words), "no `{words}` in:\n{stdout}");
    }
    // aiosmtpd's Maildir handler stores the message before it answers DATA.
    let received = sink.received();
    assert_eq!(received.len(), 1, "the relay got the test message");
    let message = String::from_utf8_lossy(&received[0]);
    assert!(message.contains("Subject: Mail check: the portal can send mail"), "{message}");
    assert!(message.contains("From: \"Client portal\" <no-reply@example.org>"), "{message}");
}

#[test]
fn mail_check_with_a_login_says_auth_was_accepted_over_starttls_and_never_prints_the_password() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let certificate = TestCertificate::generate();
    let sink = SmtpSink::start_with(SinkOptions {
        behaviour: SinkBehaviour::RequireAuth { login: "mailer", password: "relay pass/word" },
        tls: SinkTls::StartTls(&certificate),
        ..SinkOptions::default()
    });
    let url =
        format!("smtp://mailer:relay%20pass%2Fword@127.0.0.1:{}?ca_file={}", sink.port(), certificate.cert().display());
    let (output, stdout, stderr) = mail_check(data.path(), &[], &[("PORTAL_SMTP_URL", &url)]);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("ok      TLS: STARTTLS"), "{stdout}");
    assert!(stdout.contains("ok      AUTH: accepted for user mailer"), "{stdout}");
    for printed in [&stdout, &stderr] {
        assert!(!printed.contains("pass/word") && !printed.contains("pass%2Fword"), "{printed}");
    }
    assert!(sink.received().is_empty(), "without --send-to nothing is sent");

    // The same login with tls=none is refused before any connection: no password in the clear.
    let plain = format!("smtp://mailer:relay%20pass%2Fword@127.0.0.1:{}?tls=none", sink.port());
    let (output, stdout, stderr) = mail_check(data.path(), &[], &[("PORTAL_SMTP_URL", &plain)]);
    assert_ne!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(format!("{stdout}{stderr}").contains("never sent without TLS"), "{stdout}{stderr}");
}

#[test]
fn mail_check_with_nothing_listening_fails_in_plain_words() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let url = format!("smtp://127.0.0.1:{}", free_port());
    let (output, stdout, stderr) =
        mail_check(data.path(), &["--send-to", "ops@example.org"], &[("PORTAL_SMTP_URL", &url)]);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAILED  SMTP connect: connection refused: nothing is listening at that host and port"),
        "{stdout}"
    );
    assert!(stdout.contains("what to do: check that the relay is running"), "{stdout}");
    assert!(stdout.trim_end().ends_with("Mail cannot go out."), "{stdout}");
    assert!(stderr.contains("portal-server: mail cannot go out through 127.0.0.1:"), "{stderr}");
}

#[test]
fn mail_check_without_a_relay_checks_the_folder_of_eml_files() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let (output, stdout, stderr) = mail_check(data.path(), &["--send-to", "ops@example.org"], &[]);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    let folder = data.path().join("mail");
    assert!(stdout.contains(&format!("Mail goes to .eml files in {}", folder.display())), "{stdout}");
    assert!(stdout.contains("ok      the folder exists and is writable"), "{stdout}");
    let files: Vec<_> = std::fs::read_dir(&folder).expect("the folder").collect();
    assert_eq!(files.len(), 1, "the test message is one .eml file");

    // A file where the folder should be: mail cannot be written.
    let blocked = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(blocked.path().join("mail"), b"not a folder").expect("a file");
    let (output, stdout, stderr) = mail_check(blocked.path(), &[], &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("FAILED  ") && stdout.contains("Mail cannot go out."), "{stdout}");
}

#[test]
fn serve_warns_at_start_up_when_mail_cannot_go_out_and_keeps_serving() {
    let url = format!("smtp://127.0.0.1:{}", free_port());
    let mut server = ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server"))
        .envs([("PORTAL_LOG", "info"), ("PORTAL_SMTP_URL", url.as_str())])
        .start()
        .expect("the server starts although mail cannot go out");
    // The probe runs beside the listener; a refused connection on loopback takes milliseconds.
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.is_running(), "a relay that is down is no reason to stop");
    let (status, log) = server.terminate().expect("the server stops");
    assert_eq!(status.code(), Some(0), "{log}");
    let warning = log.lines().find(|line| line.contains("WARN") && line.contains("mail cannot go out"));
    let warning = warning.unwrap_or_else(|| panic!("no start-up warning in:\n{log}"));
    assert!(warning.contains("nothing is listening"), "{warning}");
    assert!(warning.contains("portal-server mail check"), "{warning}");
}
