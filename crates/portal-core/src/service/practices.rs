//! Practices: creating one with its first staff key, and finding a practice by slug or by its
//! staff member. The keys' own use cases are in `staff`.

use crate::ports::{ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Practice, StaffMember};
use crate::token::BearerSecret;
use crate::types::{DisplayName, InvalidInput, PracticeId, PracticeSlug, StaffId, TimeZoneName};

use super::{Infrastructure, PortalService, STAFF_KEY_PREFIX, StaffContext};

/// Refusals of creating a practice or a staff key.
#[derive(Debug, thiserror::Error)]
pub enum PracticeError {
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The slug is taken.
    #[error("a practice with this slug already exists")]
    SlugTaken,
    /// No practice has this slug.
    #[error("no practice has this slug")]
    PracticeNotFound,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// A practice created with its first staff key (shown once).
#[derive(Debug)]
pub struct CreatedPractice {
    /// The practice.
    pub practice: Practice,
    /// The first staff member (key).
    pub staff: StaffMember,
    /// The key itself: show it once, it is not stored.
    pub staff_key: BearerSecret,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Creates a practice with a first staff key (CLI and first-run bootstrap).
    ///
    /// # Errors
    /// `Invalid` for a bad name or slug, `SlugTaken`, or infrastructure.
    pub async fn create_practice(
        &self,
        name: &str,
        slug: Option<&str>,
        time_zone: TimeZoneName,
    ) -> Result<CreatedPractice, PracticeError> {
        let now = self.clock.now();
        let name = DisplayName::parse("name", name)?;
        let slug = match slug {
            Some(slug) => PracticeSlug::parse(slug)?,
            None => PracticeSlug::from_name(name.as_str())?,
        };
        let practice = Practice {
            id: PracticeId::generate(&self.random)?,
            slug,
            name,
            time_zone,
            discreet_mail: true,
            created_at: now,
        };
        let staff = StaffMember {
            id: StaffId::generate(&self.random)?,
            practice_id: practice.id,
            label: DisplayName::parse("label", "First administrator key")?,
            created_at: now,
        };
        let staff_key = BearerSecret::generate(STAFF_KEY_PREFIX, &self.random)?;
        match self.store.create_practice(&practice, &staff, &staff_key.hash()).await {
            Err(StoreError::Duplicate(_)) => Err(PracticeError::SlugTaken),
            other => other.map_err(PracticeError::from),
        }?;
        Ok(CreatedPractice { practice, staff, staff_key })
    }

    /// The practice a staff member works for (its name and time zone, for staff pages that state
    /// times in the practice's zone).
    ///
    /// # Errors
    /// Infrastructure only; a practice that is gone (its key outlived it) is `Ok(None)`.
    pub async fn staff_practice(&self, staff: &StaffContext) -> Result<Option<Practice>, Infrastructure> {
        Ok(self.store.practice(staff.practice()).await?)
    }

    /// A practice by slug (for pages).
    ///
    /// # Errors
    /// Infrastructure only.
    pub async fn practice_by_slug(&self, slug: &str) -> Result<Option<Practice>, Infrastructure> {
        match PracticeSlug::parse(slug) {
            Ok(slug) => Ok(self.store.practice_by_slug(&slug).await?),
            Err(_) => Ok(None),
        }
    }
}
