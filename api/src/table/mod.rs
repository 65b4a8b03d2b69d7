//! `meta.k8s.io/v1` `Table` responses: what `kubectl get` asks for (Accept
//! `application/json;as=Table;v=v1;g=meta.k8s.io`) and prints with the familiar columns
//! per kind (pods: NAME READY STATUS RESTARTS AGE, and IP NODE ... with `-o wide`).
//!
//! [`render`] turns an object or a list into a Table; [`TableTransform`] plugs it into
//! the resource handlers (`ApiServerConfig::response_transform`). Each row's `object`
//! is the object's `PartialObjectMetadata` (kubectl needs names, namespaces and labels
//! from it).
//!
//! Custom resources get the Name column and their CRD's `additionalPrinterColumns`
//! (`printer.rs`).
//!
//! # Organization
//! - [`columns_for`]: the column definitions and cell functions of a kind; pods in
//!   `columns_pods.rs`, the workload and other core kinds in `columns.rs`, Endpoints
//!   and EndpointSlices in `columns_network.rs`, PersistentVolumes and claims in
//!   `columns_storage.rs`, ServiceAccounts, quotas, limit ranges, disruption budgets
//!   and controller revisions in `columns_cluster.rs`, core and `events.k8s.io`
//!   events in `columns_events.rs`; shared cell helpers in `cells.rs`.
//! - [`human_duration`]: ages printed as kubectl prints them (`5s`, `3m12s`, `4d`).

mod cells;
mod columns;
mod columns_cluster;
mod columns_events;
mod columns_network;
mod columns_pods;
mod columns_storage;
mod printer;

pub use cells::human_duration;
pub use columns::{columns_for, Column};
pub use printer::render as render_custom;

use serde_json::{json, Value};
use skiff_core::resource::ApiResource;
use skiff_core::status::ApiError;

use crate::handler::ResponseTransform;

/// The `meta.k8s.io` version of Table a client asked for (`v1` or `v1beta1`), if its
/// Accept header asks for a Table before anything else it accepts.
pub fn wants_table(accept: &str) -> Option<&'static str> {
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim())
        };
        match param("as") {
            Some("Table") if media == "application/json" && param("g") == Some("meta.k8s.io") => {
                match param("v") {
                    Some("v1") => return Some("v1"),
                    Some("v1beta1") => return Some("v1beta1"),
                    _ => continue,
                }
            }
            Some(_) => continue,
            None => return None,
        }
    }
    None
}

/// Render `body` (one object, or a list with `items`) of `resource` as a Table of
/// `meta.k8s.io/{table_version}`. With `include_object`, each row carries the object's
/// `PartialObjectMetadata`.
pub fn render(
    resource: &ApiResource,
    body: &Value,
    table_version: &str,
    include_object: bool,
) -> Value {
    let columns = columns_for(resource);
    build(
        columns.iter().map(Column::definition).collect(),
        &|obj, now| columns.iter().map(|c| (c.cell)(obj, now)).collect(),
        body,
        table_version,
        include_object,
    )
}

/// The cells of one row, from the object and the current time.
type RowFn<'a> = &'a dyn Fn(&Value, chrono::DateTime<chrono::Utc>) -> Vec<Value>;

/// A Table of `body` (one object or a list) with these column definitions and cells.
fn build(
    definitions: Vec<Value>,
    row_cells: RowFn<'_>,
    body: &Value,
    table_version: &str,
    include_object: bool,
) -> Value {
    let is_list = body.get("items").is_some_and(Value::is_array)
        && body
            .get("kind")
            .and_then(Value::as_str)
            .is_none_or(|k| k.ends_with("List"));
    let objects: Vec<&Value> = if is_list {
        body["items"]
            .as_array()
            .map(|items| items.iter().collect())
            .unwrap_or_default()
    } else {
        vec![body]
    };
    let now = chrono::Utc::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let cells = row_cells(obj, now);
            let mut row = json!({ "cells": cells });
            if include_object {
                row["object"] = json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": format!("meta.k8s.io/{table_version}"),
                    "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
                });
            }
            row
        })
        .collect();
    let mut metadata = json!({});
    if is_list {
        for key in ["resourceVersion", "continue", "remainingItemCount"] {
            if let Some(v) = body["metadata"].get(key) {
                metadata[key] = v.clone();
            }
        }
    } else if let Some(rv) = body["metadata"].get("resourceVersion") {
        metadata["resourceVersion"] = rv.clone();
    }
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{table_version}"),
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// The [`ResponseTransform`] that answers Table requests with [`render`].
#[derive(Clone, Debug, Default)]
pub struct TableTransform;

impl ResponseTransform for TableTransform {
    fn applies_to(&self, accept: &str) -> bool {
        wants_table(accept).is_some()
    }

    fn transform(
        &self,
        resource: &ApiResource,
        accept: &str,
        body: &Value,
    ) -> Option<Result<(Value, String), ApiError>> {
        let version = wants_table(accept)?;
        let table = render(resource, body, version, true);
        Some(Ok((
            table,
            format!("application/json;as=Table;v={version};g=meta.k8s.io"),
        )))
    }

    fn transform_served(
        &self,
        served: &crate::ServedResource,
        accept: &str,
        body: &Value,
    ) -> Option<Result<(Value, String), ApiError>> {
        let Some(custom) = served.registry.strategy().custom_resource() else {
            return self.transform(&served.resource, accept, body);
        };
        let version = wants_table(accept)?;
        let table = printer::render(&custom.columns, body, version, true);
        Some(Ok((
            table,
            format!("application/json;as=Table;v={version};g=meta.k8s.io"),
        )))
    }
}

#[cfg(test)]
mod tests;
