//! The EHR's own staff sign-in and the staff-identity seam over it.
//!
//! Staff sign in with a username and password (scrypt PHC in `staff_users`). A sign-in opens a
//! server-side session: the `ehr_session` cookie holds a random 256-bit token, the database only
//! its SHA-256, and the session ends at sign-out or after a fixed lifetime. The portal asks
//! [`EhrStaffAuth`] who a request is, on its staff API and on its staff pages alike.

use async_trait::async_trait;
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use poem::Request;
use poem::http::header::COOKIE;
use portal_core::{
    DisplayName, HashError, Password, PasswordHash, PasswordHasher, PracticeId, Randomness, StaffId, StaffMember,
    Verification,
};
use portal_http::{AuthError, StaffAuthenticator, StaffSurface};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseConnection, EntityTrait as _, IntoActiveModel as _,
    QueryFilter as _, Set,
};
use sha2::{Digest as _, Sha256};

use crate::EhrError;
use crate::db::{staff_session, staff_user};

/// The EHR's session cookie.
pub const SESSION_COOKIE: &str = "ehr_session";

/// The signed-in staff user behind a session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The EHR's own row.
    pub user: staff_user::Model,
    /// The same person as the portal knows them: its `StaffId` and the EHR's practice.
    pub member: StaffMember,
}

/// Staff users and their sessions in the EHR's database.
#[derive(Clone)]
pub struct StaffSessions {
    db: DatabaseConnection,
    practice: PracticeId,
    lifetime: SignedDuration,
}

/// The SHA-256 of a session token, as stored.
fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Sign-in names are compared without case or surrounding blanks.
fn normalise(username: &str) -> String {
    username.trim().to_lowercase()
}

impl StaffSessions {
    /// Sessions in `db`, for the portal practice `practice`, each lasting `lifetime`.
    #[must_use]
    pub fn new(db: DatabaseConnection, practice: PracticeId, lifetime: SignedDuration) -> Self {
        Self { db, practice, lifetime }
    }

    /// How long a session lasts.
    #[must_use]
    pub fn lifetime(&self) -> SignedDuration {
        self.lifetime
    }

