//! Storage of one resource over the [`KvStore`]: create, get, list, update, delete, with
//! Kubernetes' object semantics (uid, timestamps, generateName, resourceVersion as the
//! store's mod revision, optimistic concurrency, finalizers, graceful deletion).
//!
//! # Organization
//! - [`Registry`]: one per resource; its verbs live in `create.rs`, `read.rs`,
//!   `update.rs` and `delete.rs`.
//! - [`meta`]: reading and writing `metadata` of dynamic objects.
//! - [`ObjectFilter`]: label and field selectors.
//! - [`ContinueToken`]: the pagination token.
//!
//! Objects are stored as JSON under `/registry/{resource}/{namespace}/{name}` (custom
//! resources under `/registry/{group}/{resource}/...`) without `resourceVersion`, which
//! is filled in from the key's mod revision on every read.

mod admission;
mod continue_token;
mod create;
mod delete;
mod filter;
pub mod meta;
mod read;
mod reservations;
mod store_error;
mod update;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use skiff_core::resource::ApiResource;
use skiff_core::status::ApiError;
use skiff_store::{KeyValue, KvStore, TxnRequest, TxnResponse};

use crate::strategy::Strategy;

pub use admission::Admission;
pub use continue_token::ContinueToken;
pub use delete::{DeleteOptions, DeleteOutcome};
pub use filter::ObjectFilter;
pub use read::ListOptions;
pub use reservations::{ReservationTxn, Reservations};
pub use store_error::api_error;
pub use update::UpdateTarget;

/// Options common to every write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// The manager of a create, update or patch (`fieldManager`, or derived from the
    /// User-Agent): the fields it changes become its own in `metadata.managedFields`.
    /// `None` (writes by the server itself) keeps the stored managedFields.
    pub field_manager: Option<String>,
    /// The object written already carries its managedFields (server-side apply
    /// computed them): store them as they are.
    pub managed_fields_set: bool,
    /// The caller does not need the stored object back (a pod binding answers with a
    /// Status): an update hands it to the watch cache instead (see
    /// [`Offers`](crate::watch_cache::Offers)) and answers `Value::Null`.
    pub object_unused: bool,
    /// The object written is known to decode into its kind's type (fieldValidation
    /// decoded it, or the server built it from a stored object): validation does not
    /// decode it again.
    pub shape_known: bool,
}

impl Registry {
    /// The field-ownership scope of writes to `target` of this resource.
    pub(crate) fn field_scope(&self, target: UpdateTarget) -> crate::managed_fields::Scope {
        let scope = crate::managed_fields::Scope::for_kind(
            &self.resource.group,
            &self.resource.kind,
            self.strategy.has_status_subresource(),
        );
        match target {
            UpdateTarget::Status => scope.status_only(),
            _ => scope,
        }
    }

    /// Sets `new`'s managedFields for a write of `old` (`Value::Null` on create) as
    /// `opts` says: computed by the caller, tracked for a manager, or kept.
    pub(crate) fn track_fields(
        &self,
        old: &Value,
        new: &mut Value,
        target: UpdateTarget,
        opts: &WriteOptions,
    ) {
        if opts.managed_fields_set {
            return;
        }
        match &opts.field_manager {
            Some(manager) if target != UpdateTarget::Internal => {
                let api_version = self.resource.api_version();
                let writer = crate::managed_fields::Writer {
                    manager,
                    api_version: &api_version,
                    subresource: if target == UpdateTarget::Status {
                        "status"
                    } else {
                        ""
                    },
                };
                crate::managed_fields::track_update(old, new, &writer, &self.field_scope(target));
            }
            _ => crate::managed_fields::keep_entries(old, new),
        }
    }
}

/// The storage of one resource.
pub struct Registry {
    store: Arc<dyn KvStore>,
    resource: ApiResource,
    prefix: String,
    strategy: Arc<dyn Strategy>,
    /// Records taken and released with the objects (a Service's cluster IP).
    reservations: Option<Arc<dyn Reservations>>,
    /// Where updates whose caller does not need the object hand it to the watch cache.
    offers: Option<Arc<crate::watch_cache::Offers>>,
    /// Checks against other stored objects, in order, on create and update.
    admission: Vec<Arc<dyn Admission>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("resource", &self.resource.plural)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry for `resource` storing under `prefix` (which ends with `/`).
    pub fn new(
        store: Arc<dyn KvStore>,
        resource: ApiResource,
        prefix: String,
        strategy: Arc<dyn Strategy>,
    ) -> Self {
        Registry {
            store,
            resource,
            prefix,
            strategy,
            reservations: None,
            offers: None,
            admission: Vec::new(),
        }
    }

    /// The registry running `admission` (after those it has) on creates and updates.
    pub fn with_admission(mut self, admission: Arc<dyn Admission>) -> Self {
        self.admission.push(admission);
        self
    }

    /// Runs the admission steps on `new` (written over `old`, `None` on create).
    pub(crate) async fn admit(&self, old: Option<&Value>, new: &mut Value) -> Result<(), ApiError> {
        for a in &self.admission {
            a.admit(self.store.as_ref(), old, new).await?;
        }
        Ok(())
    }

    /// The registry handing objects to the watch cache whose `offers` these are.
    pub fn with_offers(mut self, offers: Arc<crate::watch_cache::Offers>) -> Self {
        self.offers = Some(offers);
        self
    }

