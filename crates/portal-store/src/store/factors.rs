//! [`FactorStore`]: second factors (TOTP and passkeys), recovery codes, second-step challenges
//! and passkey ceremonies, with their rows. Each single use (a TOTP step, a recovery code, a
//! challenge, a ceremony) is one compare-and-set statement or one write transaction, so of two
//! concurrent uses exactly one wins on SQLite and PostgreSQL alike.

use async_trait::async_trait;
use jiff::Timestamp;
use portal_core::{
    AuditEvent, CeremonyPurpose, ChallengePurpose, ClientId, DisplayName, FactorChallenge, FactorCommit, FactorId,
    FactorSecret, FactorStore, OutgoingMail, PasskeyCeremony, PasskeyCredentialId, PasskeyUserHandle, PracticeId,
    SealedSecret, SecondFactor, SecondFactorKind, StoreError, StoredPasskey, TokenHash,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use super::{SeaOrmStore, audit, finish};
use crate::convert::{client_id, hash_bytes, micros, outbox_row, token_hash};
use crate::entity::{factor_challenge, mail_outbox, passkey_ceremony, recovery_code, second_factor};
use crate::error::{corrupt, unavailable, write_error};

fn step_value(step: u64) -> Result<i64, StoreError> {
    i64::try_from(step).map_err(|_| corrupt("second_factors.last_used_step", "step out of range"))
}

const PASSKEY: &str = SecondFactorKind::Passkey.name();

fn factor_row(factor: &SecondFactor) -> Result<second_factor::ActiveModel, StoreError> {
    let mut row = second_factor::ActiveModel {
        id: Set(factor.id.as_uuid()),
        practice_id: Set(factor.practice_id.as_uuid()),
        client_id: Set(factor.client_id.as_str().to_owned()),
        kind: Set(factor.kind().name().to_owned()),
        name: Set(factor.name.as_str().to_owned()),
        secret: Set(None),
        last_used_step: Set(None),
        created_at: Set(micros(factor.created_at)),
        confirmed_at: Set(factor.confirmed_at.map(micros)),
        last_used_at: Set(factor.last_used_at.map(micros)),
        credential_id: Set(None),
        user_handle: Set(None),
        passkey: Set(None),
    };
    match &factor.secret {
        FactorSecret::Totp { sealed, last_step } => {
            row.secret = Set(Some(sealed.as_bytes().to_vec()));
            row.last_used_step = Set(last_step.map(step_value).transpose()?);
        }
        FactorSecret::Passkey { credential_id, user_handle, passkey } => {
            row.credential_id = Set(Some(credential_id.as_bytes().to_vec()));
            row.user_handle = Set(Some(user_handle.as_bytes().to_vec()));
            row.passkey = Set(Some(passkey.as_json().to_owned()));
        }
    }
    Ok(row)
}

fn user_handle(column: &str, bytes: &[u8]) -> Result<PasskeyUserHandle, StoreError> {
    PasskeyUserHandle::from_slice(bytes).ok_or_else(|| {
        corrupt(column, format!("expected a {}-byte user handle, found {} bytes", PasskeyUserHandle::LEN, bytes.len()))
    })
}

fn factor_from(row: second_factor::Model) -> Result<SecondFactor, StoreError> {
    let secret = match row.kind.as_str() {
        "totp" => FactorSecret::Totp {
            sealed: SealedSecret::from_bytes(row.secret.ok_or_else(|| corrupt("second_factors.secret", "missing"))?),
            last_step: row
                .last_used_step
                .map(|step| u64::try_from(step).map_err(|_| corrupt("second_factors.last_used_step", step)))
                .transpose()?,
        },
        PASSKEY => {
            let missing = |column: &str| corrupt(column, "missing for a passkey");
            let credential = row.credential_id.ok_or_else(|| missing("second_factors.credential_id"))?;
            let handle = row.user_handle.ok_or_else(|| missing("second_factors.user_handle"))?;
            let passkey = row.passkey.ok_or_else(|| missing("second_factors.passkey"))?;
            FactorSecret::Passkey {
                credential_id: PasskeyCredentialId::from_bytes(credential),
                user_handle: user_handle("second_factors.user_handle", &handle)?,
                passkey: StoredPasskey::from_json(passkey),
            }
        }
        other => return Err(corrupt("second_factors.kind", format!("unknown kind {other:?}"))),
    };
    Ok(SecondFactor {
        id: FactorId::from_uuid(row.id),
        practice_id: PracticeId::from_uuid(row.practice_id),
        client_id: client_id("second_factors.client_id", &row.client_id)?,
        name: DisplayName::parse("name", &row.name).map_err(|e| corrupt("second_factors.name", e))?,
        created_at: row.created_at.into(),
        confirmed_at: row.confirmed_at.map(Into::into),
        last_used_at: row.last_used_at.map(Into::into),
        secret,
    })
}

fn credential_of(factor: &SecondFactor) -> Option<&PasskeyCredentialId> {
    match &factor.secret {
        FactorSecret::Passkey { credential_id, .. } => Some(credential_id),
        FactorSecret::Totp { .. } => None,
    }
}

/// Whether a stored factor other than `except` has this credential id.
async fn credential_taken(
    db: &impl ConnectionTrait,
    credential: &PasskeyCredentialId,
    except: FactorId,
) -> Result<bool, StoreError> {
    let found = second_factor::Entity::find()
        .filter(second_factor::Column::CredentialId.eq(credential.as_bytes().to_vec()))
        .filter(second_factor::Column::Id.ne(except.as_uuid()))
        .count(db)
        .await
        .map_err(unavailable)?;
    Ok(found > 0)
}

/// A factor insert the database refused as a duplicate: the credential id's unique index (a
/// passkey registered concurrently elsewhere) or the primary key (another client's factor id).
fn duplicate_factor(what: &str) -> StoreError {
    if what.contains("credential_id") {
        StoreError::Duplicate("passkey")
    } else {
        StoreError::Duplicate("second factor")
    }
}

fn ceremony_row(ceremony: &PasskeyCeremony) -> passkey_ceremony::ActiveModel {
    passkey_ceremony::ActiveModel {
        token_hash: Set(hash_bytes(&ceremony.hash)),
        practice_id: Set(ceremony.practice_id.as_uuid()),
        client_id: Set(ceremony.client_id.as_ref().map(|c| c.as_str().to_owned())),
        purpose: Set(ceremony.purpose.name().to_owned()),
        user_handle: Set(ceremony.user_handle.map(|h| h.as_bytes().to_vec())),
        state: Set(ceremony.state.clone()),
        created_at: Set(micros(ceremony.created_at)),
        expires_at: Set(micros(ceremony.expires_at)),
    }
}

fn ceremony_from(row: passkey_ceremony::Model) -> Result<PasskeyCeremony, StoreError> {
    Ok(PasskeyCeremony {
        hash: token_hash("passkey_ceremonies.token_hash", row.token_hash)?,
        practice_id: PracticeId::from_uuid(row.practice_id),
        client_id: row.client_id.as_deref().map(|c| client_id("passkey_ceremonies.client_id", c)).transpose()?,
        purpose: CeremonyPurpose::from_name(&row.purpose)
            .ok_or_else(|| corrupt("passkey_ceremonies.purpose", &row.purpose))?,
        user_handle: row
            .user_handle
            .as_deref()
            .map(|h| user_handle("passkey_ceremonies.user_handle", h))
            .transpose()?,
        state: row.state,
        created_at: row.created_at.into(),
        expires_at: row.expires_at.into(),
    })
}

fn challenge_from(row: factor_challenge::Model) -> Result<FactorChallenge, StoreError> {
    Ok(FactorChallenge {
        hash: token_hash("factor_challenges.token_hash", row.token_hash)?,
        practice_id: PracticeId::from_uuid(row.practice_id),
        client_id: client_id("factor_challenges.client_id", &row.client_id)?,
        purpose: ChallengePurpose::from_name(&row.purpose)
            .ok_or_else(|| corrupt("factor_challenges.purpose", &row.purpose))?,
        created_at: row.created_at.into(),
        expires_at: row.expires_at.into(),
    })
}

fn of_client(practice: PracticeId, client: &ClientId) -> Condition {
    Condition::all()
        .add(second_factor::Column::PracticeId.eq(practice.as_uuid()))
        .add(second_factor::Column::ClientId.eq(client.as_str()))
}

async fn insert_mail(db: &impl ConnectionTrait, mail: &[OutgoingMail]) -> Result<(), StoreError> {
    if mail.is_empty() {
        return Ok(());
    }
    mail_outbox::Entity::insert_many(mail.iter().map(outbox_row))
        .exec_without_returning(db)
        .await
        .map_err(|e| write_error(e, |_| StoreError::Duplicate("mail"), "practice of a mail"))?;
    Ok(())
}

#[async_trait]
impl FactorStore for SeaOrmStore {
    async fn factors(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<SecondFactor>, StoreError> {
        second_factor::Entity::find()
            .filter(of_client(practice, client))
            .order_by_asc(second_factor::Column::CreatedAt)
            .order_by_asc(second_factor::Column::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(factor_from)
            .collect()
    }

    async fn recovery_codes_left(&self, practice: PracticeId, client: &ClientId) -> Result<u32, StoreError> {
        let left = recovery_code::Entity::find()
            .filter(recovery_code::Column::PracticeId.eq(practice.as_uuid()))
            .filter(recovery_code::Column::ClientId.eq(client.as_str()))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(&self.db)
            .await
            .map_err(unavailable)?;
        u32::try_from(left).map_err(|_| corrupt("recovery_codes", "too many"))
    }

    async fn commit_factors(&self, change: FactorCommit) -> Result<(), StoreError> {
        let FactorCommit { practice_id, client_id, at, put, remove, recovery_codes, audit, mail } = change;
        let rows = put.iter().map(factor_row).collect::<Result<Vec<_>, _>>()?;
        if put.iter().any(|f| f.practice_id != practice_id || f.client_id != client_id) {
            return Err(StoreError::Duplicate("second factor"));
        }
        let passkeys: Vec<_> = put.iter().filter_map(|f| credential_of(f).map(|c| (f.id, c))).collect();
        if passkeys.iter().enumerate().any(|(i, (id, c))| passkeys[..i].iter().any(|(o, d)| o != id && d == c)) {
            return Err(StoreError::Duplicate("passkey"));
        }
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            // Checked before anything is written (the factors this commit removes included, as
            // the port's reference does); the unique index is the backstop for a registration
            // of the same credential committed meanwhile (PostgreSQL's READ COMMITTED).
            for (id, credential) in &passkeys {
                if credential_taken(&txn, credential, *id).await? {
                    return Err(StoreError::Duplicate("passkey"));
                }
            }
            let ids: Vec<_> = put.iter().map(|f| f.id.as_uuid()).chain(remove.iter().map(FactorId::as_uuid)).collect();
            if !ids.is_empty() {
                // A put of an existing id replaces it whole: delete, then insert. An id of
                // another client stays and makes the insert fail as a duplicate.
                second_factor::Entity::delete_many()
                    .filter(of_client(practice_id, &client_id))
                    .filter(second_factor::Column::Id.is_in(ids))
                    .exec(&txn)
                    .await
                    .map_err(unavailable)?;
            }
            if !rows.is_empty() {
                second_factor::Entity::insert_many(rows)
                    .exec_without_returning(&txn)
                    .await
                    .map_err(|e| write_error(e, duplicate_factor, "practice"))?;
            }
            if let Some(codes) = &recovery_codes {
                recovery_code::Entity::delete_many()
                    .filter(recovery_code::Column::PracticeId.eq(practice_id.as_uuid()))
                    .filter(recovery_code::Column::ClientId.eq(client_id.as_str()))
                    .exec(&txn)
                    .await
                    .map_err(unavailable)?;
                if !codes.is_empty() {
                    let rows = codes.iter().map(|hash| recovery_code::ActiveModel {
                        code_hash: Set(hash_bytes(hash)),
                        practice_id: Set(practice_id.as_uuid()),
                        client_id: Set(client_id.as_str().to_owned()),
                        created_at: Set(micros(at)),
                        used_at: Set(None),
                    });
                    recovery_code::Entity::insert_many(rows)
                        .exec_without_returning(&txn)
                        .await
                        .map_err(|e| write_error(e, |_| StoreError::Duplicate("recovery code"), "practice"))?;
                }
            }
            insert_mail(&txn, &mail).await?;
            if audit.is_empty() { Ok(()) } else { audit::insert(&txn, &audit).await }
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn use_totp_step(
        &self,
        factor: FactorId,
        step: u64,
        at: Timestamp,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let step = step_value(step)?;
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            let updated = second_factor::Entity::update_many()
                .col_expr(second_factor::Column::LastUsedStep, Expr::value(step))
                .col_expr(second_factor::Column::LastUsedAt, Expr::value(micros(at)))
                .filter(second_factor::Column::Id.eq(factor.as_uuid()))
                .filter(second_factor::Column::ConfirmedAt.is_not_null())
                .filter(
                    Condition::any()
                        .add(second_factor::Column::LastUsedStep.is_null())
                        .add(second_factor::Column::LastUsedStep.lt(step)),
                )
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            if updated.rows_affected != 1 {
                return Ok(false);
            }
            if !events.is_empty() {
                audit::insert(&txn, events).await?;
            }
            Ok(true)
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn use_recovery_code(
        &self,
        practice: PracticeId,
        client: &ClientId,
        hash: &TokenHash,
        at: Timestamp,
        events: &[AuditEvent],
        mail: &[OutgoingMail],
    ) -> Result<bool, StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            let updated = recovery_code::Entity::update_many()
                .col_expr(recovery_code::Column::UsedAt, Expr::value(micros(at)))
                .filter(recovery_code::Column::CodeHash.eq(hash_bytes(hash)))
                .filter(recovery_code::Column::PracticeId.eq(practice.as_uuid()))
                .filter(recovery_code::Column::ClientId.eq(client.as_str()))
                .filter(recovery_code::Column::UsedAt.is_null())
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            if updated.rows_affected != 1 {
                return Ok(false);
            }
            insert_mail(&txn, mail).await?;
            if !events.is_empty() {
                audit::insert(&txn, events).await?;
            }
            Ok(true)
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn create_challenge(&self, challenge: &FactorChallenge) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            factor_challenge::Entity::delete_many()
                .filter(factor_challenge::Column::ExpiresAt.lte(micros(challenge.created_at)))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            let row = factor_challenge::ActiveModel {
                token_hash: Set(hash_bytes(&challenge.hash)),
                practice_id: Set(challenge.practice_id.as_uuid()),
                client_id: Set(challenge.client_id.as_str().to_owned()),
                purpose: Set(challenge.purpose.name().to_owned()),
                created_at: Set(micros(challenge.created_at)),
                expires_at: Set(micros(challenge.expires_at)),
            };
            factor_challenge::Entity::insert(row)
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("challenge"), "practice"))?;
            Ok(())
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn challenge(&self, hash: &TokenHash) -> Result<Option<FactorChallenge>, StoreError> {
        factor_challenge::Entity::find()
            .filter(factor_challenge::Column::TokenHash.eq(hash_bytes(hash)))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(challenge_from)
            .transpose()
    }

    async fn consume_challenge(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await?;
        let deleted = factor_challenge::Entity::delete_many()
            .filter(factor_challenge::Column::TokenHash.eq(hash_bytes(hash)))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(deleted.rows_affected == 1)
    }

    async fn passkey_factor(&self, credential: &PasskeyCredentialId) -> Result<Option<SecondFactor>, StoreError> {
        second_factor::Entity::find()
            .filter(second_factor::Column::CredentialId.eq(credential.as_bytes().to_vec()))
            .filter(second_factor::Column::Kind.eq(PASSKEY))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(factor_from)
            .transpose()
    }

    async fn use_passkey(
        &self,
        factor: FactorId,
        updated: Option<StoredPasskey>,
        at: Timestamp,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            let mut update = second_factor::Entity::update_many()
                .col_expr(second_factor::Column::LastUsedAt, Expr::value(micros(at)));
            if let Some(updated) = updated {
                update = update.col_expr(second_factor::Column::Passkey, Expr::value(updated.into_json()));
            }
            let changed = update
                .filter(second_factor::Column::Id.eq(factor.as_uuid()))
                .filter(second_factor::Column::Kind.eq(PASSKEY))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            if changed.rows_affected != 1 {
                return Ok(false);
            }
            if !events.is_empty() {
                audit::insert(&txn, events).await?;
            }
            Ok(true)
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn create_ceremony(&self, ceremony: &PasskeyCeremony) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            passkey_ceremony::Entity::delete_many()
                .filter(passkey_ceremony::Column::ExpiresAt.lte(micros(ceremony.created_at)))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            passkey_ceremony::Entity::insert(ceremony_row(ceremony))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("passkey ceremony"), "practice"))?;
            Ok(())
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn take_ceremony(&self, hash: &TokenHash) -> Result<Option<PasskeyCeremony>, StoreError> {
        let by_hash = passkey_ceremony::Column::TokenHash.eq(hash_bytes(hash));
        if self.backend() == DbBackend::Postgres {
            // One statement: of concurrent takes, the row lock lets one delete (and return) it;
            // the others find it gone.
            let taken = passkey_ceremony::Entity::delete_many()
                .filter(by_hash)
                .exec_with_returning(&self.db)
                .await
                .map_err(unavailable)?;
            return taken.into_iter().next().map(ceremony_from).transpose();
        }
        // SQLite (whose RETURNING this build of sea-orm does not use): read and delete in one
        // write transaction, which holds the database's write lock from its start, so no other
        // take runs between the two; the delete's row count confirms it all the same.
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            let Some(row) =
                passkey_ceremony::Entity::find().filter(by_hash.clone()).one(&txn).await.map_err(unavailable)?
            else {
                return Ok(None);
            };
            let deleted =
                passkey_ceremony::Entity::delete_many().filter(by_hash).exec(&txn).await.map_err(unavailable)?;
            if deleted.rows_affected != 1 {
                return Ok(None);
            }
            ceremony_from(row).map(Some)
        }
        .await;
        finish((txn, turn), outcome).await
    }
}
