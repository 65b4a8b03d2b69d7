//! The client trait: the one door every component (controllers, scheduler, node agent,
//! proxy, users' own code) uses to reach the cluster.
//!
//! Components never import the API server or the store; they hold an
//! `Arc<dyn Client>`. Which implementation sits behind it decides where the cluster is:
//! the API server in the same process (no sockets), a remote Skiff API server over
//! HTTPS, or a real Kubernetes cluster.
//!
//! # Organization
//! - [`Client`]: the verbs on dynamic objects (`serde_json::Value`), addressed by an
//!   [`ObjectTarget`] (resource, namespace, name, subresource).
//! - [`params`]: the options of each verb ([`ListParams`], [`PostParams`],
//!   [`PatchParams`], [`DeleteParams`], [`LogParams`]) and [`Patch`].
//! - [`WatchEvent`] and [`WatchStream`]: what a watch yields; [`SharedWatchStream`]:
//!   the same events with objects shared behind an `Arc` ([`Client::watch_shared`]).
//! - [`Api`]: typed access with k8s-openapi types over any `Client`.
//! - [`ClientError`]: every failure; API errors keep their Kubernetes `Status`.
//! - [`request`]: the HTTP request of each verb, built without I/O.
//! - [`ServiceClient`]: the trait over any tower `Service` speaking HTTP (hyper's
//!   client, or the API server's router in-process: `skiff_api::ApiServer::client`).
//! - `https` (feature `https`): [`ServiceClient`] over HTTPS from a kubeconfig.
//! - `conformance` (feature `conformance`): the contract every implementation passes.
//!
//! # Contract of every implementation
//! - Objects go in and come out as the API serves them: JSON objects with `apiVersion`
//!   and `kind`. Lists come back as a list object (`items`, `metadata.resourceVersion`,
//!   `metadata.continue`).
//! - An error the API server answered (404, 409, 422, 410 on a watch...) is
//!   [`ClientError::Api`] with the server's `Status` decoded, never a transport error.
//! - A watch stream ends when the server ends it (timeout) or the connection drops; a
//!   `410 Gone` during the watch arrives as [`WatchEvent::Error`] and then the stream
//!   ends. Restarting is the caller's job (the runtime's watcher does it).
//!
//! ```
//! use skiff_core::client::{ObjectTarget, ResourceRef};
//! let pods = ResourceRef::new("", "v1", "pods", true);
//! let target = ObjectTarget::object(&pods, Some("default"), "web").with_subresource("status");
//! assert_eq!(target.path().unwrap(), "/api/v1/namespaces/default/pods/web/status");
//! ```

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
#[cfg(feature = "https")]
pub mod https;
mod lines;
pub mod params;
pub mod request;
mod service;
mod target;
mod typed;
mod watch;

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::Value;

pub use error::ClientError;
pub use lines::{LineBuffer, LineTooLong, MAX_LINE_BYTES};
pub use params::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
pub use service::{error_from_body, BoxError, ServiceClient};
pub use target::{ObjectTarget, ResourceRef};
pub use typed::{either_object, Api, ObjectList};
pub use watch::{SharedWatchStream, WatchEvent, WatchStream};

/// A stream of bytes (a pod's log).
pub type ByteStream = BoxStream<'static, Result<bytes::Bytes, ClientError>>;

