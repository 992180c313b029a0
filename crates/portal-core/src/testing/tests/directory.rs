//! Practices, staff keys and clients.

use super::*;
use crate::{ClientDirectory, ClientListQuery};

#[tokio::test]
async fn the_store_is_a_portal_store_and_clones_share_it() -> TestResult {
    fn needs_portal_store<T: PortalStore>(_: &T) {}
    let world = World::new().await?;
    needs_portal_store(&world.store);
    let clone = world.store.clone();
    world.add_client(world.practice.id, "Grace Hopper").await?;
    assert_eq!(clone.list_clients(world.practice.id, &ClientListQuery::default(), T0).await?.items.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_taken_slug_is_a_duplicate_and_writes_nothing() -> TestResult {
    let world = World::new().await?;
    let copy = Practice { id: PracticeId::generate(&world.random)?, ..world.practice.clone() };
    let result = world.store.create_practice(&copy, &world.staff(copy.id)?, &TokenHash::of(b"key-2")).await;
    assert!(matches!(result, Err(StoreError::Duplicate("slug"))), "{result:?}");
    assert_eq!(world.store.practice_count().await?, 1);
    assert_eq!(world.store.practice(copy.id).await?, None);
    assert_eq!(crate::StaffAccess::staff_key_by_hash(&world.store, &TokenHash::of(b"key-2")).await?, None);
    assert_eq!(world.store.practice_by_slug(&world.practice.slug).await?, Some(world.practice.clone()));
    assert_eq!(world.store.practice(world.practice.id).await?, Some(world.practice.clone()));
    Ok(())
}

#[tokio::test]
async fn a_client_belongs_to_one_practice() -> TestResult {
    let world = World::new().await?;
    let nowhere = PracticeId::generate(&world.random)?;
    let result = world.add_client(nowhere, "Nobody").await;
    assert!(result.is_err_and(|e| matches!(e.downcast_ref(), Some(StoreError::NotFound("practice")))));

    let other = world.other_practice("elsewhere").await?;
    let id = world.client.id.clone();
    assert_eq!(ClientDirectory::client(&world.store, other.id, &id).await?, None);
    assert_eq!(ClientDirectory::client(&world.store, world.practice.id, &id).await?, Some(world.client.clone()));
    assert!(ClientDirectory::clients(&world.store, other.id, std::slice::from_ref(&id)).await?.is_empty());
    let batch = [id.clone(), ClientId::parse("unknown")?];
    assert_eq!(ClientDirectory::clients(&world.store, world.practice.id, &batch).await?, vec![world.client.clone()]);

    let foreign = Client { practice_id: other.id, name: DisplayName::parse("name", "Hijack")?, ..world.client.clone() };
    let event = world.event(&foreign, AuditAction::ClientUpdated, at(1))?;
    let result = world.store.update_client(&foreign, &event).await;
    assert!(matches!(result, Err(StoreError::NotFound("client"))), "{result:?}");
    assert_eq!(ClientDirectory::client(&world.store, world.practice.id, &id).await?, Some(world.client.clone()));
    assert!(world.store.audit_events().iter().all(|e| e.id != event.id));

    let renamed = Client { name: DisplayName::parse("name", "Ada King")?, email: None, ..world.client.clone() };
    world.store.update_client(&renamed, &world.event(&renamed, AuditAction::ClientUpdated, at(2))?).await?;
    assert_eq!(ClientDirectory::client(&world.store, world.practice.id, &id).await?, Some(renamed));
    Ok(())
}

/// Every page of `query`'s list, following the next cursors from the first page.
async fn every_page(world: &World, query: &ClientListQuery, now: Timestamp) -> TestResult<Vec<Vec<Client>>> {
    let mut pages = Vec::new();
    let mut query = query.clone();
    loop {
        let page = world.store.list_clients(world.practice.id, &query, now).await?;
        pages.push(page.items.into_iter().map(|(client, _)| client).collect());
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return Ok(pages),
        }
    }
}

fn names(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.name.as_str()).collect()
}

#[tokio::test]
async fn clients_are_listed_by_name_case_insensitively_then_id_with_their_accounts() -> TestResult {
    let world = World::new().await?;
    let zoe = world.add_client(world.practice.id, "Zoe").await?;
    let bob_1 = world.add_client(world.practice.id, "bob").await?;
    let bob_2 = world.add_client(world.practice.id, "Bob").await?;
    world.add_client(world.practice.id, "adam").await?;
    let other = world.other_practice("elsewhere").await?;
    world.add_client(other.id, "Abe").await?;
    world.invite(&bob_2, at(0)).await?;

    let listed = world.store.list_clients(world.practice.id, &ClientListQuery::default(), at(1)).await?;
    assert_eq!((listed.next.clone(), listed.previous.clone()), (None, None), "one page holds them all");
    let mut bobs = [bob_1.id.clone(), bob_2.id.clone()];
    bobs.sort();
    let ids: Vec<ClientId> = listed.items.iter().map(|(c, _)| c.id.clone()).collect();
    assert_eq!(ids[0], world.client.id, "\"ada lovelace\" sorts before \"adam\"");
    assert_eq!(ids[2..], [bobs[0].clone(), bobs[1].clone(), zoe.id], "same name: by id");
    for (client, account) in &listed.items {
        assert_eq!(account.client_id(), &client.id);
        let invited = client.id == bob_2.id;
        assert_eq!(account.version(), u64::from(invited));
        assert_eq!(matches!(account.status(at(1)), PortalStatus::Invited { .. }), invited);
    }
    Ok(())
}

