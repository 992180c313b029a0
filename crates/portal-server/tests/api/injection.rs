//! Header and display injection through names and addresses (design §2, §4): what could break a
//! mail header, reorder what staff or a client reads, or add a recipient is refused with 422
//! `validation_failed` and changes nothing; whatever look-alike is accepted reaches the relay as a
//! message whose headers are intact: one `From`, one `To` with the one address on file, no `Cc`
//! or `Bcc`, one single-line `Subject`.

use std::process::Command;

use portal_testkit::MailSource as _;
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Mail, TestApp, spawn_app, spawn_app_with};

/// Names no field may hold: line breaks of every kind, NUL and other controls, bidi overrides
/// and isolates (they make "Ada evil" read as something else), and too many characters.
fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "Ada\r\nBcc: evil@example.org",
        "Ada\nBcc: evil@example.org",
        "Ada\rBcc: evil@example.org",
        "Ada\0Lovelace",
        "Ada\u{7}Lovelace",
        "Ada\tLovelace",
        "Ada\u{85}Bcc: evil@example.org",
        "Ada\u{2028}Bcc: evil@example.org",
        "Ada\u{2029}Lovelace",
        "Ada \u{202E}gro.elpmaxe@live",
        "Ada \u{202D}Lovelace",
        "\u{2066}Ada\u{2069} Lovelace",
        "\u{2067}Ada",
        "Ada\u{1b}[31mLovelace",
    ]
    .map(str::to_owned)
    .to_vec();
    names.push("A".repeat(201));
    names.push("\u{e9}".repeat(201));
    names
}

/// Addresses that could add a recipient, break the header or read as another address.
fn hostile_emails() -> Vec<String> {
    let mut emails: Vec<String> = [
        "ada@example.org\r\nBcc: evil@example.org",
        "ada@example.org\nBcc: evil@example.org",
        "ada@example.org\rBcc: evil@example.org",
        "ada@example.org\0",
        "ada@example.org\u{85}Bcc: evil@example.org",
        "ada@example.org\u{2028}Bcc: evil@example.org",
        "ada@example.org, evil@example.org",
        "ada@example.org;evil@example.org",
        "Ada <ada@example.org>",
        "\"Ada\" <ada@example.org>",
        "ada@example.org>\r\nBcc: <evil@example.org",
        "ada\u{202E}gro.live@example.org",
        "ada@exa\u{202E}mple.org",
        "\u{2066}ada@example.org\u{2069}",
        "ada @example.org",
    ]
    .map(str::to_owned)
    .to_vec();
    emails.push(format!("{}@example.org", "a".repeat(65)));
    emails.push(format!("ada@{}.org", "d".repeat(250)));
    emails
}

