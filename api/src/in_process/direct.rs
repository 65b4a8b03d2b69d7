//! [`InProcessClient`]: the [`Client`] trait on the API server's verb code, with values
//! instead of HTTP requests (see the [module docs](super)).

use async_trait::async_trait;
use futures::StreamExt;
use http::Method;
use serde_json::Value;
use skiff_core::client::{
    request, ByteStream, Client, ClientError, DeleteParams, ListParams, LogParams, ObjectTarget,
    Patch, PatchParams, PostParams, SharedWatchStream, WatchStream,
};
use tokio_stream::wrappers::ReceiverStream;

use super::events::{SharedEvents, ValueEvents};
use super::RouterClient;
use crate::handler::{self, QueryParams, ReplyBody, RequestBody, RequestContext, ResourcePath};
use crate::watch_cache::{serve_watch_as, WatchOutput};
use crate::ApiServer;

/// A client of an [`ApiServer`] in the same process that calls its handlers directly.
/// Cheap to clone.
#[derive(Clone)]
pub struct InProcessClient {
    server: ApiServer,
    /// For what only HTTP carries: node agent streams and `metrics.k8s.io`.
    http: RouterClient,
}

impl std::fmt::Debug for InProcessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessClient").finish_non_exhaustive()
    }
}

impl InProcessClient {
    /// The client of `server`.
    pub fn new(server: ApiServer) -> Self {
        let http = server.router_client();
        InProcessClient { server, http }
    }

    /// Whether calls on `target` go through the router: pods' node agent streams
    /// (`log`, `exec`, ...) and the `metrics.k8s.io` group, which only HTTP serves.
    fn routed(target: &ObjectTarget) -> bool {
        let resource = &target.resource;
        resource.group == crate::metrics_api::GROUP
            || (resource.group.is_empty()
                && resource.plural == "pods"
                && target
                    .subresource
                    .as_deref()
                    .is_some_and(crate::node_proxy::is_streaming))
    }

    /// The request context of a call on `target` with query-parameter `pairs`: the
    /// same checks as a path (a valid target, a served resource, its scope), the same
    /// parameter parsing as a query string.
    fn context(
        &self,
        target: &ObjectTarget,
        pairs: Vec<(&'static str, String)>,
    ) -> Result<RequestContext, ClientError> {
        // The path is not used, but its checks are the HTTP client's.
        target.path()?;
        let path = ResourcePath {
            plural: target.resource.plural.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            subresource: target.subresource.clone(),
        };
        Ok(RequestContext::resolve(
            &self.server,
            &target.resource.group,
            &target.resource.version,
            path,
            http::HeaderMap::new(),
            || QueryParams::from_pairs(pairs),
        )?)
    }

    /// Starts a watch of `target` served from the watch cache, its events in `O`'s
    /// form (the same watcher, start points, 410 and bookmarks whatever the form).
    async fn watch_as<O: WatchOutput>(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<ReceiverStream<O::Item>, ClientError> {
        request::require_collection(target, "watch")?;
        let ctx = self.context(target, params.query(true))?;
        let reply = handler::serve(&ctx, &Method::GET, RequestBody::Empty).await?;
        let ReplyBody::Watch(opts) = reply.body else {
            return Err(ClientError::InvalidRequest(format!(
                "{} cannot be watched",
                target.resource.plural
            )));
        };
        let events = serve_watch_as::<O>(&ctx.served.cache, *opts).await;
        Ok(ReceiverStream::new(events))
    }

    /// Runs one call to its answer as a value.
    async fn call(
        &self,
        target: &ObjectTarget,
        pairs: Vec<(&'static str, String)>,
        method: Method,
        body: RequestBody,
    ) -> Result<Value, ClientError> {
        let ctx = self.context(target, pairs)?;
        let reply = handler::serve(&ctx, &method, body).await?;
        match reply.body {
            ReplyBody::Object(v) | ReplyBody::Plain(v) => Ok(v),
            ReplyBody::CachedList(page) => Ok(page.into_list(&ctx)),
            ReplyBody::Watch(_) => Err(ClientError::InvalidRequest(
                "a watch answers with a stream; use watch".into(),
            )),
        }
    }
}

#[async_trait]
impl Client for InProcessClient {
    async fn get(&self, target: &ObjectTarget) -> Result<Value, ClientError> {
        if Self::routed(target) {
            return self.http.get(target).await;
        }
        target.require_name("get")?;
        self.call(target, Vec::new(), Method::GET, RequestBody::Empty)
            .await
    }

    async fn list(&self, target: &ObjectTarget, params: &ListParams) -> Result<Value, ClientError> {
        if Self::routed(target) {
            return self.http.list(target, params).await;
        }
        request::require_collection(target, "list")?;
        self.call(target, params.query(false), Method::GET, RequestBody::Empty)
            .await
    }

    async fn watch(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<WatchStream, ClientError> {
        if Self::routed(target) {
            return self.http.watch(target, params).await;
        }
        Ok(self.watch_as::<ValueEvents>(target, params).await?.boxed())
    }

    /// The watch cache's own `Arc`s, not copies: every in-process watcher of an event
    /// shares the one decoded object the cache holds.
    async fn watch_shared(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<SharedWatchStream, ClientError> {
        if Self::routed(target) {
            return self.http.watch_shared(target, params).await;
        }
        Ok(self.watch_as::<SharedEvents>(target, params).await?.boxed())
    }

    async fn create(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        if Self::routed(target) {
            return self.http.create(target, object, params).await;
        }
        request::check_create(target)?;
        self.call(
            target,
            params.query(),
            Method::POST,
            RequestBody::Value(object),
        )
        .await
    }

    async fn replace(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        if Self::routed(target) {
            return self.http.replace(target, object, params).await;
        }
        target.require_name("replace")?;
        self.call(
            target,
            params.query(),
            Method::PUT,
            RequestBody::Value(object),
        )
        .await
    }

    async fn patch(
        &self,
        target: &ObjectTarget,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Value, ClientError> {
        if Self::routed(target) {
            return self.http.patch(target, patch, params).await;
        }
        request::check_patch(target, patch, params)?;
        self.call(
            target,
            params.query(),
            Method::PATCH,
            RequestBody::Patch(patch.clone()),
        )
        .await
    }

    async fn delete(
        &self,
        target: &ObjectTarget,
        params: &DeleteParams,
    ) -> Result<Value, ClientError> {
        if Self::routed(target) {
            return self.http.delete(target, params).await;
        }
        target.require_name("delete")?;
        self.call(
            target,
            Vec::new(),
            Method::DELETE,
            RequestBody::Value(params.body()),
        )
        .await
    }

    async fn delete_collection(
        &self,
        target: &ObjectTarget,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<Value, ClientError> {
        if Self::routed(target) {
            return self.http.delete_collection(target, list, params).await;
        }
        request::require_collection(target, "deletecollection")?;
        self.call(
            target,
            list.query(false),
            Method::DELETE,
            RequestBody::Value(params.body()),
        )
        .await
    }

    async fn logs(
        &self,
        target: &ObjectTarget,
        params: &LogParams,
    ) -> Result<ByteStream, ClientError> {
        self.http.logs(target, params).await
    }
}
