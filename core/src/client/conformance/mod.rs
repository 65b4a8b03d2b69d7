//! The contract of the [`Client`] trait as a runnable suite: every implementation
//! (in-process, HTTPS, an adapter over another client) must pass it against a running
//! API server. Enabled by the `conformance` feature.
//!
//! The suite works in a namespace of its own (created, and deleted at the end) and
//! checks, in order:
//! - create / get / list with label and field selectors, pagination with `continue`;
//! - get of a missing object is `NotFound`, a second create is `Conflict`;
//! - replace with a stale `resourceVersion` is `Conflict`;
//! - merge, JSON and strategic merge patches;
//! - the `status` subresource (replace), `scale` (get, patch) on a Deployment,
//!   `binding` and `eviction` (create) on Pods;
//! - delete answering a `Status` when the object is gone, the object while a
//!   finalizer holds it; delete_collection by label;
//! - watch from a resourceVersion (ADDED, MODIFIED, DELETED in order), and from a
//!   revision older than the server's watch window (410 Gone, as an error or as an
//!   `Error` event); `watch_shared` answering the same events and the same 410;
//! - empty names refused as [`ClientError::InvalidRequest`] before anything is sent.
//!
//! Every check runs even when an earlier one failed; the error lists each failure.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_core::client::conformance::{self, Config};
//! // The server keeps 4096 events per resource for watches (Skiff's default).
//! conformance::run(client, &Config::default()).await.expect("the client conforms");
//! # }
//! ```
//!
//! # Organization
//! - `objects.rs`: create, get, list, replace, patch, delete, delete_collection.
//! - `subresources.rs`: status, scale, binding.
//! - `watch.rs`: watches from a resourceVersion, and from one too old.

mod objects;
mod subresources;
mod watch;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{Client, ClientError, DeleteParams, ObjectTarget, PostParams, ResourceRef};

/// What the suite needs to know about the server under test.
#[derive(Clone, Debug)]
pub struct Config {
    /// How many events the server keeps per resource for watches from a past
    /// resourceVersion (Skiff: `ApiServerConfig::watch_cache.window`). The 410 check
    /// writes one more than this many events to age a revision out, so a small window
    /// keeps the suite fast.
    pub watch_window: usize,
    /// How long one check may take before it fails.
    pub check_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            watch_window: 4096,
            check_timeout: Duration::from_secs(60),
        }
    }
}

/// The failed checks of a run.
#[derive(Debug, thiserror::Error)]
#[error("{} conformance check(s) failed:{}", failures.len(), list(failures))]
pub struct SuiteError {
    /// `(check, why)` for each failed check.
    pub failures: Vec<(&'static str, String)>,
}

fn list(failures: &[(&'static str, String)]) -> String {
    failures
        .iter()
        .map(|(name, why)| format!("\n  {name}: {why}"))
        .collect()
}

/// What every check gets: the client, the suite's namespace, the settings.
pub(crate) struct Cx {
    pub client: Arc<dyn Client>,
    pub ns: String,
    pub config: Config,
}

/// The outcome of one check: `Err` says what was wrong.
pub(crate) type CheckResult = Result<(), String>;

type Check = for<'a> fn(&'a Cx) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

macro_rules! checks {
    ($($module:ident :: $name:ident),* $(,)?) => {
        [$((stringify!($name), (|cx| Box::pin($module::$name(cx))) as Check)),*]
    };
}

/// Fails the check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}
pub(crate) use ensure;

/// Runs every check against `client`; `Err` lists each failure.
pub async fn run(client: Arc<dyn Client>, config: &Config) -> Result<(), SuiteError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let cx = Cx {
        client,
        ns: format!("conformance-{nanos:x}"),
        config: config.clone(),
    };
    let mut failures = Vec::new();
    if let Err(e) = create_namespace(&cx).await {
        failures.push(("create_namespace", e));
        return Err(SuiteError { failures });
    }
    let all = checks![
        objects::create_get_list,
        objects::missing_and_duplicate,
        objects::stale_replace_conflicts,
        objects::patches,
        objects::delete_status_and_finalizers,
        objects::delete_collection,
        objects::empty_names_are_refused,
        subresources::status_replace,
        subresources::scale,
        subresources::binding,
        subresources::eviction,
        watch::events_in_order,
        watch::too_old_is_gone,
    ];
    for (name, check) in all {
        let outcome = tokio::time::timeout(cx.config.check_timeout, check(&cx)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push((name, why)),
            Err(_) => failures.push((
                name,
                format!("timed out after {:?}", cx.config.check_timeout),
            )),
        }
    }
    let namespaces = ResourceRef::new("", "v1", "namespaces", false);
    let _ = cx
        .client
        .delete(
            &ObjectTarget::object(&namespaces, None, &cx.ns),
            &DeleteParams::default(),
        )
        .await;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(SuiteError { failures })
    }
}

async fn create_namespace(cx: &Cx) -> CheckResult {
    let namespaces = ResourceRef::new("", "v1", "namespaces", false);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cx.ns}});
    cx.client
        .create(
            &ObjectTarget::collection(&namespaces, None),
            ns,
            &PostParams::default(),
        )
        .await
        .map(drop)
        .map_err(|e| format!("creating namespace {}: {e}", cx.ns))
}

impl Cx {
    pub fn configmaps(&self) -> ObjectTarget {
        ObjectTarget::collection(
            &ResourceRef::new("", "v1", "configmaps", true),
            Some(&self.ns),
        )
    }

    pub fn configmap(&self, name: &str) -> ObjectTarget {
        ObjectTarget::object(
            &ResourceRef::new("", "v1", "configmaps", true),
            Some(&self.ns),
            name,
        )
    }

    /// Creates a ConfigMap with `labels` and `data`.
    pub async fn create_configmap(
        &self,
        name: &str,
        labels: Value,
        data: Value,
    ) -> Result<Value, String> {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels},
            "data": data,
        });
        self.client
            .create(&self.configmaps(), cm, &PostParams::default())
            .await
            .map_err(|e| format!("creating configmap {name}: {e}"))
    }
}

/// `context: error` for a failed call.
pub(crate) fn call<T>(context: &str, r: Result<T, ClientError>) -> Result<T, String> {
    r.map_err(|e| format!("{context}: {e}"))
}

/// The object's `metadata.resourceVersion`.
pub(crate) fn resource_version(obj: &Value) -> Result<String, String> {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no metadata.resourceVersion in {obj}"))
}

/// The names of a list's items, in order.
pub(crate) fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
