//! The client-directory seam over the EHR's `patients`: the portal reads a patient's name,
//! email, language, consent and date of birth from here when staff act, when a link is opened
//! and when a mail is sent, and keeps no copy of them.

use async_trait::async_trait;
use jiff::Timestamp;
use portal_core::{
    Client, ClientDirectory, ClientId, DateOfBirth, DisplayName, EmailAddress, Language, PracticeId, StoreError,
};
use sea_orm::{ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _};

use crate::db::patient;

/// The EHR's patients as the portal's [`ClientDirectory`]. The EHR is one practice, so a
/// request for another practice finds nobody. Client ids are the patient numbers as decimal
/// text (`"1001"`); any other id is simply not a patient.
#[derive(Clone)]
pub struct PatientDirectory {
    db: DatabaseConnection,
    practice: PracticeId,
}

impl PatientDirectory {
    /// Over the EHR's database, for the portal practice that stands for this EHR.
    #[must_use]
    pub fn new(db: DatabaseConnection, practice: PracticeId) -> Self {
        Self { db, practice }
    }
}

/// The patient number a client id names, if any. `"0012"` is not `12`: ids round-trip exactly,
/// so the portal never knows one patient under two ids.
fn patient_number(id: &ClientId) -> Option<i64> {
    let number: i64 = id.as_str().parse().ok()?;
    (number.to_string() == id.as_str()).then_some(number)
}

/// A patient row as the portal's `Client`. A row the portal cannot use (a malformed email, a
/// language without templates) is reported as corrupt rather than silently changed.
fn to_client(row: patient::Model, practice: PracticeId) -> Result<Client, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("patient {}: {what}", row.id));
    let id = ClientId::parse(&row.id.to_string()).map_err(|_| corrupt("id"))?;
    let name = DisplayName::parse("name", &row.name).map_err(|_| corrupt("name"))?;
    let email = row.email.as_deref().map(EmailAddress::parse).transpose().map_err(|_| corrupt("email"))?;
    let language = Language::parse(&row.preferred_language).map_err(|_| corrupt("preferred language"))?;
    let created_at = Timestamp::from_second(row.created_at).map_err(|_| corrupt("created_at"))?;
    // The EHR's record is the authority on the date; the portal asks for it on emailed links
    // when the practice has the check on.
    let date_of_birth = row
        .date_of_birth
        .as_deref()
        .map(|text| text.parse::<jiff::civil::Date>().map(DateOfBirth::restore))
        .transpose()
        .map_err(|_| corrupt("date of birth"))?;
    Ok(Client {
        id,
        practice_id: practice,
        name,
        email,
        language,
        email_consent: row.email_consent,
        date_of_birth,
        created_at,
    })
}

fn unavailable(error: sea_orm::DbErr) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

#[async_trait]
impl ClientDirectory for PatientDirectory {
    async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let Some(number) = patient_number(id).filter(|_| practice == self.practice) else {
            return Ok(None);
        };
        let row = patient::Entity::find_by_id(number).one(&self.db).await.map_err(unavailable)?;
        row.map(|row| to_client(row, practice)).transpose()
    }

    async fn clients(&self, practice: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        if practice != self.practice {
            return Ok(Vec::new());
        }
        let numbers: Vec<i64> = ids.iter().filter_map(patient_number).collect();
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let rows = patient::Entity::find()
            .filter(patient::Column::Id.is_in(numbers))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|row| to_client(row, practice)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_decimal_ids_name_a_patient() {
        let number = |text: &str| ClientId::parse(text).ok().and_then(|id| patient_number(&id));
        assert_eq!(number("1001"), Some(1001));
        assert_eq!(number("01001"), None);
        assert_eq!(number("abc"), None);
        assert_eq!(number("+5"), None);
        assert_eq!(number("99999999999999999999"), None);
    }

    #[test]
    fn a_patients_date_of_birth_reaches_the_portal_and_a_malformed_one_is_corrupt() {
        let practice = PracticeId::from_uuid(sea_orm::prelude::Uuid::from_u128(1));
        let row = |date_of_birth: Option<&str>| patient::Model {
            id: 1001,
            name: "Ada Lovelace".into(),
            email: Some("ada@example.org".into()),
            preferred_language: "en".into(),
            email_consent: true,
            date_of_birth: date_of_birth.map(str::to_owned),
            created_at: 1_800_000_000,
        };
        let client = to_client(row(Some("1985-12-10")), practice).unwrap();
        assert_eq!(client.date_of_birth.map(|date| date.to_iso()).as_deref(), Some("1985-12-10"));
        assert_eq!(to_client(row(None), practice).unwrap().date_of_birth, None);
        assert!(matches!(to_client(row(Some("10/12/1985")), practice), Err(StoreError::Corrupt(_))));
    }
}
