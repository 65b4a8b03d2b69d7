//! The Endpoints controller: writes `Endpoints/{service}` from [`super::subsets`], and
//! deletes it when the service is deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_core::client::{Api, Client, DeleteParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::reflector::{index, Store};
use skiff_core::runtime::{watcher, ObjectRef};

use super::{members, subsets, Error};

/// The label Kubernetes puts on the Endpoints of a headless service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    pods: Store<Pod>,
}

/// Runs the Endpoints controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let watched = super::watch_services_and_pods(&client);
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods: watched.pods,
    });
    // An Endpoints changed or deleted by someone else: put it back.
    let results = watched
        .controller
        .watches::<Endpoints>(None, watcher::Config::default(), |ep| {
            vec![ObjectRef::from_obj(ep)]
        })
        .concurrency(4)
        .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx);
    let cleanup = super::background(delete_endpoints_of_deleted(client, watched.deleted));
    futures::stream::select(results, cleanup).boxed()
}

/// Deletes the Endpoints of each deleted service.
async fn delete_endpoints_of_deleted(
    client: Arc<dyn Client>,
    mut deleted: tokio::sync::mpsc::UnboundedReceiver<Service>,
) {
    while let Some(svc) = deleted.recv().await {
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let api: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => tracing::debug!(service = %format!("{ns}/{name}"), "deleted endpoints"),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                tracing::warn!(service = %format!("{ns}/{name}"), error = %e, "deleting endpoints")
            }
        }
    }
}

/// The labels of a service's Endpoints: the service's, plus the headless marker.
fn labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if members::is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

/// Brings `Endpoints/{service}` to the service's pods.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    if members::selector(&svc).is_none() || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let pods = ctx.pods.by_index(index::NAMESPACE, &ns);
    let subsets = subsets::build(&svc, &pods);
    let labels = labels(&svc);
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    let current = api
        .get_opt(&name)
        .await
        .map_err(Error::client("reading endpoints", &svc))?;
    match current {
        Some(current) => {
            let same_subsets = current.subsets.clone().unwrap_or_default() == subsets;
            let same_labels = current.metadata.labels.clone().unwrap_or_default() == labels;
            if same_subsets && same_labels {
                return Ok(Action::await_change());
            }
            let mut next = current;
            next.metadata.labels = Some(labels);
            next.subsets = Some(subsets).filter(|s| !s.is_empty());
            api.replace(&name, &next, &PostParams::default())
                .await
                .map_err(Error::client("updating endpoints", &svc))?;
        }
        None => {
            let ep = Endpoints {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(labels),
                    ..ObjectMeta::default()
                },
                subsets: Some(subsets).filter(|s| !s.is_empty()),
            };
            api.create(&ep, &PostParams::default())
                .await
                .map_err(Error::client("creating endpoints", &svc))?;
        }
    }
    Ok(Action::await_change())
}
