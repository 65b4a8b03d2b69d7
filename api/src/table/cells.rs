//! Reading cell values out of objects.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The value at a dotted path (`spec.replicas`), if any.
pub fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, key| v.get(key))
}

/// The string at a path, or `default`.
pub fn str_at<'a>(obj: &'a Value, path: &str, default: &'a str) -> &'a str {
    at(obj, path).and_then(Value::as_str).unwrap_or(default)
}

/// The integer at a path, or 0.
pub fn int_at(obj: &Value, path: &str) -> i64 {
    at(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at a path, or an empty slice.
pub fn array_at<'a>(obj: &'a Value, path: &str) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A timestamp field as a time.
pub fn time_at(obj: &Value, path: &str) -> Option<DateTime<Utc>> {
    let text = at(obj, path)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long ago `path` was, as kubectl prints ages; `<unknown>` when absent.
pub fn age_at(obj: &Value, path: &str, now: DateTime<Utc>) -> String {
    match time_at(obj, path) {
        Some(t) => human_duration(now.signed_duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// A duration the way Kubernetes' `duration.HumanDuration` prints it: `45s`, `3m12s`,
/// `25m`, `5h30m`, `20h`, `3d4h`, `40d`, `2y10d`, `9y`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        let days = hours / 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let years = hours / 24 / 365;
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{years}y")
}

/// `a,b,c` of the non-empty strings, or `<none>`.
pub fn join_or_none(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        "<none>".into()
    } else {
        items.join(",")
    }
}

/// A label selector (`matchLabels` and `matchExpressions`) printed as kubectl does.
pub fn selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        parts.extend(
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())),
        );
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(expr, "key", "");
        let values: Vec<&str> = array_at(expr, "values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        match str_at(expr, "operator", "") {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    join_or_none(parts)
}

/// The names and images of a pod template's containers.
pub fn containers_and_images(obj: &Value, spec_path: &str) -> (String, String) {
    let containers = array_at(obj, &format!("{spec_path}.containers"));
    let names = join_or_none(containers.iter().map(|c| str_at(c, "name", "").to_string()));
    let images = join_or_none(
        containers
            .iter()
            .map(|c| str_at(c, "image", "").to_string()),
    );
    (names, images)
}
