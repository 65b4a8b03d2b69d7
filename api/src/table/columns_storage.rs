//! Columns of the storage kinds, as kube-apiserver prints them: `PersistentVolume`
//! and `PersistentVolumeClaim`, each with VOLUMEMODE under `-o wide`.
//!
//! ```text
//! NAME   STATUS   VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE
//! data   Bound    pv-1     10Gi       RWO            standard       <unset>                 5m
//! ```

use serde_json::{json, Value};

use super::cells::{access_modes, array_at, at, quantity_text, storage_class, str_at};
use super::columns::{age_column, col, name_column, Column};

/// The columns of `group`/`kind` if this module prints it.
pub fn columns(group: &str, kind: &str) -> Option<Vec<Column>> {
    match (group, kind) {
        ("", "PersistentVolume") => Some(vec![
            name_column(),
            col("Capacity", "string", 0, |o, _| {
                json!(quantity_text(at(o, "spec.capacity.storage")))
            }),
            col("Access Modes", "string", 0, |o, _| {
                json!(access_modes(array_at(o, "spec.accessModes")))
            }),
            col("Reclaim Policy", "string", 0, |o, _| {
                json!(str_at(o, "spec.persistentVolumeReclaimPolicy", ""))
            }),
            col("Status", "string", 0, |o, _| json!(phase(o))),
            col("Claim", "string", 0, |o, _| json!(claim(o))),
            col("StorageClass", "string", 0, |o, _| json!(storage_class(o))),
            col("VolumeAttributesClass", "string", 0, |o, _| {
                json!(str_at(o, "spec.volumeAttributesClassName", "<unset>"))
            }),
            col("Reason", "string", 0, |o, _| {
                json!(str_at(o, "status.reason", ""))
            }),
            age_column(),
            volume_mode_column(),
        ]),
        ("", "PersistentVolumeClaim") => Some(vec![
            name_column(),
            col("Status", "string", 0, |o, _| json!(phase(o))),
            col("Volume", "string", 0, |o, _| {
                json!(str_at(o, "spec.volumeName", ""))
            }),
            col("Capacity", "string", 0, |o, _| {
                json!(if is_bound(o) {
                    quantity_text(at(o, "status.capacity.storage"))
                } else {
                    String::new()
                })
            }),
            col("Access Modes", "string", 0, |o, _| {
                json!(if is_bound(o) {
                    access_modes(array_at(o, "status.accessModes"))
                } else {
                    String::new()
                })
            }),
            col("StorageClass", "string", 0, |o, _| json!(storage_class(o))),
            col("VolumeAttributesClass", "string", 0, |o, _| {
                json!(str_at(o, "spec.volumeAttributesClassName", "<unset>"))
            }),
            age_column(),
            volume_mode_column(),
        ]),
        _ => None,
    }
}

/// VOLUMEMODE (`-o wide`): `spec.volumeMode`, or `<unset>`.
fn volume_mode_column() -> Column {
    col("VolumeMode", "string", 1, |o, _| {
        json!(str_at(o, "spec.volumeMode", "<unset>"))
    })
}

/// `status.phase`, or `Terminating` once deletion started.
fn phase(o: &Value) -> String {
    if at(o, "metadata.deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return "Terminating".into();
    }
    str_at(o, "status.phase", "").to_string()
}

/// `namespace/name` of a volume's claim, empty when unclaimed.
fn claim(o: &Value) -> String {
    match at(o, "spec.claimRef") {
        Some(claim) if claim.is_object() => format!(
            "{}/{}",
            str_at(claim, "namespace", ""),
            str_at(claim, "name", "")
        ),
        _ => String::new(),
    }
}

/// A claim shows capacity and access modes once it names its volume.
fn is_bound(o: &Value) -> bool {
    !str_at(o, "spec.volumeName", "").is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn cells(kind: &str, obj: Value) -> Vec<Value> {
        super::super::columns::cells_now(columns("", kind), &obj)
    }

    #[test]
    fn persistent_volume_cells() {
        let created = (Utc::now() - chrono::Duration::seconds(300)).to_rfc3339();
        let bound = json!({
            "metadata": {"name": "test1", "creationTimestamp": created},
            "spec": {"claimRef": {"name": "test", "namespace": "default"},
                     "accessModes": ["ReadOnlyMany"], "capacity": {"storage": "4Gi"},
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}
        });
        assert_eq!(
            cells("PersistentVolume", bound),
            json!([
                "test1",
                "4Gi",
                "ROX",
                "Retain",
                "Bound",
                "default/test",
                "fast",
                "<unset>",
                "",
                "5m",
                "Filesystem"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
        // Deleting; access modes deduplicated in kube's order; capacity canonical;
        // the beta annotation names the class before storageClassName.
        let released = json!({
            "metadata": {"name": "test2", "deletionTimestamp": created,
                         "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
            "spec": {"accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                     "capacity": {"storage": "1.5Gi"}, "storageClassName": "new",
                     "persistentVolumeReclaimPolicy": "Delete",
                     "volumeAttributesClassName": "gold"},
            "status": {"phase": "Failed", "reason": "VolumeFailedDelete"}
        });
        assert_eq!(
            cells("PersistentVolume", released),
            json!([
                "test2",
                "1536Mi",
                "RWO,RWX",
                "Delete",
                "Terminating",
                "",
                "old",
                "gold",
                "VolumeFailedDelete",
                "<unknown>",
                "<unset>"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
    }

    #[test]
    fn persistent_volume_claim_cells() {
        // As kube's TestPrintPersistentVolumeClaim: a claim naming its volume shows the
        // volume's capacity and access modes from its status.
        let named = json!({
            "metadata": {"name": "test4"},
            "spec": {"volumeName": "my-volume", "storageClassName": "my-scn",
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Pending", "accessModes": ["ReadWriteOnce"],
                       "capacity": {"storage": "10Gi"}}
        });
        assert_eq!(
            cells("PersistentVolumeClaim", named),
            json!([
                "test4",
                "Pending",
                "my-volume",
                "10Gi",
                "RWO",
                "my-scn",
                "<unset>",
                "<unknown>",
                "Filesystem"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
        // Without a volume: no capacity or access modes, even if the status has some.
        let pending = json!({
            "metadata": {"name": "test5"},
            "spec": {"resources": {"requests": {"storage": "1Gi"}},
                     "volumeAttributesClassName": "silver"},
            "status": {"phase": "Pending", "accessModes": ["ReadWriteOnce"]}
        });
        assert_eq!(
            cells("PersistentVolumeClaim", pending),
            json!([
                "test5",
                "Pending",
                "",
                "",
                "",
                "",
                "silver",
                "<unknown>",
                "<unset>"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
    }
}
