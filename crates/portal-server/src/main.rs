//! `portal-server`: see `portal-server --help` and the crate documentation.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use portal_server::cli::parse_duration;
use portal_server::cli::{Cli, Command, MailCommand, MailSettings, Options, PracticeCommand, StaffKeyCommand};
use portal_server::client_import::{self, ClientsCommand, ImportFailure};
use portal_server::link_key::{self, KeySource, LINK_KEY_ENV};
use portal_server::server::{self, ServerConfig};
use portal_server::{bootstrap, commands, logging, staff_keys};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = logging::init(&cli.options.log_filter, cli.options.log_format) {
        eprintln!("portal-server: {error}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("portal-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("portal-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// An error chain as one line: `cannot listen on 127.0.0.1:8080: Address in use`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Writes what a command prints on purpose (JSON, the first-run message) to stdout.
fn print(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("cannot write to stdout: {error}"))
}

fn print_json(value: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|error| error.to_string())?;
    print(&format!("{text}\n"))
}

async fn run(cli: Cli) -> Result<(), String> {
    let options = cli.options;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&options).await,
        Command::Migrate => {
            prepare_data_dir(&options, false)?;
            let url = options.database_url().map_err(|error| error.to_string())?;
            commands::migrate(&url).await.map_err(|error| chain(&error))
        }
        Command::Practice(PracticeCommand::Create { name, slug, time_zone }) => {
            prepare_data_dir(&options, false)?;
            let url = options.database_url().map_err(|error| error.to_string())?;
            let created = commands::create_practice(&url, &name, slug.as_deref(), &time_zone)
                .await
                .map_err(|error| chain(&error))?;
            print_json(&created)
        }
        Command::StaffKey(command) => staff_key(&options, command).await,
        Command::Clients(ClientsCommand::Import { file, practice, dry_run }) => {
            prepare_data_dir(&options, false)?;
            let url = options.database_url().map_err(|error| error.to_string())?;
            match client_import::import(&url, &file, &practice, dry_run).await {
                Ok(imported) => {
                    for warning in &imported.warnings {
                        eprintln!("{warning}");
                    }
                    print_json(&imported.summary)
                }
                Err(ImportFailure::Rows(problems)) => {
                    for problem in &problems {
                        eprintln!("line {}: {}", problem.line, problem.what);
                    }
                    Err(format!("{} problem(s) in {}; nothing was written", problems.len(), file.display()))
                }
                Err(error) => Err(chain(&error)),
            }
        }
        Command::Mail(MailCommand::Check { send_to }) => {
            let resolved = options.resolve().map_err(|error| error.to_string())?;
            if matches!(resolved.mail, MailSettings::Files(_)) {
                prepare_data_dir(&options, false)?;
            }
            let public_url = options.public_url().map_err(|error| error.to_string())?;
            portal_mail::install_crypto_provider();
            let check = commands::mail_check(&resolved, &public_url, send_to.as_deref()).await;
            print(&check.text)?;
            check.outcome
        }
        Command::Prune => {
            let resolved = options.resolve().map_err(|error| error.to_string())?;
            prepare_data_dir(&options, false)?;
            let counts = portal_server::retention::prune_once(&resolved.database_url, &resolved.policy, resolved.store)
                .await
                .map_err(|error| chain(&error))?;
            print_json(&counts)
        }
        Command::Openapi => {
            let public_url = options.public_url().map_err(|error| error.to_string())?;
            print(&format!("{}\n", portal_http::openapi_json(&public_url)))
        }
    }
}

async fn staff_key(options: &Options, command: StaffKeyCommand) -> Result<(), String> {
    prepare_data_dir(options, false)?;
    let url = options.database_url().map_err(|error| error.to_string())?;
    match command {
        StaffKeyCommand::Create { practice, label, expires } => {
            let expires_in = expires
                .as_deref()
                .map(|text| parse_duration(text).map_err(|why| format!("invalid --expires: {why}")))
                .transpose()?;
            let created =
                staff_keys::create(&url, &practice, &label, expires_in).await.map_err(|error| chain(&error))?;
            print_json(&created)
        }
        StaffKeyCommand::List { practice, json } => {
            let keys = staff_keys::list(&url, &practice).await.map_err(|error| chain(&error))?;
            if json { print_json(&keys) } else { print(&staff_keys::table(&keys)) }
        }
        StaffKeyCommand::Revoke { practice, id } => {
            let key = staff_keys::revoke(&url, &practice, &id).await.map_err(|error| chain(&error))?;
            print_json(&key)
        }
    }
}

/// Creates the data directory (mode `0700`) when something will live in it: the default SQLite
/// database, the link key file (`needs_key`) or the `.eml` files.
fn prepare_data_dir(options: &Options, needs_key: bool) -> Result<(), String> {
    let default_database = options.database_url.as_deref().is_none_or(|url| url.trim().is_empty());
    let file_mail = options.smtp_url.as_deref().is_none_or(|url| url.trim().is_empty());
    if !(default_database || needs_key || file_mail) {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(builder.recursive(true), 0o700);
    builder
        .create(&options.data_dir)
        .map_err(|error| format!("cannot create the data directory {}: {error}", options.data_dir.display()))
}

async fn serve(options: &Options) -> Result<(), String> {
    let resolved = options.resolve().map_err(|error| error.to_string())?;
    let key_from_env = std::env::var(LINK_KEY_ENV).ok().filter(|key| !key.trim().is_empty());
    prepare_data_dir(options, key_from_env.is_none())?;
    let (key, source) =
        link_key::load_or_create(key_from_env.as_deref(), &options.data_dir).map_err(|error| chain(&error))?;
    match &source {
        KeySource::Environment => tracing::info!("link key from {LINK_KEY_ENV}"),
        KeySource::File(path) | KeySource::Created(path) => tracing::info!(path = %path.display(), "link key file"),
    }
    let mail = resolved.mail.clone();
    let mut running = server::start(ServerConfig::new(resolved, key)).await.map_err(|error| chain(&error))?;
    if let Some(created) = running.take_first_run() {
        // The one place the staff key is shown: stdout, once; never the log.
        print(&bootstrap::first_run_message(&created, running.public_url(), &mail))?;
    }
    running.run_until(server::shutdown_signal()).await.map_err(|error| chain(&error))
}
