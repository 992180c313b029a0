//! In-memory implementations of every port. Being written.
