//! The bodies of the second-factor API: what a client sends and receives (never a secret of a
//! stored factor; an enrolment's secret and recovery codes only in the answer that makes them).

use poem_openapi::{Enum, Object};
use portal_core::service::{FactorEnrolled, FactorView, FactorsView, SecondStep, SignedIn, TotpEnrolment};
use portal_core::{RecoveryCode, SecondFactorKind, SecondFactorPolicy};
use secrecy::ExposeSecret;

use crate::staff::rfc3339;
use crate::text::Text;

/// A kind of second factor.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "SecondFactorKind", rename_all = "snake_case")]
pub(crate) enum KindBody {
    /// A code of an authenticator app (TOTP).
    Totp,
    /// A passkey.
    Passkey,
    /// One of the single-use recovery codes.
    RecoveryCode,
}

impl KindBody {
    pub(crate) fn of(kind: SecondFactorKind) -> Self {
        match kind {
            SecondFactorKind::Totp => Self::Totp,
            SecondFactorKind::Passkey => Self::Passkey,
            SecondFactorKind::RecoveryCode => Self::RecoveryCode,
        }
    }
}

/// A practice's second-factor policy.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "SecondFactorPolicy", rename_all = "snake_case")]
pub(crate) enum PolicyBody {
    /// Nobody enrols; a factor enrolled before is still asked for.
    Off,
    /// Clients may enrol; nobody is forced (the default).
    Optional,
    /// Clients enrol one right after the password at their next sign-in.
    Required,
}

impl PolicyBody {
    pub(crate) fn of(policy: SecondFactorPolicy) -> Self {
        match policy {
            SecondFactorPolicy::Off => Self::Off,
            SecondFactorPolicy::Optional => Self::Optional,
            SecondFactorPolicy::Required => Self::Required,
        }
    }

    pub(crate) fn policy(self) -> SecondFactorPolicy {
        match self {
            Self::Off => SecondFactorPolicy::Off,
            Self::Optional => SecondFactorPolicy::Optional,
            Self::Required => SecondFactorPolicy::Required,
        }
    }
}

/// The answer to a right password when a second step must follow.
#[derive(Object)]
#[oai(rename = "SecondStep")]
pub(crate) struct SecondStepBody {
    /// The challenge for `POST /api/v1/portal/sessions/second-factor` (or, when
    /// `enrolment_required`, for enrolling): single use, five minutes. Keep it secret.
    challenge: String,
    /// When the challenge stops working (RFC 3339).
    expires_at: String,
    /// The kinds of factor the challenge accepts (or, when `enrolment_required`, that may be
    /// enrolled).
    factors: Vec<KindBody>,
    /// The practice requires a second factor and the account has none: enrol one
    /// (`POST /api/v1/portal/sessions/second-factor/totp`), which then opens the session.
    enrolment_required: bool,
}

impl SecondStepBody {
    pub(crate) fn of(step: &SecondStep) -> Self {
        Self {
            challenge: step.challenge.expose().expose_secret().to_owned(),
            expires_at: rfc3339(step.expires_at),
            factors: step.factors.iter().copied().map(KindBody::of).collect(),
            enrolment_required: step.enrolment_required,
        }
    }
}

/// A new session.
#[derive(Object)]
#[oai(rename = "SecondStepSession")]
pub(crate) struct SessionBody {
    /// The bearer token for `Authorization: Bearer …`. Shown once; keep it secret.
    token: String,
    /// When the session ends if unused (RFC 3339).
    expires_at: String,
}

impl SessionBody {
    pub(super) fn of(signed_in: &SignedIn) -> Self {
        Self { token: signed_in.token.expose().expose_secret().to_owned(), expires_at: rfc3339(signed_in.expires_at) }
    }
}

/// What answers the second step.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "SecondStepAnswerKind", rename_all = "snake_case")]
pub(crate) enum AnswerKind {
    /// A code of an authenticator app.
    Totp,
    /// One of the recovery codes.
    RecoveryCode,
    /// A passkey's answer.
    Passkey,
}

/// The second step of a sign-in.
#[derive(Object)]
#[oai(rename = "SecondStepAnswer")]
pub(crate) struct AnswerBody {
    /// The challenge from the sign-in's answer.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub(super) challenge: Text,
    /// What answers: `code` for `totp` and `recovery_code`, `ceremony` and `response` for
    /// `passkey`.
    pub(super) kind: AnswerKind,
    /// For `totp` and `recovery_code`: the six digits of the app, or a recovery code (dashes and
    /// case do not matter). Omit or `null` for `passkey`.
    #[oai(nullable, validator(min_length = 1, max_length = 64))]
    pub(super) code: Option<Text>,
    /// For `passkey`: the ceremony `POST /api/v1/portal/sessions/second-factor/passkey`
    /// started. Omit or `null` otherwise.
    #[oai(nullable, validator(min_length = 1, max_length = 256))]
    pub(super) ceremony: Option<Text>,
    /// For `passkey`: the browser's answer to `navigator.credentials.get()`, the
    /// `PublicKeyCredential` as JSON with its binary members in base64url. Omit or `null`
    /// otherwise.
    #[oai(nullable)]
    pub(super) response: Option<serde_json::Value>,
}

/// A challenge alone (starting an enrolment the practice requires).
#[derive(Object)]
#[oai(rename = "Challenge")]
pub(crate) struct ChallengeBody {
    /// The challenge from the sign-in's answer.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub(super) challenge: Text,
}

