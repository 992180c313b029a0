//! webauthn-rs's refusals as portal-core's [`PasskeyError`]: a handful of causes a caller acts
//! on differently, the rest one [`PasskeyError::Rejected`].

use portal_core::PasskeyError;
use webauthn_rs::prelude::WebauthnError;

/// The port's error for a ceremony webauthn-rs refused. Its text is not kept: it names only
/// the failed check, which the variant already says, and the port's errors carry no source
/// that could grow to include the answer.
pub(crate) fn refusal(error: WebauthnError) -> PasskeyError {
    match error {
        WebauthnError::ParseBase64Failure(_)
        | WebauthnError::ParseCBORFailure(_)
        | WebauthnError::ParseJSONFailure(_)
        | WebauthnError::ParseNOMFailure
        | WebauthnError::ParseInsufficientBytesAvailable
        | WebauthnError::InvalidClientDataType
        | WebauthnError::MissingAttestationCredentialData => PasskeyError::Malformed,
        WebauthnError::MismatchedChallenge | WebauthnError::ChallengeNotFound => PasskeyError::ChallengeMismatch,
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash | WebauthnError::CredentialCrossOrigin => {
            PasskeyError::WrongSite
        }
        WebauthnError::CredentialNotFound => PasskeyError::CredentialNotAllowed,
        WebauthnError::InvalidUserUniqueId => PasskeyError::UserHandleMismatch,
        WebauthnError::UserNotPresent | WebauthnError::UserNotVerified => PasskeyError::UserNotVerified,
        WebauthnError::CredentialPossibleCompromise => PasskeyError::PossiblyCloned,
        _ => PasskeyError::Rejected,
    }
}
