//! The yardsticks of `cargo xtask bench`, served by the same binary and runtime as the real API
//! with none of the portal's middleware: a plain poem JSON handler (what the framework alone does
//! on this machine) and one primary-key read through the server's own store (what one indexed
//! database round trip costs), so the bench can say how close a staff lookup comes to each. Only
//! built with the `bench-baseline` feature; never in the default build.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{Endpoint, EndpointExt as _, Response, Route, get, handler};
use portal_core::{ClientDirectory, ClientId, PracticeId};

/// `GET /__bench/plain` answers `{"status":"ok"}`; `GET /__bench/store/{practice}/{client}`
/// reads that client by its primary key and answers `{"found":true|false}`; everything else
/// goes to the portal.
pub(super) fn mount(
    portal: impl Endpoint<Output = Response> + 'static,
    directory: Arc<dyn ClientDirectory>,
) -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/__bench/plain", get(plain))
        .at("/__bench/store/:practice/:client", get(store_read).data(directory))
        .nest("/", portal)
        .map_to_response()
}

#[handler]
fn plain() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[handler]
async fn store_read(
    Path((practice, client)): Path<(String, String)>,
    directory: Data<&Arc<dyn ClientDirectory>>,
) -> poem::Result<Json<serde_json::Value>> {
    let bad_request = || poem::Error::from_status(StatusCode::BAD_REQUEST);
    let practice = PracticeId::parse(&practice).map_err(|_| bad_request())?;
    let client = ClientId::parse(&client).map_err(|_| bad_request())?;
    let found = directory
        .client(practice, &client)
        .await
        .map_err(|_| poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE))?
        .is_some();
    Ok(Json(serde_json::json!({ "found": found })))
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use poem::test::TestClient;
    use portal_core::{Client, DisplayName, Language, StoreError};

    use super::*;

    /// A directory holding one client, `42` of the nil practice.
    struct OneClient;

    #[async_trait]
    impl ClientDirectory for OneClient {
        async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
            Ok((practice == PracticeId::from_uuid(uuid::Uuid::nil()) && id.as_str() == "42").then(|| Client {
                id: id.clone(),
                practice_id: practice,
                name: DisplayName::parse("name", "Ada Lovelace").expect("a name"),
                email: None,
                language: Language::En,
                email_consent: true,
                date_of_birth: None,
                created_at: jiff::Timestamp::UNIX_EPOCH,
            }))
        }

        async fn clients(&self, _: PracticeId, _: &[ClientId]) -> Result<Vec<Client>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn the_store_yardstick_reads_one_client_by_its_key_and_the_rest_goes_to_the_portal() {
        let portal = poem::endpoint::make_sync(|_| "the portal").map_to_response();
        let app = TestClient::new(mount(portal, Arc::new(OneClient)));
        let nil = uuid::Uuid::nil();
        let found = app.get(format!("/__bench/store/{nil}/42")).send().await;
        found.assert_status_is_ok();
        found.assert_json(serde_json::json!({ "found": true })).await;
        app.get(format!("/__bench/store/{nil}/43"))
            .send()
            .await
            .assert_json(serde_json::json!({ "found": false }))
            .await;
        app.get("/__bench/store/not-a-uuid/42").send().await.assert_status(StatusCode::BAD_REQUEST);
        app.get("/__bench/plain").send().await.assert_json(serde_json::json!({ "status": "ok" })).await;
        app.get("/api/v1/clients").send().await.assert_text("the portal").await;
    }
}
