//! The store-contract suite: every port method's contract, concurrency, crash safety, secrecy
//! and migrations. Each contract test runs against a fresh SQLite file, and against a fresh
//! PostgreSQL database when `PORTAL_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`).

// Test code: an unwrap is an assertion (clippy's `allow-unwrap-in-tests` covers only `#[test]`
// functions, not the helpers and contract functions they call).
#![allow(clippy::unwrap_used)]

mod fixtures;
mod harness;

mod accounts;
mod audit;
mod bulk;
mod client_list;
mod concurrency;
mod connecting;
mod directory;
mod factors;
mod host_clients;
mod host_migration;
mod migrations;
mod outbox;
mod passkeys;
mod reminders;
mod retention;
mod safety;
mod serialised;
mod service;
mod sessions;
mod silent_database;
mod staff;
mod throttle;

/// Declares each contract test twice: `sqlite::name` and `postgres::name`.
macro_rules! contract_tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run_sqlite(|db| async move { crate::$module::$name(&db).await }).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run_postgres(|db| async move { crate::$module::$name(&db).await }).await;
                }
            )*
        }
    };
}

contract_tests! {
    directory::a_practice_is_found_by_slug_and_by_id_and_counted,
    directory::a_taken_slug_is_a_duplicate_and_writes_nothing,
    directory::a_practice_update_keeps_its_slug_writes_its_settings_and_audits_atomically,
    directory::clients_are_created_updated_and_only_visible_in_their_practice,
    client_list::clients_are_listed_by_folded_name_then_id_byte_by_byte,
    client_list::pages_follow_each_other_forwards_and_backwards_in_one_query_each,
    client_list::a_search_matches_a_prefix_of_the_folded_name_or_email,
    client_list::the_status_filter_agrees_with_the_core_for_every_kind,
    client_list::the_list_and_the_search_are_served_by_the_indexes,
    client_list::a_client_panel_is_one_query_and_reads_what_the_separate_reads_do,
    client_list::the_status_lookup_is_one_query_with_bundled_records_and_one_beside_a_hosts_directory,
    client_list::the_client_search_migration_fills_the_keys_of_existing_clients_and_rolls_back,
    accounts::a_client_without_a_stored_account_starts_at_version_zero_whoever_owns_it,
    accounts::an_invitation_commits_the_account_token_mail_and_audit_together,
    accounts::a_commit_from_a_stale_version_is_a_conflict_and_writes_nothing,
    accounts::a_resend_voids_the_previous_invitation,
    accounts::registering_uses_the_invitation_and_the_username_is_found_case_insensitively,
    accounts::a_username_taken_in_the_practice_is_refused_whatever_the_case,
    accounts::disabling_voids_a_pending_reset_and_revokes_sessions_and_enabling_restores_neither,
    accounts::completing_a_reset_replaces_the_password_and_clears_the_throttle,
    accounts::a_token_id_of_another_client_is_refused,
    accounts::a_commit_for_an_unknown_practice_is_not_found_and_writes_nothing,
    accounts::the_client_started_reset_limit_is_kept_with_the_account_and_read_by_every_lookup,
    sessions::sessions_are_found_by_hash_touched_forwards_and_revoked,
    sessions::a_session_needs_a_known_practice_and_a_unique_secret,
    factors::factors_are_stored_replaced_and_removed_with_their_audit_and_mail_atomically,
    factors::a_totp_step_and_a_recovery_code_are_each_used_once_even_concurrently,
    factors::a_challenge_is_found_by_hash_consumed_once_and_expired_ones_are_swept,
    factors::the_practice_policy_is_stored_and_new_practices_have_it_optional,
    passkeys::a_passkey_factor_round_trips_and_is_found_by_its_credential_in_any_practice,
    passkeys::a_credential_id_another_factor_has_is_refused_writing_nothing,
    passkeys::a_passkey_use_records_its_last_use_and_its_update_until_removed,
    passkeys::a_ceremony_is_taken_once_even_concurrently_and_expired_ones_are_swept,
    passkeys::the_retention_job_deletes_expired_sign_in_steps_in_batches_and_keeps_live_ones,
    passkeys::the_passkey_migration_rolls_back_only_without_passkeys_and_keeps_totp_factors,
    staff::staff_keys_keep_their_lifetime_and_are_listed_oldest_first,
    staff::revoking_a_key_ends_its_sessions_in_the_same_transaction_once,
    staff::staff_sessions_are_found_with_their_key_touched_forwards_and_ended,
    throttle::failures_are_counted_per_key_and_cleared,
    throttle::concurrent_failures_are_all_counted,
    audit::the_trail_is_oldest_first_and_only_the_clients_own,
    audit::an_audit_batch_with_a_reused_id_writes_nothing,
    audit::every_failure_code_round_trips_and_an_unknown_stored_one_still_reads,
    outbox::claimed_mail_is_leased_and_claimable_again_only_after_the_lease_lapses,
    outbox::only_due_rows_are_claimed_oldest_first_up_to_the_limit,
    outbox::a_sent_mail_is_purged_of_its_recipient_and_keeps_its_delivery_state,
    outbox::a_retried_mail_counts_the_attempt_and_waits_for_its_next_attempt,
    outbox::a_failed_mail_is_never_tried_again,
    outbox::every_cause_and_a_give_up_count_read_back_as_written,
    outbox::a_stored_cause_code_that_is_unknown_or_missing_reads_as_other_with_its_text,
    outbox::concurrent_claimers_never_receive_the_same_row,
    concurrency::of_fifty_commits_from_one_loaded_version_exactly_one_wins,
    concurrency::of_fifty_clients_registering_one_username_exactly_one_wins,
    concurrency::fifty_concurrent_writers_all_succeed,
    safety::a_commit_failing_midway_leaves_nothing_written,
    safety::no_raw_secret_is_stored_anywhere_after_a_full_lifecycle,
    migrations::migrations_round_trip_up_down_up,
    migrations::the_delivery_cause_migration_backfills_cancellations_and_rolls_back,
    migrations::the_reset_request_migration_starts_existing_accounts_with_none_and_rolls_back,
    reminders::invitations_are_due_their_reminder_from_expiry_minus_the_lead_until_expiry,
    reminders::practices_without_reminders_and_reminded_invitations_are_not_due,
    reminders::reminder_mail_is_stored_claimed_and_cancelled_like_the_invitation,
    reminders::the_reminder_migration_rolls_back_only_without_reminder_mail,
    reminders::the_panel_shows_the_invitations_own_delivery_after_a_reminder,
    host_migration::the_host_client_id_migration_keeps_every_row,
    host_clients::host_ids_that_are_not_uuids_work_for_every_portal_row,
    host_clients::the_same_host_id_in_two_practices_names_two_clients,
    host_clients::accounts_returns_only_the_stored_accounts_with_their_current_tokens,
    host_clients::clients_are_read_one_or_many_within_their_practice,
    host_clients::once_delivered_or_given_up_no_outbox_row_holds_the_recipient,
    service::the_whole_lifecycle_runs_on_the_store_and_leaves_no_secret_in_it,
    service::of_concurrent_registrations_with_one_link_exactly_one_wins,
    service::queued_mail_with_a_dead_link_or_for_a_disabled_account_is_cancelled,
    serialised::thirty_two_concurrent_resends_all_succeed_and_leave_one_live_link,
    serialised::serialised_changes_of_a_never_stored_account_all_commit_in_turn,
    serialised::a_serialised_change_that_leaves_the_account_writes_nothing,
    serialised::concurrent_date_of_birth_failures_are_each_counted_and_close_the_link_at_five,
    retention::a_prune_run_keeps_live_rows_and_deletes_finished_ones,
    retention::pending_mail_and_the_token_it_carries_are_kept,
    retention::ten_thousand_random_failed_sign_ins_then_prune_leave_only_live_locks,
    retention::a_prune_run_leaves_the_planner_statistics_fresh,
    bulk::bulk_inserted_clients_read_back_like_created_ones,
    bulk::a_bulk_batch_with_a_taken_id_or_an_unknown_practice_stores_nothing_of_it,
    bulk::bulk_inserted_accounts_read_back_with_their_tokens,
    bulk::a_bulk_account_batch_with_a_taken_username_stores_nothing_of_it,
    bulk::imported_clients_are_stored_with_their_audit_events_all_or_nothing,
}
