//! Delete: preconditions, finalizers and propagation policy, graceful deletion of pods
//! bound to a node, namespaces' `spec.finalizers`.

use serde_json::{json, Value};
use skiff_core::status::ApiError;

use super::{api_error, meta, Registry};

/// The options of a delete (query parameters and the `DeleteOptions` body).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `gracePeriodSeconds`: for pods bound to a node, how long the node has to stop
    /// them; 0 deletes at once.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`: `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq)]
pub enum DeleteOutcome {
    /// The object is gone; its last state.
    Deleted(Value),
    /// The object is terminating (finalizers or a grace period); its new state.
    Pending(Value),
}

/// The finalizer the garbage collector acts on for `Orphan`.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer the garbage collector acts on for `Foreground`.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

const MAX_ATTEMPTS: usize = 64;

impl Registry {
    /// Deletes an object, or marks it terminating when finalizers or a grace period
    /// keep it.
    pub async fn delete(
        &self,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        if let Some(p) = opts.propagation_policy.as_deref() {
            if !matches!(p, "Orphan" | "Background" | "Foreground") {
                return Err(ApiError::invalid(
                    "DeleteOptions",
                    "",
                    vec![skiff_core::status::StatusCause::not_supported(
                        "propagationPolicy",
                        &json!(p),
                        &["Foreground", "Background", "Orphan"],
                    )],
                ));
            }
        }
        if opts.grace_period_seconds.is_some_and(|g| g < 0) {
            return Err(ApiError::bad_request(
                "gracePeriodSeconds must be non-negative",
            ));
        }
        let key = self.object_key(namespace, name);
        for _ in 0..MAX_ATTEMPTS {
            let Some(kv) = self.store.get(key.as_bytes()).await.map_err(api_error)? else {
                return Err(ApiError::not_found(&self.qualified(), name));
            };
            let old = self.decode(&kv)?;
            self.check_preconditions(&old, name, opts)?;
            let mut new = old.clone();
            let mut finalizers = meta::finalizers(&new);
            match opts.propagation_policy.as_deref() {
                Some("Orphan") => set_policy_finalizer(&mut finalizers, Some(ORPHAN_FINALIZER)),
                Some("Foreground") => {
                    set_policy_finalizer(&mut finalizers, Some(FOREGROUND_FINALIZER))
                }
                Some(_) => set_policy_finalizer(&mut finalizers, None),
                None => {}
            }
            meta::set_finalizers(&mut new, &finalizers);
            let grace = self.grace_period(&old, opts);
            let spec_finalizers = self.pending_spec_finalizers(&new);
            if finalizers.is_empty() && grace == 0 && !spec_finalizers {
                if opts.dry_run {
                    return Ok(DeleteOutcome::Deleted(old));
                }
                let txn = skiff_store::TxnRequest {
                    compare: vec![skiff_store::Compare {
                        range: skiff_store::KeyRange::key(key.clone()),
                        result: skiff_store::CompareResult::Equal,
                        target: skiff_store::CompareTarget::Mod(kv.mod_revision),
                    }],
                    success: std::iter::once(skiff_store::RequestOp::DeleteRange(
                        skiff_store::DeleteRangeRequest {
                            range: skiff_store::KeyRange::key(key.clone()),
                            prev_kv: false,
                        },
                    ))
                    .chain(self.release(&old))
                    .collect(),
                    failure: vec![],
                };
                let resp = self.store.txn(txn).await.map_err(api_error)?;
                if resp.succeeded {
                    return Ok(DeleteOutcome::Deleted(old));
                }
                continue;
            }
            self.mark_terminating(&old, &mut new, grace);
            if new == old || opts.dry_run {
                return Ok(DeleteOutcome::Pending(new));
            }
            if let Some(stored) = self
                .commit(
                    &key,
                    kv.mod_revision,
                    &old,
                    new,
                    super::ReservationTxn::default(),
                    &super::WriteOptions::default(),
                )
                .await?
            {
                return Ok(
                    if meta::is_terminating(&stored)
                        && (meta::finalizers(&stored).is_empty()
                            && !self.pending_spec_finalizers(&stored)
                            && grace == 0)
                    {
                        DeleteOutcome::Deleted(stored)
                    } else {
                        DeleteOutcome::Pending(stored)
                    },
                );
            }
        }
        Err(ApiError::conflict(
            &self.qualified(),
            name,
            ApiError::OPTIMISTIC_LOCK_MESSAGE,
        ))
    }

