//! A transport that writes each message as an RFC 5322 `.eml` file: the embedded default, so
//! the bundled server works with no mail server. Any mail program opens the files.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use portal_core::{DeliveryCause, DeliveryProblem, MailTransport, RenderedEmail, TransportError};

use crate::ConfigError;
use crate::message;

/// Writes `{message-id}.eml` files into a folder, atomically: a reader never sees half a
/// message. The files hold live links, so on Unix the folder is created `0700` and the files
/// `0600`. Sending the same outbox row again overwrites its file (same Message-ID).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use portal_core::{MailTransport, RenderedEmail};
/// use portal_mail::FileTransport;
/// let dir = tempfile::tempdir()?;
/// let transport = FileTransport::new(dir.path().join("mail"))?;
/// let email = RenderedEmail {
///     message_id: "42@example.org".into(),
///     from_name: "Account notifications".into(),
///     from_address: "no-reply@example.org".into(),
///     to: "ada@example.org".into(),
///     subject: "Your account invitation".into(),
///     text: "Hello".into(),
///     html: "<p>Hello</p>".into(),
/// };
/// transport.send(&email).await?;
/// let written = std::fs::read_to_string(dir.path().join("mail/42@example.org.eml"))?;
/// assert!(written.contains("Subject: Your account invitation"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FileTransport {
    dir: PathBuf,
    counter: AtomicU64,
}

impl FileTransport {
    /// A transport writing into `dir`, which is created (with its parents) when missing.
    ///
    /// # Errors
    /// [`ConfigError`] when the folder cannot be created or is not a folder.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let dir = dir.into();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| ConfigError::new("mail-dir", format!("cannot create {}: {e}", dir.display())))?;
        if !dir.is_dir() {
            return Err(ConfigError::new("mail-dir", format!("{} is not a folder", dir.display())));
        }
        Ok(Self { dir, counter: AtomicU64::new(0) })
    }

    /// The folder the files go to.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks that a file can be created in the folder (`portal-server mail check`): writes an
    /// empty hidden file and removes it.
    ///
    /// # Errors
    /// The I/O error of creating, or removing, the file.
    pub fn check_writable(&self) -> std::io::Result<()> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let probe = self.dir.join(format!(".mail-check.{}.{n}.tmp", std::process::id()));
        fs::OpenOptions::new().write(true).create_new(true).open(&probe)?;
        fs::remove_file(&probe)
    }

    /// The file a message is written to: the Message-ID (already restricted to letters, digits,
    /// `.`, `-`, `_` and one `@` by the message check) plus `.eml`.
    #[must_use]
    pub fn path_for(&self, email: &RenderedEmail) -> PathBuf {
        self.dir.join(format!("{}.eml", email.message_id))
    }
}

#[async_trait]
impl MailTransport for FileTransport {
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError> {
        let bytes = message::to_rfc5322(email, message::now_unix_seconds())?;
        let target = self.path_for(email);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(".{}.{}.{n}.tmp", email.message_id, std::process::id()));
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &temp, &target, &bytes))
            .await
            .map_err(|_| not_written("the file writer stopped".into()))?
            .map_err(|e| not_written(format!("cannot write the message file: {e}")))
    }
}

/// A full disk or a folder made read-only may be fixed by the next attempt.
fn not_written(detail: String) -> TransportError {
    TransportError::Transient(DeliveryProblem::new(DeliveryCause::NotWritten, detail))
}

fn write_atomically(dir: &Path, temp: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(temp, target)?;
        // Make the rename itself durable (best effort: not every platform can open a folder).
        if let Ok(folder) = fs::File::open(dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::sample;

    #[tokio::test]
    async fn a_message_lands_as_one_complete_file_and_a_resend_overwrites_it() {
        let dir = tempfile::tempdir().unwrap();
        let transport = FileTransport::new(dir.path().join("a/b")).unwrap();
        transport.send(&sample()).await.unwrap();
        transport.send(&sample()).await.unwrap();
        let names: Vec<_> = fs::read_dir(transport.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("0190-abc@example.org.eml")]);
        let text = fs::read_to_string(transport.path_for(&sample())).unwrap();
        assert!(text.starts_with("From: "), "{text}");
        // SMTP dot-stuffing is the SMTP client's job; the file holds the body as written.
        assert!(text.contains("Hello"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(transport.path_for(&sample())).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the file must not be readable by others");
        }
    }

    #[tokio::test]
    async fn a_folder_that_is_gone_is_a_transient_not_written_failure() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("mail");
        let transport = FileTransport::new(folder.clone()).unwrap();
        fs::remove_dir(&folder).unwrap();
        match transport.send(&sample()).await {
            Err(TransportError::Transient(DeliveryProblem { cause: DeliveryCause::NotWritten, detail })) => {
                assert!(detail.starts_with("cannot write the message file:"), "{detail}");
            }
            other => panic!("expected a transient write failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_message_with_a_bad_id_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let transport = FileTransport::new(dir.path()).unwrap();
        let email = RenderedEmail { message_id: "../../etc/passwd@x".into(), ..sample() };
        let refused = transport.send(&email).await;
        assert!(
            matches!(&refused, Err(TransportError::Permanent(p)) if p.cause == DeliveryCause::NotBuilt),
            "{refused:?}"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_file_in_the_way_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(FileTransport::new(&file).is_err());
    }
}
