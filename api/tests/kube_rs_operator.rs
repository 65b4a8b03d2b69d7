//! kube-rs operators against Skiff: server-side apply through `kube::Api::patch` with
//! `Patch::Apply` (field managers, conflicts, force), and a `kube::runtime::Controller`
//! reconciling a custom resource whose CRD is derived with `#[derive(CustomResource)]`,
//! all over an in-process server (`skiff_api::testing::TestApiServer`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use skiff_api::testing::TestApiServer;

/// How long a condition may take to become true.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Polls `check` until it returns `Some`, or panics after [`TIMEOUT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn server_side_apply_with_managers_conflicts_and_force() {
    let env = TestApiServer::start().await.expect("server");
    let client = kube::Client::new(env.service(), "default");
    let cms: Api<ConfigMap> = Api::default_namespaced(client);

    let desired = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "labels": {"team": "a"}},
        "data": {"mode": "fast", "size": "3"},
    });
    let applied = cms
        .patch(
            "settings",
            &PatchParams::apply("operator-a"),
            &Patch::Apply(&desired),
        )
        .await
        .expect("first apply creates the object");
    assert_eq!(applied.data.as_ref().unwrap()["mode"], "fast");
    let managers: Vec<String> = applied
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, vec!["operator-a".to_owned()]);

    // Applying the same configuration again changes nothing.
    let again = cms
        .patch(
            "settings",
            &PatchParams::apply("operator-a"),
            &Patch::Apply(&desired),
        )
        .await
        .expect("idempotent apply");
    assert_eq!(again.resource_version(), applied.resource_version());

    // Another manager setting a field owned by operator-a conflicts ...
    let other = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"mode": "slow"},
    });
    let err = cms
        .patch(
            "settings",
            &PatchParams::apply("operator-b"),
            &Patch::Apply(&other),
        )
        .await
        .expect_err("a conflicting apply is refused");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert_eq!(status.reason, "Conflict", "{status:?}");
            assert!(status.message.contains("operator-a"), "{status:?}");
        }
        other => panic!("expected a 409 Status, got {other:?}"),
    }

    // ... unless forced, which moves the field to operator-b.
    let forced = cms
        .patch(
            "settings",
            &PatchParams::apply("operator-b").force(),
            &Patch::Apply(&other),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.data.as_ref().unwrap()["mode"], "slow");
    assert_eq!(forced.data.as_ref().unwrap()["size"], "3");
    let owners: BTreeMap<String, String> = forced
        .managed_fields()
        .iter()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                serde_json::to_string(&m.fields_v1).unwrap(),
            )
        })
        .collect();
    assert!(owners["operator-b"].contains("f:mode"), "{owners:?}");
    assert!(!owners["operator-a"].contains("f:mode"), "{owners:?}");
    assert!(owners["operator-a"].contains("f:size"), "{owners:?}");

    // operator-a drops `size` from its configuration: the field it alone owned goes.
    let smaller = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "labels": {"team": "a"}},
        "data": {},
    });
    let pruned = cms
        .patch(
            "settings",
            &PatchParams::apply("operator-a"),
            &Patch::Apply(&smaller),
        )
        .await
        .expect("apply without size");
    let data = pruned.data.unwrap_or_default();
    assert!(!data.contains_key("size"), "{data:?}");
    assert_eq!(data["mode"], "slow");
}

/// A custom resource: asks for a ConfigMap holding `content` under key `value`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "demo.skiff.dev",
    version = "v1",
    kind = "Echo",
    namespaced,
    status = "EchoStatus",
    shortname = "ec"
)]
pub struct EchoSpec {
    /// What the generated ConfigMap holds.
    pub content: String,
}

/// What the controller observed.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct EchoStatus {
    /// The name of the generated ConfigMap.
    pub config_map: String,
    /// The generation reconciled.
    pub observed_generation: i64,
}

#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("the object has no namespace")]
    NoNamespace,
}

struct Context {
    client: kube::Client,
}

