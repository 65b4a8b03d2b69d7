//! Update: read-modify-write with optimistic concurrency, the spec/status split,
//! generation, and removal of terminating objects whose last finalizer goes.

use std::sync::Arc;

use serde_json::Value;
use skiff_core::status::ApiError;
use skiff_store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange, PutRequest, RequestOp,
    TxnRequest,
};

use super::{api_error, encode_object, meta, parse_resource_version, Registry, WriteOptions};

/// Which part of an object an update writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateTarget {
    /// The object (for kinds with a status subresource, everything but `status`).
    Main,
    /// `/status`: only `status`; everything else is kept from the stored object.
    Status,
    /// A write by the server itself (pod binding, namespace finalize): spec and status
    /// as given, immutable-field rules not applied.
    Internal,
}

/// Most attempts of a read-modify-write racing other writers before answering 409.
const MAX_ATTEMPTS: usize = 64;

/// Metadata the server owns: kept from the stored object whatever an update sends.
const SYSTEM_METADATA: [&str; 6] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "name",
    "namespace",
];

impl Registry {
    /// Replaces an object with `body` (PUT). A `metadata.resourceVersion` in the body
    /// must equal the stored one (409 Conflict otherwise); without one the update is
    /// unconditional.
    pub async fn replace(
        &self,
        namespace: Option<&str>,
        name: &str,
        mut body: Value,
        target: UpdateTarget,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.check_type(&mut body)?;
        self.check_namespace(&mut body, namespace)?;
        let body_name = meta::name(&body);
        if body_name.is_empty() {
            meta::set_meta_str(&mut body, "name", name);
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let precondition = match meta::meta_str(&body, "resourceVersion") {
            "" => None,
            rv => Some(parse_resource_version(rv)?),
        };
        let qualified = self.qualified();
        self.update_with(namespace, name, target, opts, |current| {
            let current_rv = meta::meta_str(current, "resourceVersion")
                .parse::<i64>()
                .unwrap_or(0);
            if precondition.is_some_and(|p| p != current_rv) {
                return Err(ApiError::conflict(
                    &qualified,
                    name,
                    ApiError::OPTIMISTIC_LOCK_MESSAGE,
                ));
            }
            Ok(body.clone())
        })
        .await
    }

    /// Read-modify-write: `transform` gets the stored object (with its resourceVersion)
    /// and returns the desired one; it runs again if another writer got in between.
    /// 404 when the object does not exist.
    pub async fn update_with<F>(
        &self,
        namespace: Option<&str>,
        name: &str,
        target: UpdateTarget,
        opts: &WriteOptions,
        transform: F,
    ) -> Result<Value, ApiError>
    where
        F: FnMut(&Value) -> Result<Value, ApiError>,
    {
        self.update_from(namespace, name, None, target, opts, transform)
            .await
    }

    /// [`update_with`](Self::update_with) starting from `guess`, the object as a cache
    /// last saw it (with its resourceVersion), instead of reading the store first, as
    /// Kubernetes' `GuaranteedUpdate` does with the watch cache's object. A stale guess
    /// costs one more round: the write's revision check fails and the store is read;
    /// and whatever the guess leads to short of a write (an error of `transform` or of
    /// validation, or no change at all) is decided again on the store's object.
    pub async fn update_from<F>(
        &self,
        namespace: Option<&str>,
        name: &str,
        guess: Option<Arc<Value>>,
        target: UpdateTarget,
        opts: &WriteOptions,
        mut transform: F,
    ) -> Result<Value, ApiError>
    where
        F: FnMut(&Value) -> Result<Value, ApiError>,
    {
        let key = self.object_key(namespace, name);
        let api_version = self.resource.api_version();
        let mut guess = guess.and_then(|g| {
            let rv = meta::meta_str(&g, "resourceVersion").parse::<i64>().ok()?;
            (g.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str()))
                .then_some((g, rv))
        });
        for _ in 0..MAX_ATTEMPTS {
            let (old, mod_revision, guessed) = match guess.take() {
                Some((g, rv)) => (g, rv, true),
                None => {
                    let Some(kv) = self.store.get(key.as_bytes()).await.map_err(api_error)? else {
                        return Err(ApiError::not_found(&self.qualified(), name));
                    };
                    (Arc::new(self.decode(&kv)?), kv.mod_revision, false)
                }
            };
            let prepared = transform(&old).and_then(|d| self.prepare_update(&old, d, target, opts));
            let mut new = match prepared {
                Ok(new) => new,
                Err(_) if guessed => continue,
                Err(e) => return Err(e),
            };
            if let Err(e) = self.admit(Some(&old), &mut new).await {
                if guessed {
                    continue;
                }
                return Err(e);
            }
            let reserved = match self.reserve(Some(&old), &mut new).await {
                Ok(r) => r,
                Err(_) if guessed => continue,
                Err(e) => return Err(e),
            };
            // `new` carries `old`'s resourceVersion, so equal values store equal bytes.
            if new == *old || opts.dry_run {
                if guessed {
                    continue;
                }
                return Ok(self.served_version(new));
            }
            if let Some(done) = self
                .commit(&key, mod_revision, &old, new, reserved, opts)
                .await?
            {
                return Ok(self.served_version(done));
            }
        }
        Err(ApiError::conflict(
            &self.qualified(),
            name,
            ApiError::OPTIMISTIC_LOCK_MESSAGE,
        ))
    }

