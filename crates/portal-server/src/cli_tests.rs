//! Tests of the command line: flags, environment variables and their parsing.

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("portal-server").chain(args.iter().copied()))
}

#[test]
fn friendly_durations_are_understood() {
    for (text, seconds) in [("48h", 172_800), ("30m", 1800), ("1m", 60), ("90s", 90), ("1h30m", 5400), ("2d", 172_800)]
    {
        assert_eq!(parse_duration(text), Ok(SignedDuration::from_secs(seconds)), "{text}");
    }
    for bad in ["", "10", "abc", "-5m", "0s", "1mo"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn defaults_are_the_embedded_set_up() -> Result<(), Box<dyn std::error::Error>> {
    let cli = parse(&[])?;
    assert!(cli.command.is_none());
    let resolved = cli.options.resolve()?;
    assert_eq!(resolved.database_url, "sqlite://./portal-data/portal.db?mode=rwc");
    assert_eq!(resolved.bind, "127.0.0.1:8080".parse()?);
    assert_eq!(resolved.public_url, None);
    assert!(matches!(resolved.mail, MailSettings::Files(ref dir) if dir == Path::new("./portal-data/mail")));
    assert_eq!(resolved.mail_from.address().as_str(), "no-reply@portal.localhost");
    assert_eq!(resolved.policy, Policy::default());
    assert_eq!(resolved.first_practice, "My Practice");
    assert!(!resolved.trust_forwarded_for);
    Ok(())
}

#[test]
fn flags_work_before_and_after_the_subcommand() -> Result<(), Box<dyn std::error::Error>> {
    let cli = parse(&[
        "--data-dir",
        "/srv/portal",
        "serve",
        "--invite-ttl",
        "24h",
        "--public-url",
        "https://p.example.org/",
    ])?;
    assert!(matches!(cli.command, Some(Command::Serve)));
    let resolved = cli.options.resolve()?;
    assert_eq!(resolved.database_url, "sqlite:///srv/portal/portal.db?mode=rwc");
    assert_eq!(resolved.policy.invite_ttl(), SignedDuration::from_hours(24));
    assert_eq!(resolved.public_url.as_deref(), Some("https://p.example.org"));
    let cli = parse(&["practice", "create", "--name", "Sunrise Therapy", "--slug", "sunrise"])?;
    assert!(
        matches!(cli.command, Some(Command::Practice(PracticeCommand::Create { ref slug, .. })) if slug.as_deref() == Some("sunrise"))
    );
    let cli = parse(&["staff-key", "create", "--practice", "sunrise", "--label", "Front desk"])?;
    assert!(matches!(cli.command, Some(Command::StaffKey(StaffKeyCommand::Create { .. }))));
    let cli = parse(&["mail", "check", "--send-to", "ops@example.org"])?;
    assert!(
        matches!(cli.command, Some(Command::Mail(MailCommand::Check { ref send_to })) if send_to.as_deref() == Some("ops@example.org"))
    );
    Ok(())
}

#[test]
fn link_lifetimes_outside_the_policy_name_their_flag() -> Result<(), Box<dyn std::error::Error>> {
    let error = parse(&["--invite-ttl", "8d"])?.options.resolve().err().ok_or("8d accepted")?;
    assert_eq!(error.flag, "invite-ttl");
    assert!(error.to_string().starts_with("invalid --invite-ttl: must be between"), "{error}");
    let error = parse(&["--reset-ttl", "30s"])?.options.resolve().err().ok_or("30s accepted")?;
    assert_eq!(error.flag, "reset-ttl");
    let error = parse(&["--reset-ttl", "soon"])?.options.resolve().err().ok_or("soon accepted")?;
    assert_eq!(error.flag, "reset-ttl");
    assert!(error.to_string().contains("48h"), "{error}");
    Ok(())
}

#[test]
fn bad_mail_settings_name_their_flag_and_hide_passwords() -> Result<(), Box<dyn std::error::Error>> {
    let error = parse(&["--mail-from", "not an address"])?.options.resolve().err().ok_or("accepted")?;
    assert_eq!(error.flag, "mail-from");
    let error = parse(&["--smtp-url", "smtp://mailer:hunter2@smtp.example.org:25?tls=none"])?
        .options
        .resolve()
        .err()
        .ok_or("accepted")?;
    assert_eq!(error.flag, "smtp-url");
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let resolved = parse(&["--smtp-url", "smtps://mailer:hunter2@smtp.example.org"])?.options.resolve()?;
    assert!(matches!(resolved.mail, MailSettings::Smtp(ref config) if config.port == 465));
    assert!(!format!("{resolved:?}").contains("hunter2"));
    let resolved = parse(&["--database-url", "postgres://portal:hunter2@db/portal"])?.options.resolve()?;
    assert!(!format!("{resolved:?}").contains("hunter2"));
    Ok(())
}

#[test]
fn mail_delivery_timing_defaults_to_the_dispatcher_defaults_and_can_be_shortened()
-> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(parse(&[])?.options.resolve()?.dispatcher, DispatcherConfig::default());
    let short = parse(&["--mail-poll-interval", "200ms", "--mail-retry-max", "1s", "--mail-lease", "4s"])?
        .options
        .resolve()?
        .dispatcher;
    assert_eq!(short.poll_interval, Duration::from_millis(200));
    assert_eq!((short.base_backoff, short.max_backoff), (SignedDuration::from_secs(1), SignedDuration::from_secs(1)));
    assert_eq!((short.lease, short.send_timeout), (SignedDuration::from_secs(4), Duration::from_secs(2)));
    let long = parse(&["--mail-retry-max", "6h", "--mail-lease", "1h"])?.options.resolve()?.dispatcher;
    assert_eq!(long.base_backoff, DispatcherConfig::default().base_backoff);
    assert_eq!(long.send_timeout, DispatcherConfig::default().send_timeout, "a long lease keeps the 90s cap");
    for (flag, bad) in [("mail-poll-interval", "0s"), ("mail-retry-max", "soon"), ("mail-lease", "-1m")] {
        let error = parse(&[&format!("--{flag}={bad}")])?.options.resolve().err().ok_or(bad)?;
        assert_eq!(error.flag, flag, "{bad}");
    }
    Ok(())
}

#[test]
fn a_public_url_must_be_absolute_http() -> Result<(), Box<dyn std::error::Error>> {
    for bad in ["portal.example.org", "ftp://x", "https://", "https://x/?a=b"] {
        let error = parse(&["--public-url", bad])?.options.resolve().err().ok_or(bad)?;
        assert_eq!(error.flag, "public-url", "{bad}");
    }
    Ok(())
}

#[test]
fn unusual_data_directories_still_make_a_sqlite_url() -> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(sqlite_url(Path::new("/tmp/a?b#c%d/portal.db"))?, "sqlite:///tmp/a%3Fb%23c%25d/portal.db?mode=rwc");
    Ok(())
}

