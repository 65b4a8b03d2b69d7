//! [`ApiServer`]: the served resources (built-in and added later, such as custom
//! resources), their registries and watch caches, and the axum router over them.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::routing::any;
use axum::Router;
use serde_json::json;
use skiff_core::resource::{builtin_resources, ApiResource};
use skiff_core::status::ApiError;
use skiff_store::KvStore;

use crate::handler::{self, ResponseTransform};
use crate::registry::{Registry, WriteOptions};
use crate::strategy::{strategy_for, Strategy};
use crate::watch_cache::{WatchCache, WatchCacheConfig};

/// Settings of the API server.
#[derive(Clone)]
pub struct ApiServerConfig {
    /// Sizes and intervals of every resource's watch cache.
    pub watch_cache: WatchCacheConfig,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// How long a watch stays open when the client gives no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// Alternative representations of get/list responses (Tables, ...), if any.
    pub response_transform: Option<Arc<dyn ResponseTransform>>,
    /// Namespaces created at start when missing.
    pub initial_namespaces: Vec<String>,
    /// How to reach node agents for `pods/log`, `exec`, `attach` and `portforward`;
    /// `None` answers those with 503.
    pub kubelet_client: Option<crate::node_proxy::KubeletClientConfig>,
    /// The ranges Services' cluster IPs and node ports are allocated from
    /// (`--service-cluster-ip-range`, `--service-node-port-range`).
    pub service_ranges: crate::service_alloc::Ranges,
    /// How long pods tolerate not-ready and unreachable nodes by default
    /// (`--default-not-ready-toleration-seconds`,
    /// `--default-unreachable-toleration-seconds`).
    pub default_toleration_seconds: crate::strategy::default_tolerations::TolerationSeconds,
    /// Pods take their priority from their PriorityClass (kube's `Priority` admission
    /// plugin; `--disable-admission-plugins=Priority` turns it off, as kube's
    /// scheduler integration tests do to give pods raw priorities).
    pub priority_admission: bool,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            watch_cache: WatchCacheConfig::default(),
            max_body_bytes: handler::MAX_BODY_BYTES,
            default_watch_timeout: Duration::from_secs(1800),
            response_transform: None,
            initial_namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .map(str::to_owned)
                .to_vec(),
            kubelet_client: None,
            service_ranges: crate::service_alloc::Ranges::default(),
            default_toleration_seconds: Default::default(),
            priority_admission: true,
        }
    }
}

impl std::fmt::Debug for ApiServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerConfig")
            .field("watch_cache", &self.watch_cache)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("default_watch_timeout", &self.default_watch_timeout)
            .field("service_ranges", &self.service_ranges)
            .field(
                "default_toleration_seconds",
                &self.default_toleration_seconds,
            )
            .finish_non_exhaustive()
    }
}

/// One served resource: its descriptor, registry and watch cache.
#[derive(Debug)]
pub struct ServedResource {
    /// The descriptor (what discovery lists).
    pub resource: ApiResource,
    /// Its storage.
    pub registry: Arc<Registry>,
    /// Its watch cache.
    pub cache: WatchCache,
}

struct Inner {
    store: Arc<dyn KvStore>,
    config: ApiServerConfig,
    /// The served resources; replaced as a whole when one is added or removed.
    served: RwLock<Arc<Vec<Arc<ServedResource>>>>,
}

/// The API server: the Kubernetes REST API over a [`KvStore`]. Cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

/// A handle on an [`ApiServer`] that does not keep it alive (for the server's own
/// background tasks, which end with it).
#[derive(Clone)]
pub struct WeakApiServer {
    inner: std::sync::Weak<Inner>,
}

impl WeakApiServer {
    /// The server, if it still exists.
    pub fn upgrade(&self) -> Option<ApiServer> {
        self.inner.upgrade().map(|inner| ApiServer { inner })
    }
}

impl std::fmt::Debug for WeakApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakApiServer").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").finish_non_exhaustive()
    }
}