    fn check_preconditions(
        &self,
        obj: &Value,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<(), ApiError> {
        if let Some(uid) = opts.precondition_uid.as_deref() {
            let actual = meta::meta_str(obj, "uid");
            if uid != actual {
                return Err(ApiError::conflict(
                    &self.qualified(),
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(rv) = opts.precondition_resource_version.as_deref() {
            let actual = meta::meta_str(obj, "resourceVersion");
            if rv != actual {
                return Err(ApiError::conflict(
                    &self.qualified(),
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"),
                ));
            }
        }
        Ok(())
    }

    /// Seconds a deletion waits: for a pod bound to a node and not finished, the
    /// requested grace period or the pod's `terminationGracePeriodSeconds`; 0 otherwise.
    fn grace_period(&self, obj: &Value, opts: &DeleteOptions) -> i64 {
        if !(self.resource.group.is_empty() && self.resource.kind == "Pod") {
            return 0;
        }
        let bound = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let finished = matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if !bound || finished {
            return 0;
        }
        let requested = opts.grace_period_seconds.unwrap_or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        });
        // A second delete may shorten a grace period, never lengthen it.
        match obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
        {
            Some(current) => requested.min(current),
            None => requested,
        }
    }

    /// Sets `deletionTimestamp` (now + grace) and `deletionGracePeriodSeconds`, keeping
    /// an earlier timestamp; a namespace also moves to phase `Terminating`.
    fn mark_terminating(&self, old: &Value, new: &mut Value, grace: i64) {
        let when = meta::format_timestamp(chrono::Utc::now() + chrono::Duration::seconds(grace));
        let keep_earlier = meta::is_terminating(old)
            && old
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .is_some_and(|g| g <= grace);
        if !keep_earlier {
            meta::set_meta_str(new, "deletionTimestamp", &when);
            meta::metadata_mut(new).insert("deletionGracePeriodSeconds".into(), json!(grace));
        }
        if self.resource.group.is_empty() && self.resource.kind == "Namespace" {
            if let Some(map) = new.as_object_mut() {
                let status = map.entry("status").or_insert_with(|| json!({}));
                if let Some(status) = status.as_object_mut() {
                    status.insert("phase".into(), json!("Terminating"));
                }
            }
        }
    }

    /// Deletes every object of a list request: each as [`Registry::delete`] would.
    /// Returns the objects deleted or now terminating.
    pub async fn delete_collection(
        &self,
        namespace: Option<&str>,
        list: &super::ListOptions,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let listed = self.list(namespace, list).await?;
        let mut done = Vec::new();
        for item in listed["items"].as_array().cloned().unwrap_or_default() {
            let ns = meta::namespace(&item).to_owned();
            let ns = (!ns.is_empty()).then_some(ns);
            match self.delete(ns.as_deref(), meta::name(&item), opts).await {
                Ok(DeleteOutcome::Deleted(obj) | DeleteOutcome::Pending(obj)) => done.push(obj),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.list_object(listed["metadata"].clone(), done))
    }
}

/// Replaces the propagation finalizers (`orphan`, `foregroundDeletion`) with `policy`'s.
fn set_policy_finalizer(finalizers: &mut Vec<String>, policy: Option<&str>) {
    finalizers.retain(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER);
    if let Some(p) = policy {
        finalizers.push(p.to_owned());
    }
}
