//! The ServiceAccount controller against an in-process API server: a `default`
//! ServiceAccount in every namespace, recreated when deleted.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use serde_json::json;
use skiff_core::client::{Api, DeleteParams, PostParams};

const WAIT: Duration = Duration::from_secs(20);

async fn default_sa(
    client: &std::sync::Arc<dyn skiff_core::client::Client>,
    ns: &str,
) -> Option<ServiceAccount> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    api.get_opt("default").await.unwrap()
}

#[tokio::test]
async fn every_namespace_gets_a_default_service_account_again_and_again() {
    let (_server, client) = cluster().await;
    let ctl =
        tokio::spawn(skiff_controllers::serviceaccount::run(client.clone()).for_each(|_| async {}));
    // The namespaces the server starts with.
    wait_for("default/default", WAIT, || {
        let client = client.clone();
        async move { default_sa(&client, "default").await }
    })
    .await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    namespaces
        .create(&ns, &PostParams::default())
        .await
        .unwrap();
    let first = wait_for("team-a/default", WAIT, || {
        let client = client.clone();
        async move { default_sa(&client, "team-a").await }
    })
    .await;

    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
    sas.delete("default", &DeleteParams::default())
        .await
        .unwrap();
    let second = wait_for("team-a/default recreated", WAIT, || {
        let client = client.clone();
        let first_uid = first.metadata.uid.clone();
        async move {
            default_sa(&client, "team-a")
                .await
                .filter(|sa| sa.metadata.uid != first_uid)
        }
    })
    .await;
    assert_eq!(second.metadata.name.as_deref(), Some("default"));

    ctl.abort();
}