    /// The object an update stores: the desired object with the server's metadata, the
    /// status or spec kept per `target`, defaults, a bumped generation, validated.
    fn prepare_update(
        &self,
        old: &Value,
        desired: Value,
        target: UpdateTarget,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut new = match target {
            UpdateTarget::Main => {
                let mut new = desired;
                if self.strategy.has_status_subresource() {
                    set_or_remove(&mut new, "status", old.get("status"));
                }
                new
            }
            UpdateTarget::Internal => desired,
            UpdateTarget::Status => {
                let mut new = old.clone();
                set_or_remove(&mut new, "status", desired.get("status"));
                if opts.managed_fields_set {
                    // An apply to /status computed the object's managedFields.
                    let fields = desired.pointer("/metadata/managedFields").cloned();
                    let new_meta = meta::metadata_mut(&mut new);
                    match fields {
                        Some(f) => new_meta.insert("managedFields".into(), f),
                        None => new_meta.remove("managedFields"),
                    };
                }
                new
            }
        };
        self.check_type(&mut new)?;
        let old_meta = old.get("metadata").unwrap_or(&Value::Null);
        let new_meta = meta::metadata_mut(&mut new);
        for field in SYSTEM_METADATA {
            match old_meta.get(field) {
                Some(v) => new_meta.insert(field.to_owned(), v.clone()),
                None => new_meta.remove(field),
            };
        }
        new_meta.insert(
            "resourceVersion".into(),
            old_meta
                .get("resourceVersion")
                .cloned()
                .unwrap_or(Value::Null),
        );
        self.strategy.default(&mut new);
        self.track_fields(old, &mut new, target, opts);
        // The server's own writes (a pod binding, a namespace's finalize) are not spec
        // changes of the user's: kube makes them below the strategy.
        let mut generation = meta::generation(old).max(1);
        if target != UpdateTarget::Internal && meta::spec_differs(&new, old) {
            generation += 1;
        }
        meta::metadata_mut(&mut new).insert("generation".into(), generation.into());
        if opts.shape_known {
            self.strategy.validate_known_shape(&new)?;
        } else {
            self.strategy.validate(&new)?;
        }
        let causes = if target == UpdateTarget::Internal {
            Vec::new()
        } else {
            self.strategy.validate_update(&new, old)
        };
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                &self.resource.qualified_kind(),
                meta::name(&new),
                causes,
            ));
        }
        Ok(new)
    }

    /// Writes `new` over the stored `old` if the key is still at `mod_revision`, with
    /// the `reserved` records; a terminating object left without finalizers is deleted
    /// instead, releasing what `old` holds. `None` when another writer got there first
    /// (or took a reserved record). The written object is offered to the watch cache
    /// (moved there with `opts.object_unused`, and the answer is `Value::Null`).
    pub(crate) async fn commit(
        &self,
        key: &str,
        mod_revision: i64,
        old: &Value,
        mut new: Value,
        reserved: super::ReservationTxn,
        opts: &WriteOptions,
    ) -> Result<Option<Value>, ApiError> {
        // As Kubernetes: a terminating object with no finalizers left and no grace
        // period running (pods waiting for their node keep one) is removed.
        let grace = new
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let finished = meta::is_terminating(&new)
            && grace == 0
            && meta::finalizers(&new).is_empty()
            && !self.pending_spec_finalizers(&new);
        let mut compare = vec![Compare {
            range: KeyRange::key(key.to_owned()),
            result: CompareResult::Equal,
            target: CompareTarget::Mod(mod_revision),
        }];
        let mut success = Vec::new();
        let mut bytes = None;
        if finished {
            success.push(RequestOp::DeleteRange(DeleteRangeRequest {
                range: KeyRange::key(key.to_owned()),
                prev_kv: false,
            }));
            success.extend(self.release(old));
        } else {
            let encoded = encode_object(&new);
            success.push(RequestOp::Put(PutRequest::new(
                key.to_owned(),
                encoded.clone(),
            )));
            compare.extend(reserved.compare);
            success.extend(reserved.success);
            bytes = Some(encoded);
        }
        let txn = TxnRequest {
            compare,
            success,
            failure: vec![],
        };
        // A copy costs the cache less than decoding the stored bytes; a caller that
        // does not need the object gives it away.
        let (resp, offered) = self
            .txn_offering(txn, bytes.as_ref().map(|b| (key, b)), || {
                if opts.object_unused {
                    std::mem::take(&mut new)
                } else {
                    new.clone()
                }
            })
            .await?;
        if !resp.succeeded {
            return Ok(None);
        }
        // A moved object is the cache's now; the caller gets `Value::Null`.
        let moved = offered && opts.object_unused;
        if !finished && !moved {
            meta::set_meta_str(
                &mut new,
                "resourceVersion",
                &resp.header.revision.to_string(),
            );
        }
        Ok(Some(new))
    }

    /// Namespaces keep `spec.finalizers` (the namespace controller's) besides
    /// `metadata.finalizers`; a terminating namespace stays while either is non-empty.
    pub(crate) fn pending_spec_finalizers(&self, obj: &Value) -> bool {
        self.resource.group.is_empty()
            && self.resource.kind == "Namespace"
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty())
    }
}

fn set_or_remove(obj: &mut Value, field: &str, value: Option<&Value>) {
    if let Some(map) = obj.as_object_mut() {
        match value {
            Some(v) => map.insert(field.to_owned(), v.clone()),
            None => map.remove(field),
        };
    }
}
