//! First run: on an empty database, create a practice and tell the person who started the
//! server, once, how to use it.

use std::fmt::Write as _;

use portal_core::service::{CreatedPractice, PracticeError};
use portal_core::{Directory as _, DynPortalService, PracticeSlug, TimeZoneName};
use secrecy::ExposeSecret as _;

use crate::cli::MailSettings;

/// The slug used when the first practice's name yields none (e.g. a name without Latin letters).
pub const FALLBACK_SLUG: &str = "practice";

/// Why the first practice could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the first practice")]
pub struct BootstrapError(#[source] pub PracticeError);

/// Creates the first practice (named `name`, in `time_zone`) when the database holds none. Returns the
/// practice and its staff key, which exist nowhere else: show them once.
///
/// Two servers starting at once on an empty PostgreSQL database race on the slug; the loser
/// finds it taken and returns `None`, so exactly one of them prints a key.
///
/// # Errors
/// [`BootstrapError`] when the store fails or the name is not a valid practice name.
pub async fn first_practice(
    service: &DynPortalService,
    name: &str,
    time_zone: TimeZoneName,
) -> Result<Option<CreatedPractice>, BootstrapError> {
    let count = service.store().practice_count().await.map_err(|error| BootstrapError(error.into()))?;
    if count > 0 {
        return Ok(None);
    }
    let slug = PracticeSlug::from_name(name).map_or_else(|_| FALLBACK_SLUG.to_owned(), |slug| slug.as_str().to_owned());
    match service.create_practice(name, Some(&slug), time_zone).await {
        Ok(created) => Ok(Some(created)),
        Err(PracticeError::SlugTaken) => Ok(None),
        Err(error) => Err(BootstrapError(error)),
    }
}

/// Where mail goes, in words for people.
#[must_use]
pub fn mail_destination(mail: &MailSettings) -> String {
    match mail {
        MailSettings::Files(dir) => {
            format!("written as .eml files to {}/", dir.display().to_string().trim_end_matches('/'))
        }
        MailSettings::Smtp(config) => format!("sent through the SMTP relay {}:{}", config.host, config.port),
    }
}

/// The text printed to stdout once, when the first practice was created: its staff key, the
/// URLs to open, where mail goes and a curl line to paste.
#[must_use]
pub fn first_run_message(created: &CreatedPractice, public_url: &str, mail: &MailSettings) -> String {
    let base = public_url.trim_end_matches('/');
    let key = created.staff_key.expose().expose_secret();
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "\n\
         portal is running. A first practice was created:\n\
         \n\
         \x20 practice     {name} (slug: {slug})\n\
         \x20 time zone    {zone} (times in mail and on staff pages)\n\
         \x20 staff key    {key}\n\
         \n\
         \x20 The staff key is shown only this once and is not stored anywhere; keep it safe.\n\
         \x20 More keys: portal-server staff-key create --practice {slug} --label \"Front desk\"\n\
         \n\
         \x20 staff pages  {base}/staff  (sign in with the staff key)\n\
         \x20 client login {base}/portal/{slug}/sign-in\n\
         \x20 API          {base}/api/v1\n\
         \x20 API docs     {base}/docs\n\
         \x20 OpenAPI      {base}/openapi.json\n\
         \x20 mail         {mail}\n\
         \n\
         Try it: create a client\n\
         \n\
         \x20 curl -s -X POST {base}/api/v1/clients \\\n\
         \x20   -H 'Authorization: Bearer {key}' \\\n\
         \x20   -H 'Content-Type: application/json' \\\n\
         \x20   -d '{{\"name\": \"Ada Lovelace\", \"email\": \"ada@example.org\"}}'\n\
         \n\
         then send the invitation with POST {base}/api/v1/clients/{{id}}/portal/invitation\n\
         (the README walks through the rest).\n\n",
        name = created.practice.name,
        slug = created.practice.slug,
        zone = created.practice.time_zone.as_str(),
        mail = mail_destination(mail),
    );
    text
}