#[tokio::test]
async fn pages_follow_each_other_forwards_and_backwards_without_gaps_or_repeats() -> TestResult {
    let world = World::new().await?;
    for name in ["Eve", "bo", "Cy", "dee", "Flo", "al", "Gus"] {
        world.add_client(world.practice.id, name).await?;
    }
    let size = |n| -> TestResult<ClientListQuery> {
        Ok(ClientListQuery { size: crate::PageSize::new(n)?, ..ClientListQuery::default() })
    };
    let whole = world.store.list_clients(world.practice.id, &ClientListQuery::default(), T0).await?;
    let whole: Vec<Client> = whole.items.into_iter().map(|(c, _)| c).collect();
    assert_eq!(names(&whole), ["Ada Lovelace", "al", "bo", "Cy", "dee", "Eve", "Flo", "Gus"]);

    let pages = every_page(&world, &size(3)?, T0).await?;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    assert_eq!(pages.concat(), whole);

    // From the last page back to the first, with the previous cursors.
    let mut query = size(3)?;
    let mut page = world.store.list_clients(world.practice.id, &query, T0).await?;
    while let Some(next) = page.next.clone() {
        query.cursor = Some(next);
        page = world.store.list_clients(world.practice.id, &query, T0).await?;
    }
    let mut backwards = vec![page.items.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>()];
    while let Some(previous) = page.previous.clone() {
        query.cursor = Some(previous);
        page = world.store.list_clients(world.practice.id, &query, T0).await?;
        backwards.push(page.items.iter().map(|(c, _)| c.clone()).collect());
    }
    backwards.reverse();
    assert_eq!(backwards, pages, "the previous pages are the pages seen going forwards");
    assert!(page.previous.is_none() && page.next.is_some());
    Ok(())
}

#[tokio::test]
async fn a_search_matches_a_prefix_of_the_name_or_the_email_whatever_the_case() -> TestResult {
    let world = World::new().await?;
    let grace = world.add_client(world.practice.id, "Grace Hopper").await?;
    let mut mail = world.add_client(world.practice.id, "Zed").await?;
    mail.email = Some(EmailAddress::parse("Hopper.Fan@Example.org")?);
    world.store.update_client(&mail, &world.event(&mail, AuditAction::ClientUpdated, T0)?).await?;
    let search = |text: &str| -> TestResult<ClientListQuery> {
        Ok(ClientListQuery { search: Some(crate::ClientSearch::parse(text)?), ..ClientListQuery::default() })
    };
    let found = |pages: Vec<Vec<Client>>| pages.concat().into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(found(every_page(&world, &search("GRA")?, T0).await?), std::slice::from_ref(&grace.id));
    let by_mail = found(every_page(&world, &search("hopper")?, T0).await?);
    assert_eq!(by_mail, std::slice::from_ref(&mail.id), "email, not surname");
    assert_eq!(found(every_page(&world, &search("ADA@")?, T0).await?), [world.client.id.clone(), grace.id.clone()]);
    assert!(found(every_page(&world, &search("grace hopperx")?, T0).await?).is_empty());
    Ok(())
}

#[tokio::test]
async fn the_status_filter_agrees_with_the_status_the_core_computes() -> TestResult {
    let world = World::new().await?;
    let invited = world.add_client(world.practice.id, "Invited").await?;
    let expired = world.add_client(world.practice.id, "Expired").await?;
    let active = world.add_client(world.practice.id, "Active").await?;
    world.invite(&invited, at(0)).await?;
    world.invite(&expired, at(-49 * 3600)).await?;
    world.register(&active, "active.one").await?;
    let now = at(3600);
    for kind in crate::PortalStatusKind::ALL {
        let query = ClientListQuery { status: Some(kind), ..ClientListQuery::default() };
        let page = world.store.list_clients(world.practice.id, &query, now).await?;
        let expected: Vec<&str> = match kind {
            crate::PortalStatusKind::NoAccount => vec!["Ada Lovelace"],
            crate::PortalStatusKind::Invited => vec!["Invited"],
            crate::PortalStatusKind::InviteExpired => vec!["Expired"],
            crate::PortalStatusKind::Active => vec!["Active"],
            crate::PortalStatusKind::Disabled => vec![],
        };
        let listed: Vec<&str> = page.items.iter().map(|(c, _)| c.name.as_str()).collect();
        assert_eq!(listed, expected, "{kind:?}");
        assert!(page.items.iter().all(|(_, account)| account.status(now).kind() == kind));
    }
    Ok(())
}

#[tokio::test]
async fn a_panel_holds_the_account_and_the_delivery_of_each_current_link() -> TestResult {
    let world = World::new().await?;
    let empty = world.store.client_panel(world.practice.id, &world.client.id).await?;
    let (client, panel) = empty.ok_or("the client is listed")?;
    assert_eq!(client, world.client);
    assert_eq!(panel.account, PortalAccount::new(world.practice.id, world.client.id.clone()));
    assert_eq!((panel.invite_delivery, panel.reset_delivery), (None, None));

    let invite = world.invite(&world.client, at(0)).await?;
    let panel = world.store.account_panel(world.practice.id, &world.client.id).await?;
    assert_eq!(panel.account.invite(), Some(&invite));
    assert_eq!(panel.invite_delivery, world.store.delivery_for_token(invite.id).await?);
    assert!(matches!(panel.invite_delivery, Some(DeliveryState::Pending { attempts: 0, .. })));
    assert_eq!(panel.reset_delivery, None);
    let joined = world.store.client_panel(world.practice.id, &world.client.id).await?;
    assert_eq!(joined.map(|(_, joined)| joined), Some(panel));

    let other = world.other_practice("elsewhere").await?;
    assert_eq!(world.store.client_panel(other.id, &world.client.id).await?, None);
    Ok(())
}
