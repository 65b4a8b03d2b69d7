//! Per-kind behaviour of the generic registry: defaulting, validation, the status
//! subresource split and field selectors.
//!
//! Every resource, built-in or custom, is served by the same registry code; what differs
//! between kinds is data. [`Strategy`] is the interface the registry calls, and
//! [`KindStrategy`] its one implementation, driven by a [`KindRules`] entry from the
//! table in [`kinds`] (an empty entry for kinds with no special rules, such as custom
//! resources until their schemas are wired in).
//!
//! ```
//! use skiff_api::strategy::{strategy_for, Strategy};
//! use skiff_core::resource::builtin_resources;
//!
//! let pods = builtin_resources().into_iter().find(|r| r.plural == "pods").unwrap();
//! let strategy = strategy_for(&pods);
//! assert!(strategy.has_status_subresource());
//! let pod = serde_json::json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
//! assert_eq!(strategy.field_value(&pod, "spec.nodeName").unwrap().as_deref(), Some("n1"));
//! ```

pub mod default_tolerations;
mod defaults;
mod fields;
pub mod kinds;
pub mod priority_class;
mod validation;

use serde_json::Value;
use skiff_core::resource::ApiResource;
use skiff_core::status::{ApiError, StatusCause};

pub use kinds::KindRules;
pub use validation::{
    prune_unknown_fields, validate_dns1123_label, validate_dns1123_subdomain, NameRule,
};

/// What the registry asks of a kind. Object safe: the registry holds an
/// `Arc<dyn Strategy>`, so embedders may replace a kind's behaviour.
pub trait Strategy: Send + Sync {
    /// Clears what a client may not set on create (the status of kinds with a status
    /// subresource) and sets initial values (a pod's `status.phase: Pending`).
    fn prepare_for_create(&self, obj: &mut Value);

    /// Fills defaulted fields (Kubernetes' `SetDefaults_*`), on create and update.
    fn default(&self, obj: &mut Value);

    /// Checks a whole object: shape (typed decode), name and kind rules. `Err` is a
    /// 400 (undecodable body) or a 422 (invalid fields, with causes).
    fn validate(&self, obj: &Value) -> Result<(), ApiError>;

    /// Checks an update against the stored object: immutable fields. Causes for a 422.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<StatusCause>;

    /// Whether spec and status are written through separate endpoints (`/status`).
    fn has_status_subresource(&self) -> bool;

    /// The value of a field-selector label for `obj` (`spec.nodeName`), `Ok(None)` when
    /// the object has no such field set, `Err` (400) when the kind does not support
    /// selecting on that label.
    fn field_value(&self, obj: &Value, label: &str) -> Result<Option<String>, ApiError>;

    /// Removes the fields of `obj` its kind does not define and returns their paths
    /// (`spec.foo`), for `fieldValidation`: `Some` when the check ran (for a built-in
    /// kind: `obj` decoded into its type), `None` when the kind has no typed schema or
    /// `obj` does not decode (validation reports that).
    fn prune_unknown_fields(&self, obj: &mut Value) -> Option<Vec<String>> {
        let _ = obj;
        None
    }

    /// [`validate`](Self::validate) of an object whose shape is known to decode into
    /// its kind's type (fieldValidation decoded the request's object, or the server
    /// built it from a stored one): a kind may skip decoding it again.
    fn validate_known_shape(&self, obj: &Value) -> Result<(), ApiError> {
        self.validate(obj)
    }

    /// What a custom resource's CRD says about this version (schema, scale paths,
    /// printer columns); `None` for built-in kinds.
    fn custom_resource(&self) -> Option<&crate::crd::CustomResourceVersion> {
        None
    }
}

/// The generic [`Strategy`]: the same code for every kind, parameterised by the kind's
/// [`KindRules`].
#[derive(Clone, Debug)]
pub struct KindStrategy {
    resource: ApiResource,
    rules: &'static KindRules,
    status_subresource: bool,
    /// Pods only: the default NoExecute tolerations' seconds.
    toleration_seconds: default_tolerations::TolerationSeconds,
}

impl KindStrategy {
    /// The strategy with pods tolerating not-ready and unreachable nodes for these
    /// seconds by default (the `DefaultTolerationSeconds` admission).
    pub fn with_toleration_seconds(
        mut self,
        seconds: default_tolerations::TolerationSeconds,
    ) -> Self {
        self.toleration_seconds = seconds;
        self
    }

    fn is_pod(&self) -> bool {
        self.resource.group.is_empty() && self.resource.kind == "Pod"
    }
}

/// The strategy of a resource: its kind's rules from [`kinds::rules_for`], with the
/// status subresource taken from the resource descriptor.
pub fn strategy_for(resource: &ApiResource) -> KindStrategy {
    KindStrategy {
        resource: resource.clone(),
        rules: kinds::rules_for(&resource.group, &resource.kind),
        status_subresource: resource.subresource("status").is_some(),
        toleration_seconds: default_tolerations::TolerationSeconds::default(),
    }
}

impl Strategy for KindStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        if self.status_subresource {
            if let Some(map) = obj.as_object_mut() {
                map.remove("status");
            }
        }
        if let Some(init) = self.rules.initial_status {
            if let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), init());
            }
        }
    }

    fn default(&self, obj: &mut Value) {
        if let Some(defaults) = self.rules.defaults {
            defaults(obj);
        }
        if self.is_pod() {
            default_tolerations::add_with(obj, self.toleration_seconds);
        }
    }

    fn validate(&self, obj: &Value) -> Result<(), ApiError> {
        validation::validate_object(&self.resource, self.rules, obj, true)
    }

    fn validate_known_shape(&self, obj: &Value) -> Result<(), ApiError> {
        validation::validate_object(&self.resource, self.rules, obj, false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<StatusCause> {
        validation::validate_immutable(self.rules, new, old)
    }

    fn has_status_subresource(&self) -> bool {
        self.status_subresource
    }

    fn field_value(&self, obj: &Value, label: &str) -> Result<Option<String>, ApiError> {
        fields::field_value(self.rules, self.resource.namespaced, obj, label)
    }

    fn prune_unknown_fields(&self, obj: &mut Value) -> Option<Vec<String>> {
        let check = self.rules.typed_check?;
        let has_type_fields = obj
            .as_object()
            .is_some_and(|m| m.contains_key("apiVersion") && m.contains_key("kind"));
        let mut unknown = Vec::new();
        let fits = if has_type_fields {
            check(obj, Some(&mut unknown))
        } else {
            // The type fields are the server's to fill when absent; the typed decode
            // wants them, so it runs on a copy that has them.
            let mut typed = obj.clone();
            if let Some(map) = typed.as_object_mut() {
                map.entry("apiVersion")
                    .or_insert_with(|| self.resource.api_version().into());
                map.entry("kind")
                    .or_insert_with(|| self.resource.kind.clone().into());
            }
            check(&typed, Some(&mut unknown))
        };
        match fits {
            Ok(()) => Some(validation::prune_unknown_fields(obj, &unknown)),
            Err(_) => None,
        }
    }
}
