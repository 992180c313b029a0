//! scrypt password hasher. Being written.