    /// Adds a staff user with a fresh portal staff id.
    ///
    /// # Errors
    /// Hashing, randomness or database failures (a taken username is a database error).
    pub async fn create_user(
        &self,
        hasher: &dyn PasswordHasher,
        random: &dyn Randomness,
        username: &str,
        password: &str,
        display_name: &str,
    ) -> Result<(), EhrError> {
        let hash = hasher.hash(&Password::new(password)).await?;
        staff_user::ActiveModel {
            username: Set(normalise(username)),
            password_hash: Set(hash.as_phc().to_owned()),
            display_name: Set(display_name.to_owned()),
            portal_staff_id: Set(StaffId::generate(random)?.to_string()),
            created_at: Set(Timestamp::now().as_second()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Checks a username and password and opens a session; `Ok(None)` when they do not match.
    /// An unknown username costs the same hashing work as a wrong password, and the bounded
    /// hashing pool caps the work a flood can cause; a production EHR would also throttle
    /// repeated failures per account and per address, as the portal does for its clients.
    /// Returns the session token for the cookie (never stored).
    ///
    /// # Errors
    /// [`EhrError::Hashing`] with [`HashError::Saturated`] when the hashing pool is full; other
    /// hashing, randomness or database failures.
    pub async fn sign_in(
        &self,
        hasher: &dyn PasswordHasher,
        random: &dyn Randomness,
        username: &str,
        password: &str,
    ) -> Result<Option<String>, EhrError> {
        let password = Password::new(password);
        let found = staff_user::Entity::find()
            .filter(staff_user::Column::Username.eq(normalise(username)))
            .one(&self.db)
            .await?;
        let Some(user) = found else {
            hasher.verify_dummy(&password).await?;
            return Ok(None);
        };
        match hasher.verify(&password, &PasswordHash::from_phc(user.password_hash.clone())).await? {
            Verification::Mismatch => return Ok(None),
            Verification::Match { needs_upgrade: true } => {
                let upgraded = hasher.hash(&password).await?;
                let mut row = user.clone().into_active_model();
                row.password_hash = Set(upgraded.as_phc().to_owned());
                row.update(&self.db).await?;
            }
            Verification::Match { needs_upgrade: false } => {}
        }
        let now = Timestamp::now();
        // Sweep ended sessions while we are here: the table stays the size of who is signed in.
        staff_session::Entity::delete_many()
            .filter(staff_session::Column::ExpiresAt.lte(now.as_second()))
            .exec(&self.db)
            .await?;
        let mut secret = [0u8; 32];
        random.fill(&mut secret)?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let expires_at = now.saturating_add(self.lifetime).map_err(|_| EhrError::Corrupt("session lifetime".into()))?;
        staff_session::ActiveModel {
            token_hash: Set(token_hash(&token)),
            staff_user_id: Set(user.id),
            created_at: Set(now.as_second()),
            expires_at: Set(expires_at.as_second()),
        }
        .insert(&self.db)
        .await?;
        Ok(Some(token))
    }

    /// The staff user a session token belongs to, while the session lasts.
    ///
    /// # Errors
    /// Database failures, or a stored staff row the portal cannot use.
    pub async fn signed_in(&self, token: &str) -> Result<Option<SignedIn>, EhrError> {
        let Some(session) = staff_session::Entity::find_by_id(token_hash(token)).one(&self.db).await? else {
            return Ok(None);
        };
        if Timestamp::now().as_second() >= session.expires_at {
            return Ok(None);
        }
        let Some(user) = staff_user::Entity::find_by_id(session.staff_user_id).one(&self.db).await? else {
            return Ok(None);
        };
        let corrupt = |what: &str| EhrError::Corrupt(format!("staff user {}: {what}", user.id));
        let member = StaffMember {
            id: StaffId::parse(&user.portal_staff_id).map_err(|_| corrupt("portal staff id"))?,
            practice_id: self.practice,
            label: DisplayName::parse("label", &user.display_name).map_err(|_| corrupt("display name"))?,
            created_at: Timestamp::from_second(user.created_at).map_err(|_| corrupt("created_at"))?,
        };
        Ok(Some(SignedIn { user, member }))
    }

    /// Ends a session (nothing happens for an unknown token).
    ///
    /// # Errors
    /// Database failures.
    pub async fn sign_out(&self, token: &str) -> Result<(), EhrError> {
        staff_session::Entity::delete_by_id(token_hash(token)).exec(&self.db).await?;
        Ok(())
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
#[must_use]
pub fn read_cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value that stores `token`, or (for `None`) removes the cookie.
///
/// `HttpOnly`: no script reads it. `SameSite=Strict`: the browser sends it only on requests
/// that start on the EHR's own site, which is what makes the cookie safe to accept on the
/// portal's staff **API** without a CSRF token: a form or `fetch` on another site that targets
/// `/client-portal/api/v1/…` arrives without the cookie and is answered 401 (and without CORS
/// headers, a cross-site script cannot read any answer). Same-site is wider than same-origin,
/// so the EHR must not share its registrable domain with sites it does not control. The
/// portal's staff pages add their own double-submit CSRF token on top. `Secure` whenever the
/// EHR is served over HTTPS.
#[must_use]
pub fn session_cookie(token: Option<&str>, lifetime: SignedDuration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            lifetime.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The staff-identity seam: a request's `ehr_session` cookie names the staff member, on the
/// portal's staff API and pages alike (the EHR has one sign-in for both).
pub struct EhrStaffAuth {
    sessions: StaffSessions,
}

impl EhrStaffAuth {
    /// Over the EHR's sessions.
    #[must_use]
    pub fn new(sessions: StaffSessions) -> Self {
        Self { sessions }
    }
}

#[async_trait]
impl StaffAuthenticator for EhrStaffAuth {
    async fn authenticate(&self, req: &Request, _surface: StaffSurface) -> Result<Option<StaffMember>, AuthError> {
        let Some(token) = read_cookie(req, SESSION_COOKIE) else { return Ok(None) };
        match self.sessions.signed_in(&token).await {
            Ok(signed_in) => Ok(signed_in.map(|signed_in| signed_in.member)),
            Err(error) => Err(AuthError::Host(Box::new(error))),
        }
    }
}

/// True when the error is the hashing pool being full (answer "busy, retry").
#[must_use]
pub fn is_busy(error: &EhrError) -> bool {
    matches!(error, EhrError::Hashing(HashError::Saturated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_read_among_others_and_written_strict_and_http_only() {
        let req = Request::builder().header(COOKIE, "a=1; ehr_session=tok_en; b=2").finish();
        assert_eq!(read_cookie(&req, SESSION_COOKIE).as_deref(), Some("tok_en"));
        assert_eq!(read_cookie(&Request::builder().header(COOKIE, "ehr_session=").finish(), SESSION_COOKIE), None);
        let cookie = session_cookie(Some("t"), SignedDuration::from_hours(8), true);
        assert_eq!(cookie, "ehr_session=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure");
        assert!(session_cookie(None, SignedDuration::from_hours(8), false).contains("Max-Age=0"));
    }

    #[test]
    fn sessions_are_stored_as_a_sha256_of_the_token() {
        assert_eq!(token_hash("abc").len(), 32);
        assert_ne!(token_hash("abc"), b"abc".to_vec());
    }
}