#[test]
fn trusting_forwarded_headers_is_an_explicit_switch() -> Result<(), Box<dyn std::error::Error>> {
    assert!(!parse(&[])?.options.trust_forwarded_for);
    assert!(parse(&["--trust-forwarded-for"])?.options.trust_forwarded_for);
    assert!(parse(&["--trust-forwarded-for=true"])?.options.trust_forwarded_for);
    assert!(!parse(&["--trust-forwarded-for=false"])?.options.trust_forwarded_for);
    assert!(parse(&["--trust-forwarded-for=maybe"]).is_err());
    Ok(())
}

#[test]
fn the_per_ip_limit_defaults_to_30_a_minute_and_0_turns_it_off() -> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(parse(&[])?.options.resolve()?.ip_rate_limit, 30);
    assert_eq!(parse(&["--ip-rate-limit", "0"])?.options.resolve()?.ip_rate_limit, 0);
    assert!(parse(&["--ip-rate-limit", "-1"]).is_err());
    Ok(())
}

#[test]
fn the_command_line_is_consistent() {
    use clap::CommandFactory as _;
    Cli::command().debug_assert();
}

#[test]
fn the_first_practice_takes_the_named_time_zone_or_this_machines() -> Result<(), Box<dyn std::error::Error>> {
    let resolved = parse(&["--first-practice-time-zone", "America/Chicago"])?.options.resolve()?;
    assert_eq!(resolved.first_practice_time_zone.as_str(), "America/Chicago");

    let error = parse(&["--first-practice-time-zone", "Mars/Olympus_Mons"])?.options.resolve().err();
    assert!(error.is_some_and(|error| error.flag == "first-practice-time-zone"), "an unknown zone is refused");

    // Unnamed, it is the machine's zone when the time-zone database knows it, else UTC.
    let default = parse(&[])?.options.resolve()?.first_practice_time_zone;
    assert!(jiff::tz::TimeZone::get(default.as_str()).is_ok(), "{default:?}");
    Ok(())
}

