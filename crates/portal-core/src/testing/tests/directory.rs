//! Practices, staff keys and clients.

use super::*;
use crate::ClientDirectory;

#[tokio::test]
async fn the_store_is_a_portal_store_and_clones_share_it() -> TestResult {
    fn needs_portal_store<T: PortalStore>(_: &T) {}
    let world = World::new().await?;
    needs_portal_store(&world.store);
    let clone = world.store.clone();
    world.add_client(world.practice.id, "Grace Hopper").await?;
    assert_eq!(clone.list_clients(world.practice.id).await?.len(), 2);
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

#[tokio::test]
async fn clients_are_listed_by_name_then_id_with_their_accounts() -> TestResult {
    let world = World::new().await?;
    let zoe = world.add_client(world.practice.id, "Zoe").await?;
    let bob_1 = world.add_client(world.practice.id, "Bob").await?;
    let bob_2 = world.add_client(world.practice.id, "Bob").await?;
    let other = world.other_practice("elsewhere").await?;
    world.add_client(other.id, "Abe").await?;
    world.invite(&bob_2, at(0)).await?;

    let listed = world.store.list_clients(world.practice.id).await?;
    let (mut bobs, rest): (Vec<ClientId>, Vec<ClientId>) =
        (vec![bob_1.id.clone(), bob_2.id.clone()], vec![world.client.id.clone()]);
    bobs.sort();
    let expected: Vec<ClientId> = rest.into_iter().chain(bobs).chain([zoe.id]).collect();
    assert_eq!(listed.iter().map(|(c, _)| c.id.clone()).collect::<Vec<_>>(), expected);
    for (client, account) in &listed {
        assert_eq!(account.client_id(), &client.id);
        let invited = client.id == bob_2.id;
        assert_eq!(account.version(), u64::from(invited));
        assert_eq!(matches!(account.status(at(1)), PortalStatus::Invited { .. }), invited);
    }
    Ok(())
}
