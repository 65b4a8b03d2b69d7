//! [`Api`]: typed access to one kind over any [`Client`], in the style of kube-rs'
//! `Api<K>`.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    ByteStream, Client, ClientError, DeleteParams, ListParams, LogParams, ObjectTarget, Patch,
    PatchParams, PostParams, ResourceRef, WatchEvent,
};

/// One page of a typed list.
#[derive(Clone, Debug, Deserialize)]
#[serde(bound = "K: DeserializeOwned")]
pub struct ObjectList<K> {
    /// The objects.
    #[serde(default)]
    pub items: Vec<K>,
    /// The list's metadata: `resourceVersion` and `continue`.
    #[serde(default)]
    pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta,
}

/// Typed access to one kind, in one namespace, across all namespaces, or (for
/// cluster-scoped kinds) the cluster.
///
/// ```no_run
/// # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) -> Result<(), skiff_core::client::ClientError> {
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use skiff_core::client::{Api, PostParams};
///
/// let cms: Api<ConfigMap> = Api::namespaced(client, "default");
/// let mut cm = ConfigMap::default();
/// cm.metadata.name = Some("settings".into());
/// let created = cms.create(&cm, &PostParams::default()).await?;
/// assert!(created.metadata.resource_version.is_some());
/// # Ok(()) }
/// ```
pub struct Api<K> {
    client: Arc<dyn Client>,
    resource: ResourceRef,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            client: self.client.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("resource", &self.resource)
            .field("namespace", &self.namespace)
            .finish()
    }
}

fn to_value<K: Serialize>(obj: &K) -> Result<Value, ClientError> {
    serde_json::to_value(obj).map_err(|e| ClientError::InvalidRequest(e.to_string()))
}

fn from_value<K: DeserializeOwned>(v: Value) -> Result<K, ClientError> {
    serde_json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()))
}

impl<K> Api<K>
where
    K: k8s_openapi::Resource + Serialize + DeserializeOwned + Send + 'static,
    K::Scope: 'static,
{
    /// Objects of one namespace (namespaced kinds).
    pub fn namespaced(client: Arc<dyn Client>, namespace: &str) -> Self {
        Api {
            client,
            resource: ResourceRef::of::<K>(),
            namespace: Some(namespace.to_owned()),
            _kind: PhantomData,
        }
    }

    /// Objects of every namespace (namespaced kinds: list and watch across all; single
    /// objects need a namespace) or of the cluster (cluster-scoped kinds).
    pub fn all(client: Arc<dyn Client>) -> Self {
        Api {
            client,
            resource: ResourceRef::of::<K>(),
            namespace: None,
            _kind: PhantomData,
        }
    }

    /// The underlying dynamic client.
    pub fn client(&self) -> &Arc<dyn Client> {
        &self.client
    }

    fn target(&self, name: &str) -> ObjectTarget {
        ObjectTarget::object(&self.resource, self.namespace.as_deref(), name)
    }

    fn collection(&self) -> ObjectTarget {
        ObjectTarget::collection(&self.resource, self.namespace.as_deref())
    }

    /// Reads one object.
    pub async fn get(&self, name: &str) -> Result<K, ClientError> {
        from_value(self.client.get(&self.target(name)).await?)
    }

    /// Reads one object; `None` when it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>, ClientError> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists one page.
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>, ClientError> {
        from_value(self.client.list(&self.collection(), params).await?)
    }

    /// Watches from `params.resource_version`. Each object is decoded from the
    /// client's shared value ([`Client::watch_shared`]), with no copy of it first.
    pub async fn watch(
        &self,
        params: &ListParams,
    ) -> Result<futures::stream::BoxStream<'static, Result<WatchEvent<K>, ClientError>>, ClientError>
    {
        let stream = self.client.watch_shared(&self.collection(), params).await?;
        Ok(stream.map(|e| e.and_then(|e| e.decode::<K>())).boxed())
    }

    /// Creates an object.
    pub async fn create(&self, obj: &K, params: &PostParams) -> Result<K, ClientError> {
        let mut v = to_value(obj)?;
        set_type_meta::<K>(&mut v);
        from_value(self.client.create(&self.collection(), v, params).await?)
    }

    /// Replaces an object (compare-and-swap when its resourceVersion is set).
    pub async fn replace(
        &self,
        name: &str,
        obj: &K,
        params: &PostParams,
    ) -> Result<K, ClientError> {
        let mut v = to_value(obj)?;
        set_type_meta::<K>(&mut v);
        from_value(self.client.replace(&self.target(name), v, params).await?)
    }

    /// Replaces an object's status.
    pub async fn replace_status(
        &self,
        name: &str,
        obj: &K,
        params: &PostParams,
    ) -> Result<K, ClientError> {
        let mut v = to_value(obj)?;
        set_type_meta::<K>(&mut v);
        let target = self.target(name).with_subresource("status");
        from_value(self.client.replace(&target, v, params).await?)
    }

    /// Patches an object.
    pub async fn patch(
        &self,
        name: &str,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<K, ClientError> {
        from_value(self.client.patch(&self.target(name), patch, params).await?)
    }

    /// Patches an object's status.
    pub async fn patch_status(
        &self,
        name: &str,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<K, ClientError> {
        let target = self.target(name).with_subresource("status");
        from_value(self.client.patch(&target, patch, params).await?)
    }

    /// Reads a subresource (`scale`, `status`) as a dynamic object.
    pub async fn get_subresource(
        &self,
        name: &str,
        subresource: &str,
    ) -> Result<Value, ClientError> {
        let target = self.target(name).with_subresource(subresource);
        self.client.get(&target).await
    }

    /// Posts to a subresource (`binding`, `eviction`).
    pub async fn create_subresource(
        &self,
        name: &str,
        subresource: &str,
        body: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        let target = self.target(name).with_subresource(subresource);
        self.client.create(&target, body, params).await
    }

    /// Deletes an object: `Left` is the object still present (finalizers, grace
    /// period), `Right` the server's Status when it is gone.
    pub async fn delete(
        &self,
        name: &str,
        params: &DeleteParams,
    ) -> Result<either_object::Either<K>, ClientError> {
        let v = self.client.delete(&self.target(name), params).await?;
        if v.get("kind").and_then(Value::as_str) == Some("Status") {
            Ok(either_object::Either::Gone(v))
        } else {
            Ok(either_object::Either::Present(from_value(v)?))
        }
    }

    /// Deletes every object `list` selects.
    pub async fn delete_collection(
        &self,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<Value, ClientError> {
        self.client
            .delete_collection(&self.collection(), list, params)
            .await
    }

    /// Streams a pod's log (meaningful for pods only).
    pub async fn logs(&self, name: &str, params: &LogParams) -> Result<ByteStream, ClientError> {
        self.client.logs(&self.target(name), params).await
    }
}

/// Sets `apiVersion` and `kind` (k8s-openapi leaves them out of `Serialize` for some
/// uses; the server needs them).
fn set_type_meta<K: k8s_openapi::Resource>(v: &mut Value) {
    if let Some(map) = v.as_object_mut() {
        map.insert("apiVersion".into(), K::API_VERSION.into());
        map.insert("kind".into(), K::KIND.into());
    }
}

/// The result of a delete.
pub mod either_object {
    /// What a delete returns.
    #[derive(Clone, Debug)]
    pub enum Either<K> {
        /// The object is still there (finalizers or a grace period hold it).
        Present(K),
        /// The object is gone; the server's `Status`.
        Gone(serde_json::Value),
    }
}
