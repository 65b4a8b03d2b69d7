//! The kubelet's events: what `kubectl describe pod` lists under "Events" for the
//! node agent's work on a pod (Pulled, Created, Started, Killing, BackOff, Unhealthy,
//! Failed, FailedMount, FailedPostStartHook, FailedPreStopHook, ...), written with
//! source component `kubelet` and host = the node's name.
//!
//! [`EventSink::start`] spawns one writer task per agent that publishes the events,
//! in order, through the core runtime's [`Recorder`] (which aggregates repeats and
//! rate-limits per pod). Recording never blocks or fails pod handling: the workers
//! hand events over with `try_send`; when the queue is full, or the API refuses an
//! Event, the event is dropped and logged.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>, pod: k8s_openapi::api::core::v1::Pod) {
//! use skiff_node::agent::events::{messages, reasons, EventSink, PodEvents};
//! use skiff_core::runtime::events::EventType;
//!
//! let (sink, writer) = EventSink::start(client, "node-1");
//! let events = PodEvents::new(sink, &pod);
//! events.container("web", false, EventType::Normal, reasons::STARTED, &messages::started("web"));
//! drop(events);
//! writer.finish(std::time::Duration::from_secs(5)).await;
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use skiff_core::client::Client;
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use tokio::sync::mpsc;

/// The events waiting for the writer, per agent.
pub const QUEUE_CAPACITY: usize = 1024;

/// The event reasons the kubelet uses (pkg/kubelet/events).
pub mod reasons {
    /// A container was created.
    pub const CREATED: &str = "Created";
    /// A container was started.
    pub const STARTED: &str = "Started";
    /// A container could not be created or started, or its image not pulled.
    pub const FAILED: &str = "Failed";
    /// A container is being stopped.
    pub const KILLING: &str = "Killing";
    /// A failed container waits before its restart.
    pub const BACK_OFF: &str = "BackOff";
    /// The image is being pulled.
    pub const PULLING: &str = "Pulling";
    /// The image was pulled or is present.
    pub const PULLED: &str = "Pulled";
    /// The image could not be inspected.
    pub const INSPECT_FAILED: &str = "InspectFailed";
    /// The image is absent and cannot be pulled.
    pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
    /// A probe failed.
    pub const UNHEALTHY: &str = "Unhealthy";
    /// The pod's volumes could not be set up.
    pub const FAILED_MOUNT: &str = "FailedMount";
    /// The pod's sandbox could not be created.
    pub const FAILED_CREATE_SANDBOX: &str = "FailedCreatePodSandBox";
    /// A postStart hook failed.
    pub const FAILED_POST_START_HOOK: &str = "FailedPostStartHook";
    /// A preStop hook failed.
    pub const FAILED_PRE_STOP_HOOK: &str = "FailedPreStopHook";
}

/// The kubelet's message texts.
pub mod messages {
    use std::time::Duration;

    /// `Container image "busybox" already present on machine`.
    pub fn image_present(image: &str) -> String {
        format!("Container image {image:?} already present on machine")
    }

    /// `Pulling image "busybox"`.
    pub fn pulling(image: &str) -> String {
        format!("Pulling image {image:?}")
    }

    /// `Successfully pulled image "busybox" in 1.2s`.
    pub fn pulled(image: &str, took: Duration) -> String {
        format!("Successfully pulled image {image:?} in {took:?}")
    }

    /// `Failed to pull image "busybox": why`.
    pub fn pull_failed(image: &str, why: &str) -> String {
        format!("Failed to pull image {image:?}: {why}")
    }

    /// `Created container: web`.
    pub fn created(container: &str) -> String {
        format!("Created container: {container}")
    }

    /// `Started container web`.
    pub fn started(container: &str) -> String {
        format!("Started container {container}")
    }

    /// `Stopping container web`.
    pub fn stopping(container: &str) -> String {
        format!("Stopping container {container}")
    }

    /// `Error: why` (a container that could not be created or started).
    pub fn error(why: &str) -> String {
        format!("Error: {why}")
    }

    /// `Back-off restarting failed container web in pod web-0_default(uid)`.
    pub fn back_off(container: &str, pod: &str, namespace: &str, uid: &str) -> String {
        format!("Back-off restarting failed container {container} in pod {pod}_{namespace}({uid})")
    }

    /// `Liveness probe failed: output` (`probe` is `Liveness`, `Readiness` or
    /// `Startup`).
    pub fn probe_failed(probe: &str, output: &str) -> String {
        format!("{probe} probe failed: {output}")
    }

    /// `Container web failed liveness probe, will be restarted`.
    pub fn probe_kill(container: &str, probe: &str, restarted: bool) -> String {
        let then = if restarted { ", will be restarted" } else { "" };
        format!("Container {container} failed {probe} probe{then}")
    }

    /// `Failed to create pod sandbox: why`.
    pub fn sandbox_failed(why: &str) -> String {
        format!("Failed to create pod sandbox: {why}")
    }
}

/// One event on its way to the writer.
struct Pending {
    object: ObjectReference,
    kind: EventType,
    reason: &'static str,
    message: String,
}

