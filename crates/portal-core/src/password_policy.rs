//! Password rules (NIST SP 800-63B-4). Being written; see the helper's report.
