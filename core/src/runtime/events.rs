//! [`Recorder`]: writes core/v1 Events about objects, the lines `kubectl describe`
//! shows under "Events", aggregating repeats into one Event with a growing `count`.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>, rs: k8s_openapi::api::apps::v1::ReplicaSet) {
//! use skiff_core::runtime::events::{EventType, Recorder, Reporter};
//! let recorder = Recorder::new(client, Reporter::new("replicaset-controller"));
//! recorder
//!     .publish(&Recorder::reference_of(&rs), EventType::Normal, "SuccessfulCreate", "Created pod: web-x7k2p")
//!     .await
//!     .ok();
//! # }
//! ```
//!
//! Aggregation: an Event with the same object, type, reason and message as one this
//! recorder wrote before gets its `count` bumped and `lastTimestamp` moved (a merge
//! patch) instead of a new Event; if that Event is gone (expired), a new one is made.
//! As in client-go, similar events with different messages are combined and each
//! object's events are rate-limited per recorder ([`correlator`]), so a controller
//! creating thousands of pods writes a few dozen Events, not thousands.

pub mod correlator;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use serde_json::json;

use crate::client::{Api, Client, ClientError, Patch, PatchParams, PostParams};

/// Who reports the events (`source.component`, `reportingController`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reporter {
    /// The controller's name, such as `replicaset-controller`.
    pub controller: String,
    /// This instance (a host name), if known.
    pub instance: Option<String>,
}

impl Reporter {
    /// A reporter named `controller`.
    pub fn new(controller: &str) -> Self {
        Reporter {
            controller: controller.to_owned(),
            instance: None,
        }
    }
}

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something a user may want to look at.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// The key repeats are aggregated by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct EventKey {
    namespace: String,
    object: (String, String, String),
    kind: EventType,
    reason: String,
    message: String,
}

/// What a recorder remembers of an Event it wrote.
#[derive(Clone, Debug)]
struct Written {
    name: String,
    count: i32,
}

/// Writes Events through the client. Cheap to clone (clones share the aggregation
/// cache).
#[derive(Clone)]
pub struct Recorder {
    client: Arc<dyn Client>,
    reporter: Reporter,
    /// Events written, by aggregation key. Bounded: cleared when it grows past
    /// [`MAX_REMEMBERED`].
    written: Arc<Mutex<HashMap<EventKey, Written>>>,
    /// Combines similar events and drops spam.
    correlator: Arc<Mutex<correlator::Correlator>>,
}

/// How many distinct events a recorder remembers for aggregation.
pub const MAX_REMEMBERED: usize = 4096;

impl Recorder {
    /// A recorder reporting as `reporter`.
    pub fn new(client: Arc<dyn Client>, reporter: Reporter) -> Self {
        Recorder {
            client,
            reporter,
            written: Arc::new(Mutex::new(HashMap::new())),
            correlator: Arc::default(),
        }
    }

    /// The `ObjectReference` of a typed object.
    pub fn reference_of<K>(obj: &K) -> ObjectReference
    where
        K: k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    {
        let meta = obj.metadata();
        ObjectReference {
            api_version: Some(K::API_VERSION.to_owned()),
            kind: Some(K::KIND.to_owned()),
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..ObjectReference::default()
        }
    }

    /// Records an event about `object`. Returns the Event as stored, or `None` when
    /// the spam filter dropped it ([`correlator`]).
    pub async fn publish(
        &self,
        object: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) -> Result<Option<Event>, ClientError> {
        let namespace = object
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let verdict = self
            .correlator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .correlate(
                &self.reporter.controller,
                (
                    object.kind.as_deref().unwrap_or_default(),
                    &namespace,
                    object.name.as_deref().unwrap_or_default(),
                    object.uid.as_deref().unwrap_or_default(),
                ),
                kind.as_str(),
                reason,
                message,
            );
        let (message, aggregated) = match verdict {
            correlator::Verdict::Drop => return Ok(None),
            correlator::Verdict::Write {
                message,
                aggregated,
            } => (message, aggregated),
        };
        let key = EventKey {
            namespace: namespace.clone(),
            object: (
                object.kind.clone().unwrap_or_default(),
                object.name.clone().unwrap_or_default(),
                object.uid.clone().unwrap_or_default(),
            ),
            kind,
            reason: reason.to_owned(),
            // Combined events of one reason share one Event.
            message: if aggregated {
                correlator::COMBINED_PREFIX.to_owned()
            } else {
                message.clone()
            },
        };
        let now = super::now();
        let previous = self.remembered(&key);
        if let Some(prev) = previous {
            let count = prev.count.saturating_add(1);
            let patch = json!({"count": count, "lastTimestamp": Time(now), "message": message});
            match events
                .patch(&prev.name, &Patch::Merge(patch), &PatchParams::default())
                .await
            {
                Ok(event) => {
                    self.remember(key, &prev.name, count);
                    return Ok(Some(event));
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            object.name.as_deref().unwrap_or("event"),
            now.as_nanosecond()
        );
        let mut event = Event {
            involved_object: object.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(kind.as_str().to_owned()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            reporting_component: Some(self.reporter.controller.clone()),
            reporting_instance: self.reporter.instance.clone(),
            source: Some(EventSource {
                component: Some(self.reporter.controller.clone()),
                host: self.reporter.instance.clone(),
            }),
            action: Some(reason.to_owned()),
            ..Event::default()
        };
        event.metadata.name = Some(name.clone());
        event.metadata.namespace = Some(namespace);
        let created = events.create(&event, &PostParams::default()).await?;
        self.remember(key, &name, 1);
        Ok(Some(created))
    }

    fn remembered(&self, key: &EventKey) -> Option<Written> {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn remember(&self, key: EventKey, name: &str, count: i32) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.len() >= MAX_REMEMBERED && !written.contains_key(&key) {
            written.clear();
        }
        written.insert(
            key,
            Written {
                name: name.to_owned(),
                count,
            },
        );
    }
}