/// Hands events to the agent's writer task. Cheap to clone; [`EventSink::disabled`]
/// records nothing.
#[derive(Clone, Default)]
pub struct EventSink {
    tx: Option<mpsc::Sender<Pending>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("enabled", &self.tx.is_some())
            .finish()
    }
}

impl EventSink {
    /// Spawns the writer (on the current tokio runtime) reporting as `kubelet` on
    /// `node`. It ends once every clone of the sink is dropped and the queue is
    /// written.
    pub fn start(client: Arc<dyn Client>, node: &str) -> (Self, EventWriter) {
        let mut reporter = Reporter::new("kubelet");
        reporter.instance = Some(node.to_owned());
        let recorder = Recorder::new(client, reporter);
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(write(recorder, rx));
        (EventSink { tx: Some(tx) }, EventWriter { task })
    }

    /// A sink that records nothing (`AgentConfig::record_events` off).
    pub fn disabled() -> Self {
        EventSink { tx: None }
    }

    fn send(&self, pending: Pending) {
        let Some(tx) = &self.tx else { return };
        if let Err(e) = tx.try_send(pending) {
            let (why, p) = match e {
                mpsc::error::TrySendError::Full(p) => ("the event queue is full", p),
                mpsc::error::TrySendError::Closed(p) => ("the event writer ended", p),
            };
            tracing::debug!(reason = p.reason, message = %p.message, "dropping a kubelet event: {why}");
        }
    }
}

/// The writer task of an [`EventSink`].
#[derive(Debug)]
pub struct EventWriter {
    task: tokio::task::JoinHandle<()>,
}

impl EventWriter {
    /// Waits, at most `within`, for the writer to write what is queued (it ends once
    /// every clone of its sink is dropped); then abandons the rest.
    pub async fn finish(self, within: Duration) {
        let abort = self.task.abort_handle();
        if tokio::time::timeout(within, self.task).await.is_err() {
            tracing::debug!("abandoning kubelet events not yet written");
            abort.abort();
        }
    }
}

async fn write(recorder: Recorder, mut rx: mpsc::Receiver<Pending>) {
    while let Some(p) = rx.recv().await {
        if let Err(e) = recorder
            .publish(&p.object, p.kind, p.reason, &p.message)
            .await
        {
            tracing::warn!(
                pod = ?p.object.name,
                reason = p.reason,
                error = %e,
                "recording a kubelet event failed"
            );
        }
    }
}

/// The events of one pod.
#[derive(Clone, Debug)]
pub struct PodEvents {
    sink: EventSink,
    pod: ObjectReference,
}

impl PodEvents {
    /// Events about `pod`, through `sink`.
    pub fn new(sink: EventSink, pod: &Pod) -> Self {
        PodEvents {
            sink,
            pod: Recorder::reference_of(pod),
        }
    }

    /// An event about the pod itself.
    pub fn pod(&self, kind: EventType, reason: &'static str, message: &str) {
        self.sink.send(Pending {
            object: self.pod.clone(),
            kind,
            reason,
            message: message.to_owned(),
        });
    }

    /// An event about one of the pod's containers (an init container when `init`).
    pub fn container(
        &self,
        name: &str,
        init: bool,
        kind: EventType,
        reason: &'static str,
        message: &str,
    ) {
        self.sink.send(Pending {
            object: container_reference(&self.pod, name, init),
            kind,
            reason,
            message: message.to_owned(),
        });
    }
}

/// The pod's reference with the container's `fieldPath`, as the kubelet's
/// `GenerateContainerRef`: `spec.containers{web}` or `spec.initContainers{setup}`.
pub fn container_reference(pod: &ObjectReference, name: &str, init: bool) -> ObjectReference {
    let list = if init { "initContainers" } else { "containers" };
    ObjectReference {
        field_path: Some(format!("spec.{list}{{{name}}}")),
        ..pod.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_references_name_the_field() {
        let pod = ObjectReference {
            kind: Some("Pod".into()),
            name: Some("web".into()),
            ..ObjectReference::default()
        };
        let c = container_reference(&pod, "app", false);
        assert_eq!(c.field_path.as_deref(), Some("spec.containers{app}"));
        assert_eq!(c.name.as_deref(), Some("web"));
        let i = container_reference(&pod, "setup", true);
        assert_eq!(i.field_path.as_deref(), Some("spec.initContainers{setup}"));
    }

    #[test]
    fn messages_read_like_the_kubelet() {
        assert_eq!(
            messages::image_present("busybox"),
            "Container image \"busybox\" already present on machine"
        );
        assert_eq!(messages::created("c"), "Created container: c");
        assert_eq!(messages::started("c"), "Started container c");
        assert_eq!(messages::stopping("c"), "Stopping container c");
        assert_eq!(
            messages::back_off("c", "p", "default", "u1"),
            "Back-off restarting failed container c in pod p_default(u1)"
        );
        assert_eq!(
            messages::probe_failed("Liveness", "exit code 1"),
            "Liveness probe failed: exit code 1"
        );
        assert_eq!(
            messages::probe_kill("c", "liveness", true),
            "Container c failed liveness probe, will be restarted"
        );
        assert_eq!(
            messages::pulled("i", Duration::from_millis(1500)),
            "Successfully pulled image \"i\" in 1.5s"
        );
    }
}
