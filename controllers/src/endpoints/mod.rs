//! The Endpoints and EndpointSlice controllers: for every Service with a selector, the
//! addresses of the pods it selects, as a core/v1 `Endpoints` of the same name
//! ([`run_endpoints`]) and as `discovery.k8s.io/v1` EndpointSlices ([`run_slices`]).
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! use skiff_controllers::endpoints;
//! let both = futures::stream::select(
//!     endpoints::run_endpoints(client.clone()),
//!     endpoints::run_slices(client),
//! );
//! both.for_each(|_| async {}).await;
//! # }
//! ```
//!
//! # What is published
//! - Pods of the service's namespace whose labels match its selector, with a pod IP
//!   and not finished (`Succeeded`/`Failed`). Pods without an IP are skipped.
//! - Ports: each service port's `targetPort`, a number or the name of a container
//!   port of the pod (with the same protocol); a pod lacking a named port is left
//!   out of that port.
//! - Endpoints: ready pods in `addresses`, others in `notReadyAddresses`; terminating
//!   pods are dropped. With `publishNotReadyAddresses`, every pod (terminating ones
//!   too) is in `addresses`.
//! - EndpointSlices: conditions `ready`, `serving` and `terminating` per endpoint; at
//!   most [`slice_content::MAX_ENDPOINTS_PER_SLICE`] endpoints per slice; labels
//!   `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`;
//!   owned by the Service (the garbage collector removes them with it).
//! - Services without a selector are left alone: their Endpoints are the user's.
//!
//! # Organization
//! - [`members`]: which pods back a service. [`ports`]: `targetPort` resolution.
//! - [`subsets`] and [`slice_content`]: the desired state, pure functions.
//! - `endpoints_controller.rs` and `slice_controller.rs`: the reconciles.

mod endpoints_controller;
pub mod members;
pub mod ports;
pub mod slice_content;
mod slice_controller;
pub mod subsets;

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use skiff_core::client::{ClientError, ObjectTarget, ResourceRef};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::watcher::{self, Event};
use skiff_core::runtime::{Controller, ObjectRef};
use tokio::sync::mpsc;

pub use endpoints_controller::run as run_endpoints;
pub use slice_controller::run as run_slices;
pub use slice_controller::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, SERVICE_NAME_LABEL};

/// What a reconcile of a service's endpoints failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client call failed.
    #[error("{action} for service {service}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The service (`namespace/name`).
        service: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

impl Error {
    fn client(action: &'static str, service: &Service) -> impl FnOnce(ClientError) -> Error {
        let service = ObjectRef::from_obj(service).to_string();
        move |source| Error::Client {
            action,
            service,
            source,
        }
    }
}

/// What both controllers start from: a Service controller that also reconciles a
/// service when a pod of its namespace changes, the pod cache, and the services
/// deleted (for clean-up the controller's reconciles never see).
struct Watched {
    controller: Controller<Service>,
    pods: Store<Pod>,
    deleted: mpsc::UnboundedReceiver<Service>,
}

fn watch_services_and_pods(client: &Arc<dyn skiff_core::client::Client>) -> Watched {
    let (tx, deleted) = mpsc::unbounded_channel();
    let svc_writer = Writer::<Service>::by_namespace();
    let services = svc_writer.as_reader();
    let svc_target = ObjectTarget::collection(&ResourceRef::of::<Service>(), None);
    let svc_events =
        watcher::watcher::<Service>(client.clone(), svc_target, watcher::Config::default())
            .inspect(move |event| {
                if let Ok(Event::Delete(svc)) = event {
                    // A closed receiver means the controller is stopping.
                    let _ = tx.send(svc.clone());
                }
            })
            .boxed();
    let controller = Controller::for_stream(client.clone(), svc_writer, svc_events, "Service", "");

    let pod_writer = Writer::<Pod>::by_namespace();
    let pods = pod_writer.as_reader();
    let pod_events = reflector::watch_all(client.clone(), pod_writer);
    // Every selecting service of the pod's namespace: a pod whose labels changed may
    // have left a service, and the event carries only the new labels.
    let controller = controller.watches_stream(pod_events, move |pod: &Pod| {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        services
            .by_index(index::NAMESPACE, &ns)
            .iter()
            .filter(|s| members::selector(s).is_some())
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect()
    });
    Watched {
        controller,
        pods,
        deleted,
    }
}

/// A stream that runs `task` and yields nothing: merged into a controller's result
/// stream, it lives and dies with it.
fn background<T: Send + 'static>(
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> BoxStream<'static, T> {
    futures::stream::once(task)
        .filter_map(|()| async { None })
        .boxed()
}
