//! The portal's link key (emailed links are derived from it), kept in a file of the data
//! directory that only the EHR's user may read, never in either database.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use portal_core::{LinkKey, OsRandom};

/// Reads the 32-byte key at `path`, or creates it (mode `0600`) on first run.
///
/// # Errors
/// When the file cannot be read or written, or does not hold exactly 32 bytes.
pub fn load_or_create(path: &Path) -> std::io::Result<LinkKey> {
    match std::fs::File::open(path) {
        Ok(mut file) => {
            let mut bytes = Vec::with_capacity(32);
            file.read_to_end(&mut bytes)?;
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "the link key file must hold exactly 32 bytes")
            })?;
            Ok(LinkKey::from_bytes(bytes))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = LinkKey::generate(&OsRandom).map_err(std::io::Error::other)?;
            // `create_new`: two starts racing never overwrite each other's key.
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
            file.write_all(key.expose())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(error) => Err(error),
    }
}
