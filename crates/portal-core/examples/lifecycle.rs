//! Walks one client through the whole portal lifecycle offline, with the in-memory ports and a
//! manual clock, printing what staff and the client would see at each step.
//!
//! ```text
//! cargo run -p portal-core --example lifecycle
//! ```
#![allow(clippy::print_stdout)] // printing is this example's job

use std::error::Error;

use jiff::SignedDuration;
use portal_core::scrypt_hasher::{ScryptHasher, ScryptParams};
use portal_core::service::{NewClient, PortalService, StaffContext};
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    AuditFailure, Clock, LinkKey, MailKind, OsRandom, Password, Policy, RequestContext, SystemClock, TimeZoneName,
    TokenPurpose,
};
use secrecy::ExposeSecret;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let store = InMemoryStore::default();
    let clock = ManualClock::new(SystemClock.now());
    // The production hashing cost (scrypt ln=17), so the timings printed below are real.
    let hasher = ScryptHasher::new(ScryptParams::OWASP)?;
    let link_key = LinkKey::generate(&OsRandom)?;
    let service = PortalService::new(
        store.clone(),
        store.clone(),
        hasher,
        clock.clone(),
        SeededRandom::new(1),
        Policy::default(),
        link_key,
    )
    .with_bundled_records();
    let request = RequestContext::default();

    let practice = service.create_practice("Sunrise Therapy", None, TimeZoneName::utc()).await?;
    println!(
        "practice {:?} created; staff key shown once (not stored): {}…",
        practice.practice.slug.as_str(),
        &practice.staff_key.expose().expose_secret()[..8]
    );
    let staff = StaffContext { staff: practice.staff, request: request.clone() };

    let client = service
        .create_client(
            &staff,
            NewClient { name: "Ada Lovelace".into(), email: Some("ada@example.org".into()), ..Default::default() },
        )
        .await?
        .client;
    println!("client {} created: portal status {:?}", client.name, service.portal(&staff, &client.id).await?.status);

    let sent = service.send_invite(&staff, &client.id).await?;
    println!("invite sent at {:.0}, valid until {:.0}", sent.sent_at, sent.expires_at);
    let link = |purpose: TokenPurpose| -> Result<String, Box<dyn Error>> {
        let token_id = store
            .outbox()
            .into_iter()
            .rev()
            .find_map(|(mail, _)| match (purpose, mail.kind) {
                (TokenPurpose::Invite, MailKind::Invitation { token_id, .. })
                | (TokenPurpose::Reset, MailKind::PasswordReset { token_id, .. }) => Some(token_id),
                _ => None,
            })
            .ok_or("no mail with a link was queued")?;
        Ok(service.link_key().link_token(purpose, token_id).expose().expose_secret().to_owned())
    };

    clock.advance(SignedDuration::from_hours(47));
    let invite = link(TokenPurpose::Invite)?;
    println!("47 h later the client opens the link: {:?}", service.verify_invite(&invite).await.map(|i| i.expires_at));
    let password = Password::new("correct horse battery staple");
    service.register(&invite, "ada", &password, &request).await?;
    println!("registered as 'ada': portal status {:?}", service.portal(&staff, &client.id).await?.status);

    let session = service.sign_in(practice.practice.slug.as_str(), "ada", &password, &request).await?;
    println!("signed in; session valid until {:.0}", session.expires_at);

    service.set_enabled(&staff, &client.id, false, None).await?;
    let refused = service.sign_in(practice.practice.slug.as_str(), "ada", &password, &request).await;
    println!("disabled; sign-in with the right password: {:?}", refused.map(|_| ()).map_err(|e| e.to_string()));
    service.set_enabled(&staff, &client.id, true, None).await?;

    service.send_reset(&staff, &client.id).await?;
    let new_password = Password::new("a completely different passphrase");
    service.complete_reset(&link(TokenPurpose::Reset)?, &new_password, &request).await?;
    let old = service.sign_in(practice.practice.slug.as_str(), "ada", &password, &request).await;
    println!("reset done; old password: {:?}", old.map(|_| ()).map_err(|e| e.to_string()));
    service.sign_in(practice.practice.slug.as_str(), "ada", &new_password, &request).await?;
    println!("new password: signed in");

    println!("\nqueued mail:");
    for (mail, delivery) in store.outbox() {
        println!("  {} to {} ({delivery:?})", mail.kind.name(), mail.to);
    }
    println!("\naudit trail:");
    for event in service.audit_trail(&staff, &client.id).await? {
        println!(
            "  {:.0} {:<24} {}",
            event.at,
            event.action.name(),
            event.failure.as_ref().map_or("", AuditFailure::as_str)
        );
    }
    Ok(())
}
