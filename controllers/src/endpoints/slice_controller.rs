//! The EndpointSlice controller: keeps the slices labelled with a service's name and
//! managed by this controller equal to [`super::slice_content::build`], reusing
//! existing slices where it can (same address type, then same ports), creating the
//! missing ones (`generateName: {service}-`) and deleting the rest. A service with no
//! endpoints keeps one empty placeholder slice, as in Kubernetes.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_core::client::{Api, Client, DeleteParams, ListParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::reflector::{index, Store};
use skiff_core::runtime::{watcher, ObjectRef};

use super::endpoints_controller::HEADLESS_LABEL;
use super::slice_content::{self, SliceContent};
use super::{members, Error};

/// The label naming a slice's service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming a slice's manager.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "endpointslice-controller.k8s.io";

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    pods: Store<Pod>,
}

/// Runs the EndpointSlice controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let watched = super::watch_services_and_pods(&client);
    let ctx = Arc::new(Context {
        client,
        pods: watched.pods,
    });
    let managed = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}");
    // A slice of ours changed or deleted by someone else: reconcile its service.
    watched
        .controller
        .watches::<EndpointSlice>(None, watcher::Config::default().labels(&managed), |slice| {
            let service = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL));
            match (service, slice.metadata.namespace.as_deref()) {
                (Some(svc), Some(ns)) => vec![ObjectRef::new(svc).within(ns)],
                _ => Vec::new(),
            }
        })
        .concurrency(4)
        .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    if members::is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels.insert(
        SERVICE_NAME_LABEL.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    labels
}

fn content_of(slice: &EndpointSlice) -> SliceContent {
    SliceContent {
        address_type: slice.address_type.clone(),
        ports: slice.ports.clone().unwrap_or_default(),
        endpoints: slice.endpoints.clone(),
    }
}

fn fill(slice: &mut EndpointSlice, content: &SliceContent, labels: &BTreeMap<String, String>) {
    slice.address_type = content.address_type.clone();
    slice.ports = Some(content.ports.clone());
    slice.endpoints = content.endpoints.clone();
    slice.metadata.labels = Some(labels.clone());
}

/// Brings the service's slices to its pods.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    if members::selector(&svc).is_none() || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let pods = ctx.pods.by_index(index::NAMESPACE, &ns);
    let mut desired = slice_content::build(&svc, &pods);
    if desired.is_empty() {
        desired.push(SliceContent {
            address_type: "IPv4".into(),
            ports: Vec::new(),
            endpoints: Vec::new(),
        });
    }
    let labels = labels(&svc);
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!("{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}");
    let mut existing: Vec<Option<EndpointSlice>> = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::client("listing endpoint slices", &svc))?
        .items
        .into_iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .map(Some)
        .collect();

    // Pass 1: slices already right. Pass 2: reuse one with the same address type and
    // ports, then any of the same address type (it is immutable). Then create.
    let mut pending: Vec<&SliceContent> = Vec::new();
    for want in &desired {
        let exact = existing.iter().position(|s| {
            s.as_ref().is_some_and(|s| {
                content_of(s) == *want && s.metadata.labels.as_ref() == Some(&labels)
            })
        });
        match exact {
            Some(i) => existing[i] = None,
            None => pending.push(want),
        }
    }
    for want in pending {
        let reuse = existing
            .iter()
            .position(|s| {
                s.as_ref().is_some_and(|s| {
                    s.address_type == want.address_type
                        && s.ports.clone().unwrap_or_default() == want.ports
                })
            })
            .or_else(|| {
                existing.iter().position(|s| {
                    s.as_ref()
                        .is_some_and(|s| s.address_type == want.address_type)
                })
            });
        match reuse.and_then(|i| existing[i].take()) {
            Some(mut slice) => {
                fill(&mut slice, want, &labels);
                let slice_name = slice.metadata.name.clone().unwrap_or_default();
                api.replace(&slice_name, &slice, &PostParams::default())
                    .await
                    .map_err(Error::client("updating an endpoint slice", &svc))?;
            }
            None => {
                let mut slice = EndpointSlice {
                    metadata: ObjectMeta {
                        generate_name: Some(format!("{name}-")),
                        namespace: Some(ns.clone()),
                        owner_references: Some(vec![crate::pods::controller_ref(svc.as_ref())]),
                        ..ObjectMeta::default()
                    },
                    ..EndpointSlice::default()
                };
                fill(&mut slice, want, &labels);
                api.create(&slice, &PostParams::default())
                    .await
                    .map_err(Error::client("creating an endpoint slice", &svc))?;
            }
        }
    }
    for stale in existing.into_iter().flatten() {
        let slice_name = stale.metadata.name.clone().unwrap_or_default();
        let params = DeleteParams {
            precondition_uid: stale.metadata.uid.clone(),
            ..DeleteParams::default()
        };
        match api.delete(&slice_name, &params).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::client("deleting an endpoint slice", &svc)(e)),
        }
    }
    Ok(Action::await_change())
}