#[test]
fn retention_settings_and_the_prune_interval_are_read_and_bounded() -> Result<(), Box<dyn std::error::Error>> {
    let resolved = parse(&[])?.options.resolve()?;
    assert_eq!(resolved.prune_interval, Some(Duration::from_secs(3600)));
    assert_eq!(resolved.policy.retention(), &RetentionRules::default());
    for off in ["0", "off"] {
        assert_eq!(parse(&["--prune-interval", off])?.options.resolve()?.prune_interval, None);
    }
    let resolved =
        parse(&["prune", "--token-retention", "7d", "--outbox-retention", "90d", "--audit-retention", "3650d"])?
            .options
            .resolve()?;
    let day = SignedDuration::from_hours(24);
    assert_eq!(resolved.policy.retention().tokens_kept, day * 7);
    assert_eq!(resolved.policy.retention().outbox_kept, day * 90);
    assert_eq!(resolved.policy.retention().audit_kept, day * 3650);
    let refused = parse(&["--audit-retention", "30d"])?.options.resolve();
    assert_eq!(refused.map(|_| ()).map_err(|error| error.flag), Err("audit-retention"));
    let refused = parse(&["--prune-interval", "soon"])?.options.resolve();
    assert_eq!(refused.map(|_| ()).map_err(|error| error.flag), Err("prune-interval"));
    Ok(())
}

#[test]
fn the_reminder_interval_defaults_to_5_minutes_and_can_be_turned_off() -> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(parse(&[])?.options.resolve()?.reminder_interval, Some(Duration::from_secs(300)));
    assert_eq!(
        parse(&["--reminder-interval", "90s"])?.options.resolve()?.reminder_interval,
        Some(Duration::from_secs(90))
    );
    for off in ["0", "off"] {
        assert_eq!(parse(&["--reminder-interval", off])?.options.resolve()?.reminder_interval, None);
    }
    for text in ["soon", "0s"] {
        let refused = parse(&["--reminder-interval", text])?.options.resolve();
        assert_eq!(refused.map(|_| ()).map_err(|error| error.flag), Err("reminder-interval"));
        // The retention job's period follows the same rule.
        let refused = parse(&["--prune-interval", text])?.options.resolve();
        assert_eq!(refused.map(|_| ()).map_err(|error| error.flag), Err("prune-interval"));
    }
    Ok(())
}

#[test]
fn the_database_timeout_defaults_to_3_seconds_and_is_bounded() -> Result<(), Box<dyn std::error::Error>> {
    let defaults = parse(&[])?.options.resolve()?;
    assert_eq!(defaults.store, StoreConfig::default());
    assert_eq!(defaults.store.database_timeout, Duration::from_secs(3));
    let set = parse(&["serve", "--database-timeout", "1500ms"])?.options.resolve()?;
    assert_eq!(set.store.database_timeout, Duration::from_millis(1500));
    for bad in ["50ms", "11m", "soon", "0s"] {
        let error = parse(&["--database-timeout", bad])?.options.resolve().err().ok_or("accepted")?;
        assert_eq!(error.flag, "database-timeout", "{bad}: {error}");
    }
    Ok(())
}

#[test]
fn the_staff_key_recheck_defaults_to_the_cores_second_and_is_bounded() -> Result<(), Box<dyn std::error::Error>> {
    let default = parse(&[])?.options.resolve()?.staff_key_recheck;
    assert_eq!(SignedDuration::try_from(default)?, portal_core::service::DEFAULT_STAFF_KEY_RECHECK);
    assert_eq!(
        parse(&["--staff-key-recheck", "250ms"])?.options.resolve()?.staff_key_recheck,
        Duration::from_millis(250)
    );
    assert_eq!(parse(&["--staff-key-recheck", "1m"])?.options.resolve()?.staff_key_recheck, Duration::from_secs(60));
    for off in ["0", "off"] {
        assert_eq!(parse(&["--staff-key-recheck", off])?.options.resolve()?.staff_key_recheck, Duration::ZERO);
    }
    for bad in ["61s", "1h", "soon", "0s"] {
        let error = parse(&["--staff-key-recheck", bad])?.options.resolve().err().ok_or("accepted")?;
        assert_eq!(error.flag, "staff-key-recheck", "{bad}: {error}");
    }
    Ok(())
}
