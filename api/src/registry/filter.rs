//! List and watch filters: a label selector and a field selector, checked against
//! dynamic objects with the kind's field getters.

use super::selector::{FieldSelector, LabelSelector};
use serde_json::Value;
use skiff_core::status::ApiError;

use super::meta;
use crate::strategy::Strategy;

/// The label and field selectors of a list or watch request.
#[derive(Clone, Debug, Default)]
pub struct ObjectFilter {
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
}

impl ObjectFilter {
    /// Parses the `labelSelector` and `fieldSelector` query values (400 on syntax
    /// errors or field labels the kind does not support).
    pub fn parse(
        label: Option<&str>,
        field: Option<&str>,
        strategy: &dyn Strategy,
    ) -> Result<Self, ApiError> {
        let label = match label.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(LabelSelector::parse(s)?),
            None => None,
        };
        let field = match field.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                let selector = FieldSelector::parse(s)?;
                // Reject unsupported field labels up front, as Kubernetes does.
                let empty = Value::Object(Default::default());
                for requirement in selector.requirements() {
                    strategy.field_value(&empty, &requirement.field)?;
                }
                Some(selector)
            }
            None => None,
        };
        Ok(ObjectFilter { label, field })
    }

    /// Whether this filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.label.as_ref().is_none_or(LabelSelector::is_empty)
            && self.field.as_ref().is_none_or(FieldSelector::is_empty)
    }

    /// Whether `obj` passes both selectors.
    pub fn matches(&self, obj: &Value, strategy: &dyn Strategy) -> bool {
        if let Some(label) = &self.label {
            if !label.matches(&meta::labels(obj)) {
                return false;
            }
        }
        if let Some(field) = &self.field {
            let get = |f: &str| strategy.field_value(obj, f).ok().flatten();
            if !field.matches(&get) {
                return false;
            }
        }
        true
    }
}