/// Access to a Kubernetes API: the REST verbs on dynamic objects.
///
/// Each method addresses a collection or an object through an [`ObjectTarget`]; a
/// target with a subresource (`status`, `scale`, `binding`, `eviction`) reaches that
/// subresource with the same verbs (`get`/`replace`/`patch` for status and scale,
/// `create` for binding and eviction).
#[async_trait]
pub trait Client: Send + Sync + 'static {
    /// Reads one object (or an object's subresource). `target.name` is required.
    async fn get(&self, target: &ObjectTarget) -> Result<Value, ClientError>;

    /// Lists a collection (`target.name` must be empty). Returns the list object.
    async fn list(&self, target: &ObjectTarget, params: &ListParams) -> Result<Value, ClientError>;

    /// Watches a collection from `params.resource_version` (or from now, with the
    /// current state as ADDED events first, when it is empty: Kubernetes' semantics).
    async fn watch(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<WatchStream, ClientError>;

    /// The same watch as [`Client::watch`] (same events, errors and end), each object
    /// behind an `Arc`. The objects may be shared with the server's cache (and with
    /// every other watcher of the same events); never mutate through them (the `Arc`
    /// gives no `&mut` while shared). For readers that decode each object into their
    /// own type ([`WatchEvent::decode`] reads from `&Value`), such as the runtime's
    /// watcher: they need no copy of the object.
    ///
    /// The default wraps [`Client::watch`] (one `Arc::new` per object, no copy); an
    /// implementation holding the objects already (the API server's in-process client)
    /// hands out its own `Arc`s.
    async fn watch_shared(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<SharedWatchStream, ClientError> {
        let stream = self.watch(target, params).await?;
        Ok(stream.map(|event| event.map(|e| e.map(Arc::new))).boxed())
    }

    /// Creates an object in the target collection; with a subresource (`binding`,
    /// `eviction`), posts to that subresource of `target.name`.
    async fn create(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError>;

    /// Replaces an object (or its `status` / `scale`); `metadata.resourceVersion`, when
    /// set, makes it a compare-and-swap (409 on a stale version).
    async fn replace(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError>;

    /// Patches an object (or a subresource) with any of the four patch types.
    async fn patch(
        &self,
        target: &ObjectTarget,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Value, ClientError>;

    /// Deletes an object. Returns the object as it is after the call (still present,
    /// with a `deletionTimestamp`, while finalizers or a grace period hold it) or the
    /// server's `Status` when it is gone.
    async fn delete(
        &self,
        target: &ObjectTarget,
        params: &DeleteParams,
    ) -> Result<Value, ClientError>;

    /// Deletes every object of a collection that `list` selects.
    async fn delete_collection(
        &self,
        target: &ObjectTarget,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<Value, ClientError>;

    /// Streams a pod's log (`target` is the pod; its subresource is ignored).
    async fn logs(
        &self,
        target: &ObjectTarget,
        params: &LogParams,
    ) -> Result<ByteStream, ClientError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ApiError;
    use serde_json::json;

    /// A client whose watches answer a fixed script of events (or a refusal).
    struct ScriptedWatch {
        refuse: bool,
    }

    fn unsupported() -> ClientError {
        ClientError::InvalidRequest("not scripted".into())
    }

    fn script() -> Vec<Result<WatchEvent, ClientError>> {
        vec![
            Ok(WatchEvent::Added(json!({"metadata": {"name": "a"}}))),
            Ok(WatchEvent::Modified(
                json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
            )),
            Ok(WatchEvent::Bookmark(
                json!({"metadata": {"resourceVersion": "7"}}),
            )),
            Ok(WatchEvent::Deleted(json!({"metadata": {"name": "a"}}))),
            Ok(WatchEvent::Error(ApiError::expired(
                "too old resource version",
            ))),
            Err(ClientError::Transport("connection reset".into())),
        ]
    }

    #[async_trait]
    impl Client for ScriptedWatch {
        async fn get(&self, _: &ObjectTarget) -> Result<Value, ClientError> {
            Err(unsupported())
        }
        async fn list(&self, _: &ObjectTarget, _: &ListParams) -> Result<Value, ClientError> {
            Err(unsupported())
        }
        async fn watch(
            &self,
            _: &ObjectTarget,
            _: &ListParams,
        ) -> Result<WatchStream, ClientError> {
            if self.refuse {
                return Err(ApiError::expired("too old resource version").into());
            }
            Ok(futures::stream::iter(script()).boxed())
        }
        async fn create(
            &self,
            _: &ObjectTarget,
            _: Value,
            _: &PostParams,
        ) -> Result<Value, ClientError> {
            Err(unsupported())
        }
        async fn replace(
            &self,
            _: &ObjectTarget,
            _: Value,
            _: &PostParams,
        ) -> Result<Value, ClientError> {
            Err(unsupported())
        }
        async fn patch(
            &self,
            _: &ObjectTarget,
            _: &Patch,
            _: &PatchParams,
        ) -> Result<Value, ClientError> {
            Err(unsupported())
        }
        async fn delete(&self, _: &ObjectTarget, _: &DeleteParams) -> Result<Value, ClientError> {
            Err(unsupported())
        }
        async fn delete_collection(
            &self,
            _: &ObjectTarget,
            _: &ListParams,
            _: &DeleteParams,
        ) -> Result<Value, ClientError> {
            Err(unsupported())
        }
        async fn logs(&self, _: &ObjectTarget, _: &LogParams) -> Result<ByteStream, ClientError> {
            Err(unsupported())
        }
    }

    fn configmaps() -> ObjectTarget {
        ObjectTarget::collection(&ResourceRef::new("", "v1", "configmaps", true), None)
    }

    #[tokio::test]
    async fn default_watch_shared_passes_events_and_errors_through() {
        let client = ScriptedWatch { refuse: false };
        let shared: Vec<_> = client
            .watch_shared(&configmaps(), &ListParams::default())
            .await
            .expect("the watch starts")
            .collect()
            .await;
        let expected = script();
        assert_eq!(shared.len(), expected.len());
        for (got, want) in shared.into_iter().zip(expected) {
            match (got, want) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got.map(Arc::unwrap_or_clone), want)
                }
                (Err(got), Err(want)) => assert_eq!(got.to_string(), want.to_string()),
                (got, want) => panic!("{got:?} where {want:?} was sent"),
            }
        }
    }

    #[tokio::test]
    async fn default_watch_shared_keeps_a_refusal() {
        let client = ScriptedWatch { refuse: true };
        match client
            .watch_shared(&configmaps(), &ListParams::default())
            .await
        {
            Err(e) => assert!(e.is_gone(), "{e:?}"),
            Ok(_) => panic!("a refused watch starts no stream"),
        }
    }
}
