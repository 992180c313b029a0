//! `cargo run -p portal-example-ehr`: the EHR example with the portal mounted under
//! `/client-portal`. Prints where to go and, on first run, the staff sign-in once.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use portal_example_ehr::{EhrConfig, PORTAL_PREFIX, RunningEhr};
use secrecy::{ExposeSecret as _, SecretString};

/// A small EHR embedding the client portal (an example of the host seams).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Holds ehr.db, portal.db, link.key and mail/ (the .eml files).
    #[arg(long, env = "EHR_DATA_DIR", default_value = "ehr-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "EHR_BIND", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// The EHR's external base URL (default: http://{bind}).
    #[arg(long, env = "EHR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Username of the staff user created on first run.
    #[arg(long, env = "EHR_STAFF_USERNAME", default_value = "frontdesk")]
    staff_username: String,
    /// Password of the staff user created on first run (default: generated and printed once).
    #[arg(long, env = "EHR_STAFF_PASSWORD", hide_env_values = true)]
    staff_password: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("EHR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colours).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("portal-example-ehr: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("portal-example-ehr: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = EhrConfig::new(args.data_dir);
    config.bind = args.bind;
    config.public_url = args.public_url;
    config.first_staff.username = args.staff_username;
    config.first_staff.password = args.staff_password.map(SecretString::from);
    let mail_dir = config.mail_dir();
    let mut ehr = portal_example_ehr::start(config).await.map_err(|error| chain(&error))?;
    print(&welcome(&mut ehr, &mail_dir)).map_err(|error| format!("cannot write to stdout: {error}"))?;
    ehr.run_until(shutdown_signal()).await.map_err(|error| chain(&error))
}

/// What to open, and on first run the staff sign-in (the generated password only this once).
fn welcome(ehr: &mut RunningEhr, mail_dir: &std::path::Path) -> String {
    let url = ehr.url().to_owned();
    let mut text = format!(
        "EHR example running at {url}\n\
         \x20 staff sign-in:    {url}/login\n\
         \x20 patients:         {url}/patients\n\
         \x20 portal (clients): {url}{PORTAL_PREFIX}/portal/{slug}/sign-in\n\
         \x20 emailed links:    .eml files in {mail}\n",
        slug = ehr.practice_slug(),
        mail = mail_dir.display(),
    );
    if let Some(staff) = ehr.take_first_staff() {
        text.push_str(&format!("\nFirst run: created the staff user `{}`", staff.username));
        match staff.generated_password {
            Some(password) => text.push_str(&format!(
                " with the password\n\n    {}\n\nIt is shown only this once.\n",
                password.expose_secret()
            )),
            None => text.push_str(" with the password you gave.\n"),
        }
    }
    text
}

fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// An error with its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight and the current delivery");
}
