//! `GET /version`: the Kubernetes version Skiff implements.

use serde_json::{json, Value};

/// The Kubernetes major version served.
pub const KUBERNETES_MAJOR: &str = "1";
/// The Kubernetes minor version served (matches the k8s-openapi feature `v1_33`).
pub const KUBERNETES_MINOR: &str = "33";

/// The `version.Info` document: Kubernetes 1.33 as implemented by this Skiff build.
/// `gitCommit` and `buildDate` come from the `SKIFF_GIT_COMMIT` and `SKIFF_BUILD_DATE`
/// environment variables at compile time when set, and say `unknown` otherwise.
pub fn version_info() -> Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "emulationMajor": KUBERNETES_MAJOR,
        "emulationMinor": KUBERNETES_MINOR,
        "gitVersion": format!("v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0-skiff.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": option_env!("SKIFF_GIT_COMMIT").unwrap_or("unknown"),
        "gitTreeState": "",
        "buildDate": option_env!("SKIFF_BUILD_DATE").unwrap_or("unknown"),
        "goVersion": "none (Rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

/// The architecture under Go's names (what clients expect in `platform`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_version_info() {
        let info: k8s_openapi::apimachinery::pkg::version::Info =
            serde_json::from_value(version_info()).unwrap();
        assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "33"));
        assert!(info.git_version.starts_with("v1.33.0-skiff."));
    }
}
