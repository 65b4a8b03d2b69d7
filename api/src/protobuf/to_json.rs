//! Decoded protobuf messages as the JSON Kubernetes writes for the same objects.

use base64::Engine;
use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value as PValue};
use serde_json::{Map, Value};

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// A message as a JSON object (its special types by their JSON forms).
pub fn message_to_json(msg: &DynamicMessage) -> Value {
    special(msg).unwrap_or_else(|| {
        let mut map = Map::new();
        for (field, value) in msg.fields() {
            if let Some(v) = value_to_json(value) {
                map.insert(field.name().to_owned(), v);
            }
        }
        Value::Object(map)
    })
}

/// A field value; `None` for what Go's JSON encoding leaves out (empty strings, empty
/// structures, lists and maps, zero times).
fn value_to_json(value: &PValue) -> Option<Value> {
    let v = match value {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(n) => Value::from(f64::from(*n)),
        PValue::F64(n) => Value::from(*n),
        PValue::EnumNumber(n) => Value::from(*n),
        PValue::String(s) if s.is_empty() => return None,
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::Message(m) => {
            let v = message_to_json(m);
            if v.is_null() || v.as_object().is_some_and(Map::is_empty) {
                return None;
            }
            v
        }
        PValue::List(items) => {
            let items: Vec<Value> = items
                .iter()
                .map(|i| value_to_json(i).unwrap_or_else(|| empty_like(i)))
                .collect();
            if items.is_empty() {
                return None;
            }
            Value::Array(items)
        }
        PValue::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match k {
                    MapKey::String(s) => s.clone(),
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(n) => n.to_string(),
                    MapKey::I64(n) => n.to_string(),
                    MapKey::U32(n) => n.to_string(),
                    MapKey::U64(n) => n.to_string(),
                };
                map.insert(key, value_to_json(v).unwrap_or_else(|| empty_like(v)));
            }
            if map.is_empty() {
                return None;
            }
            Value::Object(map)
        }
    };
    Some(v)
}

/// What an item of a list or map that Go would leave empty is written as: `""` or `{}`.
fn empty_like(value: &PValue) -> Value {
    match value {
        PValue::String(_) => Value::String(String::new()),
        PValue::Message(_) => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

fn int_field(msg: &DynamicMessage, name: &str) -> i64 {
    msg.get_field_by_name(name)
        .and_then(|v| match v.as_ref() {
            PValue::I64(n) => Some(*n),
            PValue::I32(n) => Some(i64::from(*n)),
            _ => None,
        })
        .unwrap_or(0)
}

fn str_field(msg: &DynamicMessage, name: &str) -> String {
    msg.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn bytes_field(msg: &DynamicMessage, name: &str) -> Vec<u8> {
    msg.get_field_by_name(name)
        .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
        .unwrap_or_default()
}

/// The JSON of the types whose JSON form is not their message's fields; `None` for
/// ordinary messages. A zero time is `null` (left out by the caller).
fn special(msg: &DynamicMessage) -> Option<Value> {
    let name = msg.descriptor().full_name().to_owned();
    let time = |micro: bool| {
        let seconds = int_field(msg, "seconds");
        let nanos = int_field(msg, "nanos");
        if seconds == 0 && nanos == 0 {
            return Value::Null;
        }
        match chrono::DateTime::from_timestamp(seconds, nanos.clamp(0, 999_999_999) as u32) {
            Some(t) if micro => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
            Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            None => Value::Null,
        }
    };
    match name.as_str() {
        n if n == format!("{META}.Time") => Some(time(false)),
        n if n == format!("{META}.MicroTime") => Some(time(true)),
        n if n == format!("{META}.Duration") => {
            Some(Value::String(go_duration(int_field(msg, "duration"))))
        }
        n if n == format!("{META}.FieldsV1") => Some(raw_json(&bytes_field(msg, "Raw"))),
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => Some(raw_json(&bytes_field(msg, "raw"))),
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => {
            Some(Value::String(str_field(msg, "string")))
        }
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Some(if int_field(msg, "type") == 1 {
            Value::String(str_field(msg, "strVal"))
        } else {
            Value::from(int_field(msg, "intVal"))
        }),
        _ => None,
    }
}

/// Embedded JSON (`RawExtension`, `FieldsV1`); `null` when empty or not JSON.
fn raw_json(raw: &[u8]) -> Value {
    serde_json::from_slice(raw).unwrap_or(Value::Null)
}

/// A duration in nanoseconds as Go prints it (`1h2m3s`, `1.5s`, `300ms`, `0s`).
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", trim_fraction(n, div));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = trim_fraction(n % 60_000_000_000, 1_000_000_000);
    let mut out = sign.to_owned();
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{seconds}s"));
    out
}

/// `n / div` with the fraction's trailing zeros dropped (`1500, 1000` → `1.5`).
fn trim_fraction(n: u64, div: u64) -> String {
    let whole = n / div;
    let frac = n % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(3_723_000_000_000), "1h2m3s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(300_000_000), "300ms");
        assert_eq!(go_duration(-60_000_000_000), "-1m0s");
    }
}
