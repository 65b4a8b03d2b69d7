//! [`Object`], [`DynamicObject`] and [`ObjectRef`]: what the runtime caches and keys
//! its work by.
//!
//! Every k8s-openapi type with an `ObjectMeta` is an [`Object`]; [`DynamicObject`]
//! stands in for any kind the runtime has no Rust type for (the garbage collector and
//! the namespace controller walk every resource).
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_core::runtime::{Object, ObjectRef};
//! let mut pod = Pod::default();
//! pod.metadata.name = Some("web".into());
//! pod.metadata.namespace = Some("default".into());
//! assert_eq!(ObjectRef::from_obj(&pod), ObjectRef::new("web").within("default"));
//! ```

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An API object the runtime can cache: it has an `ObjectMeta` and decodes from JSON.
pub trait Object: Clone + Send + Sync + DeserializeOwned + 'static {
    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
}

impl<K> Object for K
where
    K: k8s_openapi::Metadata<Ty = ObjectMeta> + Clone + Send + Sync + DeserializeOwned + 'static,
{
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
}

/// An object of any kind: its type, metadata and the rest as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicObject {
    /// `apiVersion`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other field (`spec`, `status`, `data`, ...).
    #[serde(flatten)]
    pub data: serde_json::Map<String, Value>,
}

impl Object for DynamicObject {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// The name and namespace of an object of a known kind: a cache and work-queue key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// The namespace (`None` for cluster-scoped objects).
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// A cluster-scoped object (or one whose namespace is added with [`Self::within`]).
    pub fn new(name: &str) -> Self {
        ObjectRef {
            namespace: None,
            name: name.to_owned(),
        }
    }

    /// The same name in `namespace`.
    #[must_use]
    pub fn within(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// The reference of an object (an empty namespace counts as none).
    pub fn from_obj<K: Object>(obj: &K) -> Self {
        let meta = obj.meta();
        ObjectRef {
            namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.controller == Some(true))
}

/// The `resourceVersion` of an object, if set.
pub fn resource_version<K: Object>(obj: &K) -> Option<&str> {
    obj.meta().resource_version.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_objects_keep_their_fields() {
        let v = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n"}, "data": {"k": "v"}});
        let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(ObjectRef::from_obj(&obj).to_string(), "n/a");
        assert_eq!(serde_json::to_value(&obj).unwrap(), v);
    }
}