async fn clients(app: &TestApp) -> Value {
    let listed = app.staff(Method::GET, "/api/v1/clients", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    listed.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_emails_are_refused_with_422_and_change_nothing() {
    let app = spawn_app().await;
    let ada = app.create_client("Ada Lovelace", "ada@example.org").await;
    let before = clients(&app).await;

    let attempts = hostile_names()
        .into_iter()
        .map(|name| (json!({"name": name, "email": "bea@example.org"}), json!({"name": name})))
        .chain(
            hostile_emails()
                .into_iter()
                .map(|email| (json!({"name": "Bea Example", "email": email}), json!({"email": email}))),
        );
    for (create, change) in attempts {
        let created = app.staff(Method::POST, "/api/v1/clients", Some(create.clone())).await;
        created.assert_problem(422, "validation_failed");
        let changed = app.staff(Method::PATCH, &format!("/api/v1/clients/{ada}"), Some(change.clone())).await;
        changed.assert_problem(422, "validation_failed");
        // The problem says what rule broke, never the value (it may hold anything).
        for answer in [&created, &changed] {
            let detail = answer.body["detail"].as_str().unwrap_or_default();
            assert!(!detail.contains("evil") && !detail.contains("Bcc"), "{detail}");
        }
    }
    assert_eq!(clients(&app).await, before, "nothing was created or changed");
    app.stop().await;
}

/// Headers of one delivered message, checked to be intact; returns (From display name, Subject).
fn assert_headers_intact(raw: &[u8], to: &str) -> (String, String) {
    let text = String::from_utf8_lossy(raw);
    // The relay's Maildir stores lines ending in LF; the wire had CRLF. Either way a CR or LF
    // anywhere else in the header block would be an injected line.
    let text = text.replace("\r\n", "\n");
    let head = text.split("\n\n").next().expect("a header block");
    // Every header line is a `Name: value` or a folded continuation.
    for line in head.split('\n') {
        assert!(!line.contains('\r'), "a bare CR in a header: {line:?}");
        let folded = line.starts_with(' ') || line.starts_with('\t');
        let named = line
            .split_once(':')
            .is_some_and(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert!(folded || named, "a header line that is neither a field nor a continuation: {line:?}");
    }
    let fields: Vec<(String, &str)> = head
        .split('\n')
        .filter(|line| !line.starts_with(' ') && !line.starts_with('\t'))
        .filter_map(|line| line.split_once(':').map(|(name, value)| (name.to_ascii_lowercase(), value.trim())))
        .collect();
    for (name, expected) in [("from", 1), ("to", 1), ("subject", 1), ("cc", 0), ("bcc", 0), ("reply-to", 0)] {
        let count = fields.iter().filter(|(n, _)| n == name).count();
        assert_eq!(count, expected, "{name} appears {count} times in\n{head}");
    }
    // The relay records the envelope: exactly one RCPT TO, the address on file.
    let envelope: Vec<&str> = fields.iter().filter(|(n, _)| n == "x-rcptto").map(|(_, value)| *value).collect();
    assert_eq!(envelope, [to], "the envelope has exactly the one recipient");
    let message = mail_parser::MessageParser::default().parse(raw).expect("a parsable message");
    let recipients: Vec<&str> =
        message.to().map(|to| to.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    assert_eq!(recipients, [to], "exactly the address on file");
    let senders: Vec<_> = message.from().map(|from| from.iter().collect()).unwrap_or_default();
    assert_eq!(senders.len(), 1, "one sender");
    assert_eq!(senders[0].address(), Some("no-reply@portal.example.org"));
    let subject = message.subject().unwrap_or_default().to_owned();
    assert!(!subject.contains(['\r', '\n']), "{subject:?}");
    (senders[0].name().unwrap_or_default().to_owned(), subject)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_names_and_addresses_that_are_accepted_reach_the_relay_with_intact_headers() {
    let app = spawn_app_with(AppOptions { mail: Mail::Smtp, ..AppOptions::default() }).await.expect("SQLite");
    // A practice whose name imitates headers, created through the CLI's code path, and mailing
    // in its own name (not discreet), so the name goes into From and Subject.
    let practice_name = "Sunrise \"Therapy\" <evil@example.org>, Bcc: evil@example.org =?utf-8?Q?Bcc:_x?=";
    let (slug, staff_key) = app.another_practice(practice_name, "look-alike").await;
    let sql = format!("UPDATE practices SET discreet_mail = false WHERE slug = '{slug}'");
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("the database");
    db.execute_unprepared(&sql).await.expect("the practice mails in its own name");
    let _ = db.close().await;

    let accepted = [
        ("Ada \"Bcc: evil@example.org\"", "ada+bcc=evil@example.org"),
        ("Ada <evil@example.org>, Bcc: evil@example.org", "o'brien@example.org"),
        ("=?utf-8?B?QmNjOiBldmlsQGV4YW1wbGUub3Jn?=", "ada@EXAMPLE.org"),
        ("Zoë \u{200d}Lovelace", "zoe@example.org"),
        (&"Ä".repeat(200), "long@example.org"),
    ];
    let mut expected = Vec::new();
    for (name, email) in accepted {
        let body = json!({"name": name, "email": email});
        let created = app.request(Method::POST, "/api/v1/clients", Some(&staff_key), Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{name:?} / {email:?}: {created:?}");
        assert_eq!(created.body["name"], name, "the name is kept as typed");
        let id = created.body["id"].as_str().expect("an id").to_owned();
        let path = format!("/api/v1/clients/{id}/portal/invitation");
        let sent = app.request(Method::POST, &path, Some(&staff_key), None).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
        expected.push(created.body["email"].as_str().expect("the email on file").to_owned());
    }

    let mut delivered = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while delivered.len() < expected.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {} messages arrived",
            delivered.len(),
            expected.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        delivered = app.mailbox.source().raw_messages();
    }
    assert_eq!(delivered.len(), expected.len(), "one message per invitation, no extra recipient");
    let mut recipients = Vec::new();
    for raw in &delivered {
        let message = mail_parser::MessageParser::default().parse(raw).expect("a message");
        let to = message.to().and_then(|to| to.first()).and_then(|a| a.address()).unwrap_or_default().to_owned();
        let (from_name, subject) = assert_headers_intact(raw, &to);
        assert!(from_name.contains(practice_name), "the practice name survives as one display name: {from_name:?}");
        assert!(subject.contains(practice_name), "the practice name survives in the subject: {subject:?}");
        recipients.push(to);
    }
    recipients.sort();
    expected.sort();
    assert_eq!(recipients, expected);
    app.stop().await;
}

/// Runs the binary with `args` and `env` only; returns (exit code, stdout, stderr).
fn run_binary(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_a_hostile_practice_name_and_sender_and_creates_nothing() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path");
    let env = [("PORTAL_DATA_DIR", data_dir)];
    let (code, stdout, stderr) = run_binary(&["practice", "create", "--name", "Good Practice", "--slug", "good"], &env);
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    // An argument cannot carry NUL at all (the OS refuses it), so those names are not tried here.
    for name in hostile_names().into_iter().filter(|name| !name.contains('\0')) {
        let (code, stdout, stderr) = run_binary(&["practice", "create", "--name", &name], &env);
        assert_eq!(code, Some(1), "{name:?} was accepted: {stdout}");
        assert!(!stdout.contains("pst_"), "no staff key for a refused practice");
        assert!(stderr.contains("name"), "the refusal names the field: {stderr}");
    }
    let url = portal_server::cli::sqlite_url(&data.path().join("portal.db")).expect("a UTF-8 path");
    let db = sea_orm::Database::connect(url.as_str()).await.expect("the database");
    let count = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM practices",
        ))
        .await
        .expect("a count")
        .and_then(|row| row.try_get::<i64>("", "n").ok());
    assert_eq!(count, Some(1), "only the good practice exists");
    let _ = db.close().await;

    // The sender is refused before anything starts (the data directory is never created).
    for sender in [
        "Portal <no-reply@example.org>\r\nBcc: evil@example.org",
        "Portal\r\nBcc: evil@example.org <no-reply@example.org>",
        "Portal\u{202E} <no-reply@example.org>",
        "no-reply@example.org, evil@example.org",
        "Portal <evil@example.org>, <no-reply@example.org>",
        "evil@example.org> <no-reply@example.org>",
    ] {
        let missing = data.path().join("never-created");
        let missing = missing.to_str().expect("a UTF-8 path");
        let (code, stdout, stderr) = run_binary(
            &[],
            &[("PORTAL_DATA_DIR", missing), ("PORTAL_MAIL_FROM", sender), ("PORTAL_BIND", "127.0.0.1:0")],
        );
        assert_eq!(code, Some(1), "{sender:?} was accepted: {stdout}{stderr}");
        assert!(stderr.contains("--mail-from"), "{stderr}");
        assert!(!stderr.contains("evil"), "the refusal does not echo the value: {stderr}");
        assert!(!std::path::Path::new(missing).exists());
    }
}
