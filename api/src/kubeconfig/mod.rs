//! Writing a kubeconfig file: the admin kubeconfig `skiff apiserver` leaves in its data
//! directory, with the cluster CA, the server URL and the admin client certificate
//! embedded, so `kubectl --kubeconfig DIR/admin.kubeconfig` works at once; and the
//! kubeconfig of any other user or node ([`client_kubeconfig`], as `skiff kubeconfig`
//! issues them).

use std::path::Path;

use base64::Engine;

use crate::tls::{ClientCredentials, ClusterPki, TlsError};

/// Name of the cluster, user and context in generated kubeconfigs.
pub const CLUSTER_NAME: &str = "skiff";

/// The kubeconfig YAML for the admin user of the cluster at `server` (`https://host:port`).
pub fn admin_kubeconfig(server: &str, pki: &ClusterPki) -> String {
    client_kubeconfig(
        server,
        "admin",
        &ClientCredentials {
            ca_cert_pem: pki.ca_cert_pem.clone(),
            cert_pem: pki.admin_cert_pem.clone(),
            key_pem: pki.admin_key_pem.clone(),
        },
    )
}

/// The kubeconfig YAML for `user` of the cluster at `server`, authenticating with the
/// client certificate in `credentials` (see
/// [`ClusterPki::issue_client_certificate`]).
pub fn client_kubeconfig(server: &str, user: &str, credentials: &ClientCredentials) -> String {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": CLUSTER_NAME,
            "cluster": {
                "server": server,
                "certificate-authority-data": b64(&credentials.ca_cert_pem),
            },
        }],
        "users": [{
            "name": user,
            "user": {
                "client-certificate-data": b64(&credentials.cert_pem),
                "client-key-data": b64(&credentials.key_pem),
            },
        }],
        "contexts": [{
            "name": CLUSTER_NAME,
            "context": {"cluster": CLUSTER_NAME, "user": user, "namespace": "default"},
        }],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    });
    // A JSON value always serializes to YAML.
    serde_yaml::to_string(&config).unwrap_or_default()
}

/// The server URL of a kubeconfig's current context (to issue other kubeconfigs for
/// the same cluster); `None` when the file does not say.
pub fn server_of(kubeconfig_yaml: &str) -> Option<String> {
    let config: serde_json::Value = serde_yaml::from_str(kubeconfig_yaml).ok()?;
    let context = config["current-context"].as_str()?;
    let cluster = config["contexts"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == context)?["context"]["cluster"]
        .as_str()?
        .to_owned();
    config["clusters"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == cluster.as_str())?["cluster"]["server"]
        .as_str()
        .map(str::to_owned)
}

/// Write the admin kubeconfig to `path` (mode 0600: it holds the admin's private key).
pub fn write_admin_kubeconfig(path: &Path, server: &str, pki: &ClusterPki) -> Result<(), TlsError> {
    crate::tls::write_private_file(path, &admin_kubeconfig(server, pki))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_embeds_ca_and_admin_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(dir.path(), &["localhost".into()]).unwrap();
        let path = dir.path().join("admin.kubeconfig");
        write_admin_kubeconfig(&path, "https://127.0.0.1:6443", &pki).unwrap();
        let parsed: serde_json::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(parsed["current-context"], "skiff");
        assert_eq!(
            parsed["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        let ca = parsed["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        let ca = base64::engine::general_purpose::STANDARD
            .decode(ca)
            .unwrap();
        assert_eq!(String::from_utf8(ca).unwrap(), pki.ca_cert_pem);
        assert!(parsed["users"][0]["user"]["client-key-data"].is_string());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(server_of(&text).as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(server_of("not: [a kubeconfig"), None);
        assert_eq!(server_of("current-context: x"), None);
    }
}
