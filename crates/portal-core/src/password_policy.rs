//! Password rules (NIST SP 800-63B-4). Placeholder API while the full module is written on its
//! branch; replaced on merge.
#![allow(missing_docs, clippy::missing_errors_doc)]

use crate::policy::PasswordRules;
use crate::types::{Password, Username};

pub struct PasswordContext<'a> {
    pub username: Option<&'a Username>,
    pub practice_name: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("use at least {min} characters")]
    TooShort { min: usize },
}

impl PasswordProblem {
    pub const fn code(&self) -> &'static str {
        "too_short"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("weak password")]
pub struct WeakPassword(pub Vec<PasswordProblem>);

pub fn check_password(
    password: &Password,
    rules: &PasswordRules,
    _context: &PasswordContext<'_>,
) -> Result<(), WeakPassword> {
    if password.char_count() < rules.min_chars {
        return Err(WeakPassword(vec![PasswordProblem::TooShort { min: rules.min_chars }]));
    }
    Ok(())
}
