//! The ServiceAccount controller: a `default` ServiceAccount in every active
//! namespace, created when the namespace appears and again whenever it is deleted.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! skiff_controllers::serviceaccount::run(client).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! Terminating namespaces are skipped (the API server refuses new objects in them).

use std::sync::Arc;

use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_core::client::{Api, Client, ClientError, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::{watcher, Controller, ObjectRef};

/// The ServiceAccount every namespace gets.
pub const DEFAULT_NAME: &str = "default";

/// What a reconcile of a namespace failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or creating the service account failed.
    #[error("ensuring {namespace}/default service account: {source}")]
    Client {
        /// The namespace.
        namespace: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
}

/// Runs the ServiceAccount controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let ctx = Arc::new(Context {
        client: client.clone(),
    });
    Controller::<Namespace>::new(client, None, watcher::Config::default())
        .watches::<ServiceAccount>(
            None,
            watcher::Config::default().fields(&format!("metadata.name={DEFAULT_NAME}")),
            |sa| {
                sa.metadata
                    .namespace
                    .as_deref()
                    .map(|ns| vec![ObjectRef::new(ns)])
                    .unwrap_or_default()
            },
        )
        .concurrency(2)
        .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn is_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

/// Creates the namespace's `default` ServiceAccount when it is missing.
pub async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !is_active(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.metadata.name.clone().unwrap_or_default();
    let err = |source| Error::Client {
        namespace: name.clone(),
        source,
    };
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    if api.get_opt(DEFAULT_NAME).await.map_err(err)?.is_some() {
        return Ok(Action::await_change());
    }
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT_NAME.into()),
            namespace: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    match api.create(&sa, &PostParams::default()).await {
        Ok(_) => {
            tracing::debug!(namespace = %name, "created default service account");
            Ok(Action::await_change())
        }
        Err(e) if e.is_conflict() => Ok(Action::await_change()),
        // The namespace started terminating meanwhile: nothing to do.
        Err(e) if e.code() == Some(403) => Ok(Action::await_change()),
        Err(e) => Err(err(e)),
    }
}
