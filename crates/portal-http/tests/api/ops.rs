//! Operations endpoints.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let response = app.client.get("/healthz").send().await;
    response.assert_status_is_ok();
    response.assert_header("cache-control", "no-store");
}
