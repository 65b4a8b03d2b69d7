//! Kubernetes' protobuf wire format (`application/vnd.kubernetes.protobuf`) for request
//! bodies: kubectl's typed clients (`kubectl create configmap|secret|deployment|…`,
//! `kubectl run`) send objects this way.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` message whose `typeMeta`
//! names the object's `apiVersion` and `kind` and whose `raw` holds the object's own
//! message (`k8s.io.api.core.v1.ConfigMap`, ...). [`decode_object`] turns it into the
//! JSON object the rest of the server works on, written as Kubernetes writes JSON:
//! `Time` as RFC 3339, `IntOrString` as a number or a string, `Quantity` as a string,
//! bytes as base64, empty strings and empty structures left out.
//!
//! The message types come from the `generated.proto` files in `api/proto/`, compiled
//! into a descriptor set by `build.rs`.
//!
//! ```
//! use skiff_api::protobuf::{decode_object, encode_unknown};
//! // A ConfigMap {metadata {name: "c"}, data {"a": "b"}} as kubectl encodes it.
//! let meta = [0x0a, 0x01, b'c'];
//! let entry = [0x0a, 0x01, b'a', 0x12, 0x01, b'b'];
//! let mut raw = vec![0x0a, meta.len() as u8];
//! raw.extend(meta);
//! raw.extend([0x12, entry.len() as u8]);
//! raw.extend(entry);
//! let body = encode_unknown("v1", "ConfigMap", &raw);
//! let obj = decode_object(&body).unwrap();
//! assert_eq!(obj, serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "c"}, "data": {"a": "b"}}));
//! ```

mod to_json;

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::Value;

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the body does not start with the Kubernetes protobuf prefix")]
    MissingMagic,
    /// The envelope or the object's message does not decode.
    #[error("malformed protobuf: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The envelope names no type, or one the server has no message for.
    #[error("no protobuf message known for {api_version:?} {kind:?}")]
    UnknownType {
        /// `typeMeta.apiVersion` of the envelope.
        api_version: String,
        /// `typeMeta.kind` of the envelope.
        kind: String,
    },
    /// The envelope's content is compressed or in another encoding.
    #[error("unsupported protobuf content encoding {0:?}")]
    Encoding(String),
    /// The compiled-in descriptors did not load (a build problem).
    #[error("protobuf descriptors unavailable: {0}")]
    Descriptors(String),
}

fn pool() -> Result<&'static DescriptorPool, ProtobufError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes.fds"))[..])
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| ProtobufError::Descriptors(e.clone()))
}

/// The protobuf package of an API group version: `k8s.io.api.apps.v1` for `apps/v1`,
/// `k8s.io.api.core.v1` for `v1`, apimachinery's meta package for `meta.k8s.io`.
fn package_of(api_version: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    match group {
        "" => format!("k8s.io.api.core.{version}"),
        "meta.k8s.io" => format!("k8s.io.apimachinery.pkg.apis.meta.{version}"),
        g => format!(
            "k8s.io.api.{}.{version}",
            g.split('.').next().unwrap_or_default()
        ),
    }
}

/// The message of `kind` in `api_version` (meta's types such as `DeleteOptions` are
/// also found under other group versions, as Kubernetes registers them everywhere).
fn message_for(api_version: &str, kind: &str) -> Result<MessageDescriptor, ProtobufError> {
    let pool = pool()?;
    [
        package_of(api_version),
        "k8s.io.apimachinery.pkg.apis.meta.v1".to_owned(),
    ]
    .iter()
    .find_map(|p| pool.get_message_by_name(&format!("{p}.{kind}")))
    .ok_or_else(|| ProtobufError::UnknownType {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })
}

/// Decodes a protobuf request body (`k8s\0` + `runtime.Unknown`) into a JSON object
/// with `apiVersion` and `kind` set from the envelope.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtobufError::MissingMagic)?;
    let unknown_desc = pool()?
        .get_message_by_name("k8s.io.apimachinery.pkg.runtime.Unknown")
        .ok_or_else(|| ProtobufError::Descriptors("runtime.Unknown is missing".into()))?;
    let unknown = DynamicMessage::decode(unknown_desc, rest)?;
    let text = |msg: &DynamicMessage, field: &str| {
        msg.get_field_by_name(field)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let encoding = text(&unknown, "contentEncoding");
    if !encoding.is_empty() {
        return Err(ProtobufError::Encoding(encoding));
    }
    let (api_version, kind) = match unknown.get_field_by_name("typeMeta") {
        Some(v) => match v.as_message() {
            Some(tm) => (text(tm, "apiVersion"), text(tm, "kind")),
            None => Default::default(),
        },
        None => Default::default(),
    };
    let raw = unknown
        .get_field_by_name("raw")
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    let desc = message_for(&api_version, &kind)?;
    let object = DynamicMessage::decode(desc, raw)?;
    let mut json = to_json::message_to_json(&object);
    if let Some(map) = json.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(json)
}

/// Wraps an object's message bytes in the `k8s\0` + `runtime.Unknown` envelope (what
/// clients send; used by tests).
pub fn encode_unknown(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        prost::encoding::encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    let mut type_meta = Vec::new();
    field(0x0a, api_version.as_bytes(), &mut type_meta);
    field(0x12, kind.as_bytes(), &mut type_meta);
    let mut out = MAGIC.to_vec();
    field(0x0a, &type_meta, &mut out);
    field(0x12, raw, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages() {
        assert_eq!(package_of("v1"), "k8s.io.api.core.v1");
        assert_eq!(package_of("apps/v1"), "k8s.io.api.apps.v1");
        assert_eq!(
            package_of("coordination.k8s.io/v1"),
            "k8s.io.api.coordination.v1"
        );
        assert!(message_for("apps/v1", "Deployment").is_ok());
        assert!(message_for("v1", "DeleteOptions").is_ok());
        assert!(matches!(
            message_for("v1", "Nope"),
            Err(ProtobufError::UnknownType { .. })
        ));
    }

    #[test]
    fn priority_classes_decode() {
        // PriorityClass {metadata {name: "high"}, value: 1000, globalDefault: false,
        // description: "d"}, as `kubectl create priorityclass` sends it.
        let raw = [
            0x0a, 0x06, 0x0a, 0x04, b'h', b'i', b'g', b'h', // metadata.name
            0x10, 0xe8, 0x07, // value 1000
            0x18, 0x00, // globalDefault false
            0x22, 0x01, b'd', // description
        ];
        let body = encode_unknown("scheduling.k8s.io/v1", "PriorityClass", &raw);
        let obj = decode_object(&body).unwrap();
        assert_eq!(obj["metadata"]["name"], "high");
        assert_eq!(obj["value"], 1000);
        assert_eq!(obj["description"], "d");
        assert_eq!(obj["kind"], "PriorityClass");
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(
            decode_object(b"{}"),
            Err(ProtobufError::MissingMagic)
        ));
        assert!(matches!(
            decode_object(b"k8s\0\x0a\xff"),
            Err(ProtobufError::Malformed(_))
        ));
        let unknown_kind = encode_unknown("v1", "Widget", b"");
        assert!(matches!(
            decode_object(&unknown_kind),
            Err(ProtobufError::UnknownType { .. })
        ));
    }
}
