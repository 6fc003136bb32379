//! schemathesis against the served OpenAPI document (`/api/openapi.json`),
//! as a stranger and as a household's owner: no 5xx, and every answer (status,
//! content type, headers, body) is one the document describes.

use crate::support::{Auth, Db};

async fn schemathesis(auth: &Auth, extra: &[&str]) {
    let schema = format!("{}/api/openapi.json", auth.base);
    testkit::schemathesis::assert_passes(&schema, extra).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_for_strangers() {
    let auth = Auth::start(Db::Sqlite, &[]).await;
    schemathesis(&auth, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_for_an_owner() {
    let auth = Auth::start(Db::Sqlite, &[]).await;
    let owner = auth.register("owner@example.org").await;
    // A device, so that its routes meet a real one as well as unknown ids.
    auth.create_device(&owner, "Kitchen Pi").await;
    let header = format!("Authorization: Bearer {}", owner.access);
    schemathesis(&auth, &["--header", &header]).await;
}