/// The key prefix of a resource: `/registry/{plural}/` for built-ins, group-qualified
/// for custom resources and for built-ins whose plural the core group already uses
/// (`events.k8s.io` events).
fn storage_prefix(resource: &ApiResource, builtin: &[ApiResource]) -> String {
    let is_builtin = builtin
        .iter()
        .any(|r| r.group == resource.group && r.plural == resource.plural);
    let core_has_plural = builtin
        .iter()
        .any(|r| r.group.is_empty() && r.plural == resource.plural);
    if resource.group.is_empty() || (is_builtin && !core_has_plural) {
        format!("/registry/{}/", resource.plural)
    } else {
        format!("/registry/{}/{}/", resource.group, resource.plural)
    }
}

impl ApiServer {
    /// Starts the server's resources over `store`: a registry and a watch cache per
    /// built-in resource, and the initial namespaces.
    pub async fn new(
        store: Arc<dyn KvStore>,
        config: ApiServerConfig,
    ) -> Result<ApiServer, ApiError> {
        let server = ApiServer {
            inner: Arc::new(Inner {
                store,
                config,
                served: RwLock::new(Arc::new(Vec::new())),
            }),
        };
        for resource in builtin_resources() {
            if resource.group == crate::crd::CRD_GROUP {
                let strategy = Arc::new(crate::crd::DefinitionStrategy::new(&resource));
                server
                    .add_resource_with_strategy(resource, strategy)
                    .await?;
            } else {
                server.add_resource(resource).await?;
            }
        }
        server.create_initial_namespaces().await?;
        if let Some(classes) = server.find("scheduling.k8s.io", "v1", "priorityclasses") {
            crate::priority_admission::ensure_system_classes(&classes.registry).await?;
        }
        crate::crd::start(&server).await?;
        Ok(server)
    }

