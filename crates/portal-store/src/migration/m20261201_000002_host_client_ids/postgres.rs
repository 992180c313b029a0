//! PostgreSQL: the change in place, with `ALTER TABLE` (DDL is transactional, so a failure
//! leaves nothing half done).

/// The tables whose `client_id` changes type (and loses its foreign key to `clients`).
const REFERRING: [&str; 5] = ["tokens", "portal_accounts", "sessions", "mail_outbox", "audit_events"];

/// The tables that gain a foreign key to `practices` (their only link to a practice was the
/// composite key to `clients`; `audit_events` has one already).
const GAIN_PRACTICE_FK: [&str; 4] = ["tokens", "portal_accounts", "sessions", "mail_outbox"];

pub(super) fn up() -> Vec<String> {
    let mut sql = Vec::new();
    for table in REFERRING {
        sql.push(format!("ALTER TABLE {table} DROP CONSTRAINT fk_{table}_client"));
    }
    sql.extend(
        [
            "ALTER TABLE clients DROP CONSTRAINT clients_pkey",
            "DROP INDEX ux_clients_practice_id",
            "ALTER TABLE clients ALTER COLUMN id TYPE varchar(128) USING id::text",
            "ALTER TABLE clients ADD CONSTRAINT clients_pkey PRIMARY KEY (practice_id, id)",
            "ALTER TABLE portal_accounts DROP CONSTRAINT portal_accounts_pkey",
        ]
        .map(str::to_owned),
    );
    for table in REFERRING {
        sql.push(format!("ALTER TABLE {table} ALTER COLUMN client_id TYPE varchar(128) USING client_id::text"));
    }
    for table in GAIN_PRACTICE_FK {
        sql.push(format!(
            "ALTER TABLE {table} ADD CONSTRAINT fk_{table}_practice FOREIGN KEY (practice_id) REFERENCES practices (id)"
        ));
    }
    sql.extend(
        [
            "ALTER TABLE portal_accounts ADD CONSTRAINT portal_accounts_pkey PRIMARY KEY (practice_id, client_id)",
            "ALTER TABLE mail_outbox DROP COLUMN recipient_name, DROP COLUMN language",
            "DROP INDEX ix_tokens_client_purpose",
            "CREATE INDEX ix_tokens_client_purpose ON tokens (practice_id, client_id, purpose)",
            "DROP INDEX ix_sessions_client",
            "CREATE INDEX ix_sessions_client ON sessions (practice_id, client_id)",
            "CREATE INDEX ix_mail_outbox_client ON mail_outbox (practice_id, client_id, status)",
            "DROP INDEX ix_audit_events_trail",
            "CREATE INDEX ix_audit_events_trail ON audit_events (practice_id, client_id, at, seq)",
        ]
        .map(str::to_owned),
    );
    sql
}

/// The reverse of [`up`]; the caller has checked that the data fits (`check_reversible`).
pub(super) fn down() -> Vec<String> {
    let mut sql: Vec<String> = [
        "DROP INDEX ix_audit_events_trail",
        "CREATE INDEX ix_audit_events_trail ON audit_events (practice_id, client_id, at)",
        "DROP INDEX ix_mail_outbox_client",
        "DROP INDEX ix_sessions_client",
        "CREATE INDEX ix_sessions_client ON sessions (client_id)",
        "DROP INDEX ix_tokens_client_purpose",
        "CREATE INDEX ix_tokens_client_purpose ON tokens (client_id, purpose)",
        // The old outbox rendered from its own copy of the name (pending rows only: delivered
        // ones were purged) and the language.
        "ALTER TABLE mail_outbox ADD COLUMN recipient_name text NULL, \
         ADD COLUMN language varchar NOT NULL DEFAULT 'en' \
         CONSTRAINT mail_outbox_language_check CHECK (language IN ('en', 'es'))",
        "UPDATE mail_outbox AS m SET language = c.language, \
         recipient_name = CASE WHEN m.status = 'pending' THEN c.name END \
         FROM clients AS c WHERE c.practice_id = m.practice_id AND c.id = m.client_id",
        "ALTER TABLE mail_outbox ALTER COLUMN language DROP DEFAULT",
        "ALTER TABLE portal_accounts DROP CONSTRAINT portal_accounts_pkey",
        "ALTER TABLE clients DROP CONSTRAINT clients_pkey",
        "ALTER TABLE clients ALTER COLUMN id TYPE uuid USING id::uuid",
        "ALTER TABLE clients ADD CONSTRAINT clients_pkey PRIMARY KEY (id)",
        "CREATE UNIQUE INDEX ux_clients_practice_id ON clients (practice_id, id)",
    ]
    .map(str::to_owned)
    .into();
    for table in GAIN_PRACTICE_FK {
        sql.push(format!("ALTER TABLE {table} DROP CONSTRAINT fk_{table}_practice"));
    }
    for table in REFERRING {
        sql.push(format!("ALTER TABLE {table} ALTER COLUMN client_id TYPE uuid USING client_id::uuid"));
    }
    sql.push("ALTER TABLE portal_accounts ADD CONSTRAINT portal_accounts_pkey PRIMARY KEY (client_id)".to_owned());
    for table in REFERRING {
        sql.push(format!(
            "ALTER TABLE {table} ADD CONSTRAINT fk_{table}_client FOREIGN KEY (practice_id, client_id) \
             REFERENCES clients (practice_id, id)"
        ));
    }
    sql
}
