//! The EHR's own database: a SQLite file apart from the portal's, with its `patients`, its
//! `staff_users` and the `staff_sessions` of its sign-in. The portal never reads these tables;
//! it asks the EHR through `ClientDirectory` and `StaffAuthenticator`.

use std::path::Path;
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ActiveModelTrait as _, ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbErr, EntityTrait as _,
    PaginatorTrait as _, Schema, Set,
};

/// `patients`: the EHR's records. The portal sees them only through the client directory.
pub mod patient {
    use sea_orm::entity::prelude::*;

    /// A patient.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "patients")]
    pub struct Model {
        /// The EHR's patient number; the portal's client id is its decimal text.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Full name.
        pub name: String,
        /// Email on file; NULL: none.
        pub email: Option<String>,
        /// Preferred language (`en`, `es`).
        pub preferred_language: String,
        /// Whether the patient agreed to be emailed.
        pub email_consent: bool,
        /// Date of birth (`YYYY-MM-DD`); NULL: unknown.
        pub date_of_birth: Option<String>,
        /// Creation time, Unix seconds.
        pub created_at: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `staff_users`: who may sign in to the EHR.
pub mod staff_user {
    use sea_orm::entity::prelude::*;

    /// A staff user.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_users")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Sign-in name (unique).
        #[sea_orm(unique)]
        pub username: String,
        /// scrypt PHC string.
        pub password_hash: String,
        /// Shown in the EHR and named as the actor in the portal's audit trail.
        pub display_name: String,
        /// The UUID the portal knows this user by (its `StaffId`).
        #[sea_orm(unique)]
        pub portal_staff_id: String,
        /// Creation time, Unix seconds.
        pub created_at: i64,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `staff_sessions`: signed-in staff. Only the SHA-256 of the cookie's token is stored.
pub mod staff_session {
    use sea_orm::entity::prelude::*;

    /// A session.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_sessions")]
    pub struct Model {
        /// SHA-256 of the session token.
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: Vec<u8>,
        /// The staff user.
        pub staff_user_id: i64,
        /// Sign-in time, Unix seconds.
        pub created_at: i64,
        /// End of the session, Unix seconds (`now >= expires_at`: signed out).
        pub expires_at: i64,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Opens (creating if needed) the EHR's SQLite file and creates its tables when missing.
///
/// # Errors
/// When the file cannot be opened or the tables cannot be created.
pub async fn open(path: &Path) -> Result<DatabaseConnection, DbErr> {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(4).map_sqlx_sqlite_opts(|sqlite| {
        sqlite.journal_mode(SqliteJournalMode::Wal).busy_timeout(Duration::from_secs(5)).foreign_keys(true)
    });
    let db = Database::connect(options).await?;
    create_tables(&db).await?;
    Ok(db)
}

/// The schema, from the entities (`CREATE TABLE IF NOT EXISTS`): small enough that the EHR
/// needs no migration framework of its own yet.
async fn create_tables(db: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = Schema::new(db.get_database_backend());
    db.execute(schema.create_table_from_entity(patient::Entity).if_not_exists()).await?;
    db.execute(schema.create_table_from_entity(staff_user::Entity).if_not_exists()).await?;
    db.execute(schema.create_table_from_entity(staff_session::Entity).if_not_exists()).await?;
    db.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS ix_staff_sessions_user ON staff_sessions (staff_user_id); \
         CREATE INDEX IF NOT EXISTS ix_patients_name ON patients (name)",
    )
    .await?;
    Ok(())
}

/// A patient as the seed writes it.
struct Seed {
    id: i64,
    name: &'static str,
    email: Option<&'static str>,
    language: &'static str,
    consent: bool,
    date_of_birth: Option<&'static str>,
}

/// The demo patients, written when the table is empty.
const PATIENTS: &[Seed] = &[
    Seed {
        id: 1001,
        name: "Ada Lovelace",
        email: Some("ada.lovelace@example.org"),
        language: "en",
        consent: true,
        date_of_birth: Some("1985-12-10"),
    },
    Seed {
        id: 1002,
        name: "Mateo García",
        email: Some("mateo.garcia@example.org"),
        language: "es",
        consent: true,
        date_of_birth: Some("1990-03-02"),
    },
    Seed { id: 1003, name: "Grace Hopper", email: None, language: "en", consent: false, date_of_birth: None },
];

/// Writes the demo patients on an empty table; returns how many were written.
///
/// # Errors
/// Database failures.
pub async fn seed_patients(db: &DatabaseConnection, now: i64) -> Result<usize, DbErr> {
    if patient::Entity::find().count(db).await? > 0 {
        return Ok(0);
    }
    for seed in PATIENTS {
        patient::ActiveModel {
            id: Set(seed.id),
            name: Set(seed.name.to_owned()),
            email: Set(seed.email.map(str::to_owned)),
            preferred_language: Set(seed.language.to_owned()),
            email_consent: Set(seed.consent),
            date_of_birth: Set(seed.date_of_birth.map(str::to_owned)),
            created_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    Ok(PATIENTS.len())
}

/// How many staff users exist (the first run creates one).
///
/// # Errors
/// Database failures.
pub async fn staff_count(db: &DatabaseConnection) -> Result<u64, DbErr> {
    staff_user::Entity::find().count(db).await
}