    async fn create_initial_namespaces(&self) -> Result<(), ApiError> {
        let Some(namespaces) = self.find("", "v1", "namespaces") else {
            return Ok(());
        };
        for name in &self.inner.config.initial_namespaces {
            let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            match namespaces
                .registry
                .create(None, ns, &WriteOptions::default())
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Serves a resource (a built-in, or a custom resource when its CRD is created):
    /// starts its watch cache. Replaces a resource with the same group, version and
    /// plural.
    pub async fn add_resource(&self, resource: ApiResource) -> Result<(), ApiError> {
        let strategy = Arc::new(
            strategy_for(&resource)
                .with_toleration_seconds(self.inner.config.default_toleration_seconds),
        );
        self.add_resource_with_strategy(resource, strategy).await
    }

    /// Serves a resource with its own [`Strategy`] (custom resources: schema
    /// validation, pruning, defaulting). Replaces a resource with the same group,
    /// version and plural.
    pub async fn add_resource_with_strategy(
        &self,
        resource: ApiResource,
        strategy: Arc<dyn Strategy>,
    ) -> Result<(), ApiError> {
        let builtin = builtin_resources();
        let prefix = storage_prefix(&resource, &builtin);
        let mut registry = Registry::new(
            self.inner.store.clone(),
            resource.clone(),
            prefix.clone(),
            strategy,
        );
        if resource.group.is_empty() && resource.plural == "services" {
            registry = registry.with_reservations(Arc::new(
                crate::service_alloc::ServiceReservations::new(self.inner.config.service_ranges),
            ));
        }
        if let Some(classes) = builtin
            .iter()
            .find(|r| r.group == "scheduling.k8s.io" && r.plural == "priorityclasses")
        {
            let classes_prefix = storage_prefix(classes, &builtin);
            if resource.group.is_empty()
                && resource.plural == "pods"
                && self.inner.config.priority_admission
            {
                registry = registry.with_admission(Arc::new(
                    crate::priority_admission::PodPriority::new(classes_prefix)
                        .with_cache_of(self.downgrade()),
                ));
            } else if resource.group == classes.group && resource.plural == classes.plural {
                registry = registry.with_admission(Arc::new(
                    crate::priority_admission::SingleGlobalDefault::new(classes_prefix),
                ));
            }
        }
        let cache = WatchCache::start_as(
            self.inner.store.clone(),
            prefix,
            self.inner.config.watch_cache.clone(),
            Some(resource.api_version()),
        )
        .await?;
        let registry = Arc::new(registry.with_offers(cache.offers()));
        let served = Arc::new(ServedResource {
            resource,
            registry,
            cache,
        });
        let mut table = self.inner.served.write().unwrap_or_else(|p| p.into_inner());
        let mut next: Vec<_> = table
            .iter()
            .filter(|s| {
                !(s.resource.group == served.resource.group
                    && s.resource.version == served.resource.version
                    && s.resource.plural == served.resource.plural)
            })
            .cloned()
            .collect();
        next.push(served);
        *table = Arc::new(next);
        Ok(())
    }

    /// Stops serving a resource (its CRD was deleted) and ends its watches. Stored
    /// objects stay in the store.
    pub fn remove_resource(&self, group: &str, version: &str, plural: &str) {
        let mut table = self.inner.served.write().unwrap_or_else(|p| p.into_inner());
        let (removed, kept): (Vec<_>, Vec<_>) = table.iter().cloned().partition(|s| {
            s.resource.group == group
                && s.resource.version == version
                && s.resource.plural == plural
        });
        *table = Arc::new(kept);
        drop(table);
        for served in removed {
            served.cache.close_watches();
        }
    }

    /// The descriptors of every resource served now (changes as resources are added).
    pub fn resources(&self) -> Vec<ApiResource> {
        self.served().iter().map(|s| s.resource.clone()).collect()
    }

    /// Every served resource.
    pub fn served(&self) -> Arc<Vec<Arc<ServedResource>>> {
        self.inner
            .served
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The served resource with this group, version and plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ServedResource>> {
        self.served()
            .iter()
            .find(|s| {
                s.resource.group == group
                    && s.resource.version == version
                    && s.resource.plural == plural
            })
            .cloned()
    }

    /// A handle that does not keep the server alive.
    pub fn downgrade(&self) -> WeakApiServer {
        WeakApiServer {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The store under the server.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.inner.store
    }

    /// The server's settings.
    pub fn config(&self) -> &ApiServerConfig {
        &self.inner.config
    }

    /// The router serving `/api/v1/...` and `/apis/{group}/{version}/...` resource
    /// paths (not `/api`, `/api/v1`, `/apis`, `/apis/{g}/{v}` themselves: discovery
    /// mounts those). Every unknown resource path answers a 404 `Status`.
    pub fn router(&self) -> Router {
        let core = self.clone();
        let grouped = self.clone();
        Router::new()
            .route(
                "/api/{version}/{*rest}",
                any(move |axum::extract::Path((version, rest)): axum::extract::Path<(String, String)>, req| {
                    let server = core.clone();
                    async move { handler::handle(server, String::new(), version, rest, req).await }
                }),
            )
            .route(
                "/apis/{group}/{version}/{*rest}",
                any(
                    move |axum::extract::Path((group, version, rest)): axum::extract::Path<(String, String, String)>, req| {
                        let server = grouped.clone();
                        async move { handler::handle(server, group, version, rest, req).await }
                    },
                ),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_prefixes() {
        let builtin = builtin_resources();
        let find = |g: &str, p: &str| {
            builtin
                .iter()
                .find(|r| r.group == g && r.plural == p)
                .unwrap()
                .clone()
        };
        assert_eq!(
            storage_prefix(&find("", "pods"), &builtin),
            "/registry/pods/"
        );
        assert_eq!(
            storage_prefix(&find("apps", "deployments"), &builtin),
            "/registry/deployments/"
        );
        assert_eq!(
            storage_prefix(&find("events.k8s.io", "events"), &builtin),
            "/registry/events.k8s.io/events/"
        );
        let mut crd = find("apps", "deployments");
        crd.group = "example.com".into();
        crd.plural = "widgets".into();
        assert_eq!(
            storage_prefix(&crd, &builtin),
            "/registry/example.com/widgets/"
        );
    }
}