    /// Runs `txn`, whose write stores `put`'s bytes under its key. With an `object`
    /// (its decoded form, made only when the watch cache takes offers) and a cache to
    /// offer to, the object is offered before the write (the cache may see the write
    /// before this task does) and withdrawn if the write does not happen. Returns the
    /// response and whether an offer was made.
    pub(crate) async fn txn_offering(
        &self,
        txn: TxnRequest,
        put: Option<(&str, &Bytes)>,
        object: impl FnOnce() -> Value,
    ) -> Result<(TxnResponse, bool), ApiError> {
        let offered = match (&self.offers, put) {
            (Some(offers), Some((key, bytes))) => {
                offers.put(key, bytes.clone(), object());
                Some((offers, key, bytes))
            }
            _ => None,
        };
        let resp = self.store.txn(txn).await;
        if let (false, Some((offers, key, bytes))) =
            (resp.as_ref().is_ok_and(|r| r.succeeded), &offered)
        {
            offers.withdraw(key, bytes);
        }
        Ok((resp.map_err(api_error)?, offered.is_some()))
    }

    /// The registry with `reservations` taken and released in its objects' writes.
    pub fn with_reservations(mut self, reservations: Arc<dyn Reservations>) -> Self {
        self.reservations = Some(reservations);
        self
    }

    /// What a write of `new` over `old` (`None` on create) adds to its transaction.
    pub(crate) async fn reserve(
        &self,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<ReservationTxn, ApiError> {
        match &self.reservations {
            Some(r) => r.reserve(self.store.as_ref(), old, new).await,
            None => Ok(ReservationTxn::default()),
        }
    }

    /// The deletes releasing what the stored `obj` holds.
    pub(crate) fn release(&self, obj: &Value) -> Vec<skiff_store::RequestOp> {
        self.reservations
            .as_ref()
            .map(|r| r.release(obj))
            .unwrap_or_default()
    }

    /// The resource this registry stores.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The kind's strategy.
    pub fn strategy(&self) -> &Arc<dyn Strategy> {
        &self.strategy
    }

    /// The key prefix of every object of the resource (`/registry/pods/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    /// The key of one object.
    pub fn object_key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace.filter(|_| self.resource.namespaced) {
            Some(ns) => format!("{}{ns}/{name}", self.prefix),
            None => format!("{}{name}", self.prefix),
        }
    }

    /// The key prefix of a list: one namespace, or everything.
    pub fn list_prefix(&self, namespace: Option<&str>) -> String {
        match namespace.filter(|_| self.resource.namespaced) {
            Some(ns) => format!("{}{ns}/", self.prefix),
            None => self.prefix.clone(),
        }
    }

    /// The `resource` name used in errors (`pods`, `deployments.apps`).
    pub fn qualified(&self) -> String {
        self.resource.qualified_resource()
    }

    /// A stored value as an object, with `metadata.resourceVersion` set from the key's
    /// mod revision and the registry's `apiVersion` (the versions of a custom resource
    /// share one storage location; conversion `None` only rewrites `apiVersion`).
    pub fn decode(&self, kv: &KeyValue) -> Result<Value, ApiError> {
        Ok(self.served_version(decode_object(kv)?))
    }

    /// `obj` with this registry's `apiVersion` (objects are stored in a custom
    /// resource's storage version, and answered in the version asked for).
    pub fn served_version(&self, mut obj: Value) -> Value {
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".into(), self.resource.api_version().into());
        }
        obj
    }
}

/// A stored value as an object with `metadata.resourceVersion` = its mod revision.
pub fn decode_object(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        ApiError::internal(&format!(
            "stored object at {} is not JSON: {e}",
            String::from_utf8_lossy(&kv.key)
        ))
    })?;
    meta::set_meta_str(&mut obj, "resourceVersion", &kv.mod_revision.to_string());
    Ok(obj)
}

/// An object as stored: JSON without `metadata.resourceVersion`.
pub fn encode_object(obj: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&WithoutResourceVersion(obj)).unwrap_or_default())
}

/// Serializes an object as [`encode_object`] stores it, without copying it first:
/// `metadata.resourceVersion` is left out on the way.
struct WithoutResourceVersion<'a>(&'a Value);

impl serde::Serialize for WithoutResourceVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(map) = self.0.as_object() else {
            return self.0.serialize(serializer);
        };
        let mut out = serializer.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            match (k.as_str(), v.as_object()) {
                ("metadata", Some(meta)) => {
                    let rest = MetadataWithout(meta);
                    out.serialize_entry(k, &rest)?;
                }
                _ => out.serialize_entry(k, v)?,
            }
        }
        out.end()
    }
}

struct MetadataWithout<'a>(&'a serde_json::Map<String, Value>);

impl serde::Serialize for MetadataWithout<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kept = self.0.iter().filter(|(k, _)| *k != "resourceVersion");
        let mut out = serializer.serialize_map(None)?;
        for (k, v) in kept {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

/// Parses a resourceVersion sent by a client; 400 when it is not a number.
pub fn parse_resource_version(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

#[cfg(test)]
mod encode_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_objects_leave_out_only_the_resource_version() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "resourceVersion": "12", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}});
        let stored: Value = serde_json::from_slice(&encode_object(&obj)).unwrap();
        let mut want = obj.clone();
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert_eq!(stored, want);
        // Not an object, or metadata not an object: stored as is.
        assert_eq!(&encode_object(&json!([1]))[..], b"[1]");
        let odd = json!({"metadata": "x"});
        assert_eq!(
            serde_json::from_slice::<Value>(&encode_object(&odd)).unwrap(),
            odd
        );
    }
}