/// A started enrolment of an authenticator app: shown once.
#[derive(Object)]
#[oai(rename = "TotpEnrolment")]
pub(crate) struct EnrolmentBody {
    /// The pending factor, to confirm with a code.
    factor_id: String,
    /// The secret in base32, for typing into the app by hand.
    secret: String,
    /// The `otpauth://` URI the QR code carries.
    otpauth_url: String,
    /// The QR code of `otpauth_url` as an SVG document, drawn on the server.
    qr_svg: String,
    /// When the enrolment lapses unconfirmed (RFC 3339).
    expires_at: String,
}

/// The QR code of an `otpauth://` URI as SVG markup (without the XML declaration, so it can
/// stand inline in a page). `None` only for a URI too long for any QR code.
pub(crate) fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
    Some(svg.split_once("?>").map_or(svg.clone(), |(_, rest)| rest.to_owned()))
}

impl EnrolmentBody {
    pub(super) fn of(enrolment: &TotpEnrolment) -> Self {
        let url = enrolment.otpauth_url.expose_secret();
        Self {
            factor_id: enrolment.factor_id.to_string(),
            secret: enrolment.secret.expose_secret().to_owned(),
            otpauth_url: url.to_owned(),
            qr_svg: qr_svg(url).unwrap_or_default(),
            expires_at: rfc3339(enrolment.expires_at),
        }
    }
}

/// Confirming an enrolment with a code of the app.
#[derive(Object)]
#[oai(rename = "TotpConfirmation")]
pub(crate) struct ConfirmBody {
    /// The pending factor.
    #[oai(validator(max_length = 64))]
    pub(super) factor_id: Text,
    /// The six digits the app shows now.
    #[oai(validator(min_length = 1, max_length = 16))]
    pub(super) code: Text,
    /// A name for it ("Phone"); "Authenticator app" when left out or `null`.
    #[oai(nullable, validator(max_length = 100))]
    pub(super) name: Option<Text>,
}

/// Confirming the enrolment a practice requires, with the challenge.
#[derive(Object)]
#[oai(rename = "ChallengeTotpConfirmation")]
pub(crate) struct ChallengeConfirmBody {
    /// The challenge from the sign-in's answer.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub(super) challenge: Text,
    /// The pending factor.
    #[oai(validator(max_length = 64))]
    pub(super) factor_id: Text,
    /// The six digits the app shows now.
    #[oai(validator(min_length = 1, max_length = 16))]
    pub(super) code: Text,
    /// A name for it; "Authenticator app" when left out or `null`.
    #[oai(nullable, validator(max_length = 100))]
    pub(super) name: Option<Text>,
}

/// A second factor: never its secret.
#[derive(Object, Debug, Clone)]
#[oai(rename = "SecondFactor")]
pub(crate) struct FactorBody {
    /// Id.
    id: String,
    /// Kind.
    kind: KindBody,
    /// The client's name for it.
    name: String,
    /// When it was set up (RFC 3339).
    created_at: String,
    /// When a code of it was last accepted (RFC 3339).
    last_used_at: Option<String>,
}

impl FactorBody {
    pub(crate) fn of(factor: &FactorView) -> Self {
        Self {
            id: factor.id.to_string(),
            kind: KindBody::of(factor.kind),
            name: factor.name.as_str().to_owned(),
            created_at: rfc3339(factor.created_at),
            last_used_at: factor.last_used_at.map(rfc3339),
        }
    }
}

/// A client's second factors.
#[derive(Object, Debug, Clone)]
#[oai(rename = "SecondFactors")]
pub(crate) struct FactorsBody {
    /// The practice's policy.
    policy: PolicyBody,
    /// The factors set up, oldest first.
    factors: Vec<FactorBody>,
    /// How many recovery codes are unused.
    recovery_codes_left: u32,
}

impl FactorsBody {
    pub(crate) fn of(view: &FactorsView) -> Self {
        Self {
            policy: PolicyBody::of(view.policy),
            factors: view.factors.iter().map(FactorBody::of).collect(),
            recovery_codes_left: view.recovery_codes_left,
        }
    }
}

pub(super) fn codes(codes: &[RecoveryCode]) -> Vec<String> {
    codes.iter().map(|code| code.expose().to_owned()).collect()
}

/// A confirmed enrolment.
#[derive(Object)]
#[oai(rename = "FactorEnrolled")]
pub(crate) struct EnrolledBody {
    /// The factor.
    factor: FactorBody,
    /// Ten recovery codes when this was the first factor: shown once, each works once.
    recovery_codes: Option<Vec<String>>,
}

impl EnrolledBody {
    pub(super) fn of(enrolled: &FactorEnrolled) -> Self {
        Self { factor: FactorBody::of(&enrolled.factor), recovery_codes: enrolled.recovery_codes.as_deref().map(codes) }
    }
}

/// The session and the factor a required enrolment ended with.
#[derive(Object)]
#[oai(rename = "EnrolledSession")]
pub(crate) struct EnrolledSessionBody {
    /// The new session.
    pub(super) session: SessionBody,
    /// The enrolled factor and its recovery codes.
    pub(super) enrolled: EnrolledBody,
}

/// New recovery codes.
#[derive(Object)]
#[oai(rename = "RecoveryCodes")]
pub(crate) struct RecoveryCodesBody {
    /// Ten codes, shown once, each works once; the old ones no longer work.
    pub(super) recovery_codes: Vec<String>,
}
