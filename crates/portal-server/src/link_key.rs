//! The server's link key: 32 secret bytes that turn a token id into the secret of an emailed
//! link (design §2). It lives outside the database: in `{data_dir}/link.key` (created on first
//! run, mode `0600`) or in the `PORTAL_LINK_KEY` environment variable (base64url).
//!
//! Losing the key voids every link already mailed (staff resend them); leaking it lets whoever
//! also holds the database forge links. It is never logged.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use portal_core::{LinkKey, OsRandom};

/// The environment variable that may hold the key (base64url, 32 bytes once decoded).
pub const LINK_KEY_ENV: &str = "PORTAL_LINK_KEY";

/// The key file's name inside the data directory.
pub const LINK_KEY_FILE: &str = "link.key";

/// Where the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `PORTAL_LINK_KEY` environment variable.
    Environment,
    /// An existing key file.
    File(PathBuf),
    /// A key file created just now.
    Created(PathBuf),
}

/// Why the key could not be loaded or created. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `PORTAL_LINK_KEY` is not 32 bytes of base64url.
    #[error(
        "{LINK_KEY_ENV} must be 32 bytes encoded as base64url (43 characters), e.g. from `head -c32 /dev/urandom | basenc --base64url`"
    )]
    BadEnvironment,
    /// The key file exists but does not hold exactly 32 bytes.
    #[error(
        "the link key file {path} holds {len} bytes, not 32; refusing to start (restore it from a backup, or delete it to \
         create a new key, which voids every link already mailed)"
    )]
    WrongLength {
        /// The file.
        path: PathBuf,
        /// What it holds.
        len: usize,
    },
    /// The file system refused.
    #[error("cannot {action} the link key file {path}")]
    Io {
        /// What was being done (`read`, `create`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No secure randomness to draw a new key from.
    #[error("cannot draw a new link key")]
    Randomness(#[from] portal_core::RandomnessError),
}

/// Decodes a base64url key (padded or not).
///
/// # Errors
/// [`KeyError::BadEnvironment`] for anything but 32 bytes of base64url.
pub fn decode_key(text: &str) -> Result<LinkKey, KeyError> {
    let text = text.trim();
    let bytes =
        URL_SAFE_NO_PAD.decode(text).or_else(|_| URL_SAFE.decode(text)).map_err(|_| KeyError::BadEnvironment)?;
    let bytes: [u8; LinkKey::LEN] = bytes.try_into().map_err(|_| KeyError::BadEnvironment)?;
    Ok(LinkKey::from_bytes(bytes))
}

/// The key from `PORTAL_LINK_KEY` when it is set (`from_env`), else from `{data_dir}/link.key`,
/// creating that file (mode `0600`) when it does not exist yet.
///
/// An existing file of the wrong length is refused; a file readable by group or others is used
/// with a warning in the log.
///
/// # Errors
/// [`KeyError`] as described on each variant.
pub fn load_or_create(from_env: Option<&str>, data_dir: &Path) -> Result<(LinkKey, KeySource), KeyError> {
    if let Some(text) = from_env {
        return Ok((decode_key(text)?, KeySource::Environment));
    }
    let path = data_dir.join(LINK_KEY_FILE);
    match read_key_file(&path)? {
        Some(key) => Ok((key, KeySource::File(path))),
        None => create_key_file(&path),
    }
}

/// Reads the key file; `None` when it does not exist.
fn read_key_file(path: &Path) -> Result<Option<LinkKey>, KeyError> {
    let io = |action| move |source| KeyError::Io { action, path: path.to_path_buf(), source };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io("read")(error)),
    };
    let len = bytes.len();
    let bytes: [u8; LinkKey::LEN] =
        bytes.try_into().map_err(|_| KeyError::WrongLength { path: path.to_path_buf(), len })?;
    let mode = fs::metadata(path).map_err(io("inspect"))?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:04o}", mode & 0o7777),
            "the link key file is readable by other users; run `chmod 600` on it"
        );
    }
    Ok(Some(LinkKey::from_bytes(bytes)))
}

/// Creates the key file atomically: the key is written and synced to a private temporary file,
/// which is then hard-linked to its final name. Linking fails when the name exists, so two
/// servers starting at once agree on one key (the loser reads the winner's), and a crash never
/// leaves a half-written key behind.
fn create_key_file(path: &Path) -> Result<(LinkKey, KeySource), KeyError> {
    let io = |action| move |source| KeyError::Io { action, path: path.to_path_buf(), source };
    let key = LinkKey::generate(&OsRandom)?;
    let temporary = path.with_file_name(format!(".{LINK_KEY_FILE}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
        // The mode given to open() is masked by the umask; set it explicitly as well.
        file.set_permissions(Permissions::from_mode(0o600))?;
        file.write_all(key.expose())?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| fs::hard_link(&temporary, path));
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new link key");
            Ok((key, KeySource::Created(path.to_path_buf())))
        }
        Err(error) if error.kind() == ErrorKind::AlreadyExists => match read_key_file(path)? {
            Some(key) => Ok((key, KeySource::File(path.to_path_buf()))),
            None => Err(io("create")(error)),
        },
        Err(error) => Err(io("create")(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_file_is_private_and_read_back_unchanged() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (created, source) = load_or_create(None, dir.path()).expect("a new key");
        assert_eq!(source, KeySource::Created(dir.path().join(LINK_KEY_FILE)));
        let path = dir.path().join(LINK_KEY_FILE);
        assert_eq!(fs::metadata(&path).expect("the file").permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&path).expect("the file").len(), 32);
        let (loaded, source) = load_or_create(None, dir.path()).expect("the same key");
        assert_eq!(source, KeySource::File(path));
        assert_eq!(loaded.expose(), created.expose());
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).expect("the directory").count(), 1);
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::write(dir.path().join(LINK_KEY_FILE), [1u8; 31]).expect("a short file");
        assert!(matches!(load_or_create(None, dir.path()), Err(KeyError::WrongLength { len: 31, .. })));
        fs::write(dir.path().join(LINK_KEY_FILE), []).expect("an empty file");
        assert!(matches!(load_or_create(None, dir.path()), Err(KeyError::WrongLength { len: 0, .. })));
    }

    #[test]
    fn a_loose_key_file_is_still_used() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(LINK_KEY_FILE);
        fs::write(&path, [4u8; 32]).expect("a key file");
        fs::set_permissions(&path, Permissions::from_mode(0o644)).expect("chmod");
        let (key, _) = load_or_create(None, dir.path()).expect("the key, with a warning");
        assert_eq!(key.expose(), &[4u8; 32]);
    }

    #[test]
    fn the_environment_wins_and_must_hold_32_bytes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let text = URL_SAFE_NO_PAD.encode([5u8; 32]);
        let (key, source) = load_or_create(Some(&text), dir.path()).expect("the key from the environment");
        assert_eq!((key.expose(), source), (&[5u8; 32], KeySource::Environment));
        assert!(!dir.path().join(LINK_KEY_FILE).exists(), "no file is created");
        let padded = URL_SAFE.encode([5u8; 32]);
        assert!(load_or_create(Some(&padded), dir.path()).is_ok());
        for bad in [URL_SAFE_NO_PAD.encode([5u8; 31]), "not base64!".to_owned(), String::new()] {
            assert!(matches!(load_or_create(Some(&bad), dir.path()), Err(KeyError::BadEnvironment)), "{bad}");
        }
    }
}
