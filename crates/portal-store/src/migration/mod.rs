//! Schema migrations (sea-orm-migration). [`Migrator`] lists them in order; the store runs
//! pending ones on connect, and [`crate::migrate`] / [`crate::rollback`] run them on demand.

use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261201_000001_mail_delivery_cause;
mod m20261201_000002_host_client_ids;
mod m20261201_000003_staff_access;
mod m20261201_000004_retention_indexes;
mod m20261201_000005_client_search;
mod m20261201_000006_practice_settings;
mod m20261201_000007_client_date_of_birth;
mod m20261201_000008_link_date_of_birth_failures;
mod m20261201_000009_invitation_reminders;
mod m20261201_000010_reset_requests;
mod m20261201_000011_second_factors;
mod m20261201_000012_passkeys;

/// Every migration of the portal schema, oldest first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration),
            Box::new(m20261201_000001_mail_delivery_cause::Migration),
            Box::new(m20261201_000002_host_client_ids::Migration),
            Box::new(m20261201_000003_staff_access::Migration),
            Box::new(m20261201_000004_retention_indexes::Migration),
            Box::new(m20261201_000005_client_search::Migration),
            Box::new(m20261201_000006_practice_settings::Migration),
            Box::new(m20261201_000007_client_date_of_birth::Migration),
            Box::new(m20261201_000008_link_date_of_birth_failures::Migration),
            Box::new(m20261201_000009_invitation_reminders::Migration),
            Box::new(m20261201_000010_reset_requests::Migration),
            Box::new(m20261201_000011_second_factors::Migration),
            Box::new(m20261201_000012_passkeys::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "portal_migrations".into_iden()
    }
}
