//! The [`Strategy`]s of CRD objects themselves ([`DefinitionStrategy`]) and of the
//! custom objects they define ([`CustomResourceStrategy`]).

use std::sync::Arc;

use serde_json::{json, Value};
use skiff_core::resource::ApiResource;
use skiff_core::status::{ApiError, StatusCause};

use super::definition::{decode, CustomResourceVersion};
use super::schema;
use super::validation::{validate_crd, validate_crd_update};
use crate::registry::meta;
use crate::strategy::{strategy_for, KindStrategy, Strategy};

/// The strategy of `apiextensions.k8s.io/v1` CustomResourceDefinitions: the generic one
/// plus CRD defaulting and validation.
#[derive(Clone, Debug)]
pub struct DefinitionStrategy {
    inner: KindStrategy,
    resource: ApiResource,
}

impl DefinitionStrategy {
    /// The strategy for the CRD resource `resource`.
    pub fn new(resource: &ApiResource) -> DefinitionStrategy {
        DefinitionStrategy {
            inner: strategy_for(resource),
            resource: resource.clone(),
        }
    }
}

/// Kubernetes' `SetDefaults_CustomResourceDefinition`: conversion strategy `None`,
/// `singular` and `listKind` from the kind.
fn default_crd(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let conversion = spec.entry("conversion").or_insert_with(|| json!({}));
    if let Some(c) = conversion.as_object_mut() {
        c.entry("strategy").or_insert_with(|| json!("None"));
    }
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !kind.is_empty() {
            if names
                .get("singular")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                names.insert("singular".into(), json!(kind.to_ascii_lowercase()));
            }
            if names
                .get("listKind")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                names.insert("listKind".into(), json!(format!("{kind}List")));
            }
        }
    }
}

impl Strategy for DefinitionStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        self.inner.prepare_for_create(obj);
    }

    fn default(&self, obj: &mut Value) {
        self.inner.default(obj);
        default_crd(obj);
    }

    fn validate(&self, obj: &Value) -> Result<(), ApiError> {
        self.inner.validate(obj)?;
        let causes = validate_crd(obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                &self.resource.qualified_kind(),
                meta::name(obj),
                causes,
            ));
        }
        decode(obj).map(|_| ()).map_err(|e| {
            ApiError::bad_request(format!(
                "CustomResourceDefinition in version \"v1\" cannot be handled as a CustomResourceDefinition: {e}"
            ))
        })
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<StatusCause> {
        let mut causes = self.inner.validate_update(new, old);
        causes.extend(validate_crd_update(new, old));
        causes
    }

    fn has_status_subresource(&self) -> bool {
        self.inner.has_status_subresource()
    }

    fn field_value(&self, obj: &Value, label: &str) -> Result<Option<String>, ApiError> {
        self.inner.field_value(obj, label)
    }
}

/// The strategy of one served version of a custom resource: pruning and defaulting
/// from the version's schema, schema validation, metadata checked as for built-ins,
/// objects stored in the storage version.
#[derive(Clone, Debug)]
pub struct CustomResourceStrategy {
    inner: KindStrategy,
    version: Arc<CustomResourceVersion>,
}

impl CustomResourceStrategy {
    /// The strategy of `version`.
    pub fn new(version: Arc<CustomResourceVersion>) -> CustomResourceStrategy {
        CustomResourceStrategy {
            inner: strategy_for(&version.resource),
            version,
        }
    }
}

impl Strategy for CustomResourceStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        self.inner.prepare_for_create(obj);
    }

    /// Prunes unknown fields, applies the schema's defaults, and sets the storage
    /// version's `apiVersion` (conversion `None`: every version has the same fields).
    fn default(&self, obj: &mut Value) {
        schema::prune(&self.version.schema, obj);
        schema::apply_defaults(&self.version.schema, obj);
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".into(), json!(self.version.storage_api_version));
        }
    }

    fn validate(&self, obj: &Value) -> Result<(), ApiError> {
        self.inner.validate(obj)?;
        let causes = schema::validate(&self.version.schema, obj);
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(
                &self.version.resource.qualified_kind(),
                meta::name(obj),
                causes,
            ))
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<StatusCause> {
        self.inner.validate_update(new, old)
    }

    fn has_status_subresource(&self) -> bool {
        self.inner.has_status_subresource()
    }

    fn field_value(&self, obj: &Value, label: &str) -> Result<Option<String>, ApiError> {
        self.inner.field_value(obj, label)
    }

    /// The fields the version's schema does not declare (and does not preserve),
    /// removed; `fieldValidation` reports them.
    fn prune_unknown_fields(&self, obj: &mut Value) -> Option<Vec<String>> {
        Some(schema::pruned_fields(&self.version.schema, obj))
    }

    fn custom_resource(&self) -> Option<&CustomResourceVersion> {
        Some(&self.version)
    }
}