/// Server-side applies the owned ConfigMap and the Echo's status.
async fn reconcile(echo: Arc<Echo>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = echo.namespace().ok_or(ReconcileError::NoNamespace)?;
    let name = format!("{}-echo", echo.name_any());
    let owner = echo
        .controller_owner_ref(&())
        .ok_or(ReconcileError::NoNamespace)?;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "value".to_owned(),
            echo.spec.content.clone(),
        )])),
        ..ConfigMap::default()
    };
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut cm_value = serde_json::to_value(&cm).expect("serializable");
    cm_value["apiVersion"] = json!("v1");
    cm_value["kind"] = json!("ConfigMap");
    cms.patch(
        &name,
        &PatchParams::apply("echo-controller").force(),
        &Patch::Apply(&cm_value),
    )
    .await?;
    let echoes: Api<Echo> = Api::namespaced(ctx.client.clone(), &namespace);
    let status = json!({
        "apiVersion": "demo.skiff.dev/v1", "kind": "Echo",
        "status": EchoStatus {
            config_map: name,
            observed_generation: echo.meta().generation.unwrap_or_default(),
        },
    });
    echoes
        .patch_status(
            &echo.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(_echo: Arc<Echo>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    eprintln!("reconcile failed: {error}");
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn kube_runtime_controller_reconciles_a_custom_resource() {
    let env = TestApiServer::start().await.expect("server");
    let client = kube::Client::new(env.service(), "default");

    // The CRD, as kube-rs derives it, is accepted and served without a restart.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Echo::crd())
        .await
        .expect("create CRD");
    let echoes: Api<Echo> = Api::default_namespaced(client.clone());
    eventually("the Echo resource to be served", || {
        let echoes = echoes.clone();
        async move { echoes.list(&Default::default()).await.ok() }
    })
    .await;

    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let controller = Controller::new(echoes.clone(), watcher::Config::default())
        .owns(cms.clone(), watcher::Config::default())
        .run(
            reconcile,
            error_policy,
            Arc::new(Context {
                client: client.clone(),
            }),
        )
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    echoes
        .create(
            &PostParams::default(),
            &Echo::new(
                "hello",
                EchoSpec {
                    content: "first".into(),
                },
            ),
        )
        .await
        .expect("create Echo");

    let cm = eventually("the generated ConfigMap", || {
        let cms = cms.clone();
        async move { cms.get_opt("hello-echo").await.ok().flatten() }
    })
    .await;
    assert_eq!(cm.data.as_ref().unwrap()["value"], "first");
    let owner = &cm.owner_references()[0];
    assert_eq!(owner.kind, "Echo");
    assert_eq!(owner.name, "hello");
    assert_eq!(owner.controller, Some(true));

    let status = eventually("the Echo's status", || {
        let echoes = echoes.clone();
        async move { echoes.get("hello").await.ok().and_then(|e| e.status) }
    })
    .await;
    assert_eq!(status.config_map, "hello-echo");
    assert_eq!(status.observed_generation, 1);

    // A spec change (a new generation) is reconciled into the ConfigMap.
    echoes
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"content": "second"}})),
        )
        .await
        .expect("patch Echo");
    eventually("the ConfigMap to follow the new spec", || {
        let cms = cms.clone();
        async move {
            let cm = cms.get("hello-echo").await.ok()?;
            (cm.data?.get("value")? == "second").then_some(())
        }
    })
    .await;
    eventually("observedGeneration 2", || {
        let echoes = echoes.clone();
        async move {
            let status = echoes.get("hello").await.ok()?.status?;
            (status.observed_generation == 2).then_some(())
        }
    })
    .await;

    // Deleting the owned ConfigMap triggers a reconcile (owns) that recreates it.
    cms.delete("hello-echo", &DeleteParams::default())
        .await
        .expect("delete ConfigMap");
    eventually("the ConfigMap to be recreated", || {
        let cms = cms.clone();
        async move {
            let cm = cms.get_opt("hello-echo").await.ok().flatten()?;
            (cm.metadata.deletion_timestamp.is_none()).then_some(())
        }
    })
    .await;

    controller.abort();
}
