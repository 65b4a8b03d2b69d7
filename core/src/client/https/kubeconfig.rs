//! Reading a kubeconfig: the current context's cluster (server URL, CA) and user
//! (client certificate and key, or bearer token), with file paths resolved against the
//! kubeconfig's own directory, as kubectl does.
//!
//! ```
//! use skiff_core::client::https::{ClusterAccess, Credentials};
//! let yaml = r#"
//! apiVersion: v1
//! kind: Config
//! current-context: dev
//! contexts:
//! - name: dev
//!   context: {cluster: c, user: u, namespace: team}
//! clusters:
//! - name: c
//!   cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "Q0E="}
//! users:
//! - name: u
//!   user: {token: secret}
//! "#;
//! let access = ClusterAccess::from_kubeconfig_str(yaml, None).unwrap();
//! assert_eq!(access.server.to_string(), "https://127.0.0.1:6443/");
//! assert_eq!(access.ca_pem, b"CA");
//! assert_eq!(access.namespace.as_deref(), Some("team"));
//! assert!(matches!(access.credentials, Credentials::Token(ref t) if t == "secret"));
//! ```

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::client::ClientError;

/// Why a kubeconfig could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// A file (the kubeconfig or one it names) could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The kubeconfig is not valid YAML of the expected shape.
    #[error("parsing the kubeconfig: {0}")]
    Parse(#[from] serde_yaml::Error),
    /// No `current-context`, or it names a missing context, cluster or user.
    #[error("kubeconfig: {0}")]
    Missing(String),
    /// A `*-data` field is not base64.
    #[error("kubeconfig: {field} is not base64: {source}")]
    Base64 {
        /// The field.
        field: &'static str,
        /// The cause.
        source: base64::DecodeError,
    },
    /// The server URL is not an `https://` URL.
    #[error("kubeconfig: server {0:?} is not an https:// URL")]
    BadServer(String),
    /// An option this client does not support (such as skipping TLS verification).
    #[error("kubeconfig: {0} is not supported")]
    Unsupported(&'static str),
}

impl From<KubeconfigError> for ClientError {
    fn from(e: KubeconfigError) -> Self {
        ClientError::Config(e.to_string())
    }
}

/// How the user proves who they are.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A client certificate (PEM chain) and its private key (PEM).
    ClientCertificate {
        /// The certificate chain, PEM.
        cert_pem: Vec<u8>,
        /// The private key, PEM.
        key_pem: Vec<u8>,
    },
    /// A bearer token.
    Token(String),
    /// No credentials (the server will most likely answer 401).
    None,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys or tokens.
        f.write_str(match self {
            Credentials::ClientCertificate { .. } => "ClientCertificate(..)",
            Credentials::Token(_) => "Token(..)",
            Credentials::None => "None",
        })
    }
}

/// Everything needed to reach one cluster as one user.
#[derive(Clone, Debug)]
pub struct ClusterAccess {
    /// The API server's base URL (`https://host:port`, possibly with a path).
    pub server: http::Uri,
    /// The CA certificates (PEM) that sign the server's certificate; the only roots
    /// trusted.
    pub ca_pem: Vec<u8>,
    /// `tls-server-name`: the name checked in the server's certificate, when it differs
    /// from the URL's host.
    pub tls_server_name: Option<String>,
    /// The user's credentials.
    pub credentials: Credentials,
    /// The context's default namespace, if any.
    pub namespace: Option<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(rename = "current-context", default)]
    current_context: String,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: String,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    tls_server_name: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    exec: Option<serde_yaml::Value>,
    auth_provider: Option<serde_yaml::Value>,
}

impl ClusterAccess {
    /// Reads the kubeconfig at `path` (relative paths inside it are resolved against
    /// its directory).
    pub fn from_kubeconfig(path: &Path) -> Result<ClusterAccess, KubeconfigError> {
        let text = read(path)?;
        let text = String::from_utf8(text).map_err(|e| KubeconfigError::Read {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        ClusterAccess::from_kubeconfig_str(&text, path.parent())
    }

    /// Reads kubeconfig YAML; relative file paths are resolved against `base_dir` (the
    /// process's directory when `None`).
    pub fn from_kubeconfig_str(
        yaml: &str,
        base_dir: Option<&Path>,
    ) -> Result<ClusterAccess, KubeconfigError> {
        let config: Config = serde_yaml::from_str(yaml)?;
        let missing = |what: String| KubeconfigError::Missing(what);
        if config.current_context.is_empty() {
            return Err(missing("no current-context".into()));
        }
        let context = find(&config.contexts, &config.current_context)
            .ok_or_else(|| missing(format!("context {:?} not found", config.current_context)))?;
        let cluster = find(&config.clusters, &context.cluster)
            .ok_or_else(|| missing(format!("cluster {:?} not found", context.cluster)))?;
        let user = if context.user.is_empty() {
            None
        } else {
            Some(
                find(&config.users, &context.user)
                    .ok_or_else(|| missing(format!("user {:?} not found", context.user)))?,
            )
        };
        let resolve = |p: &Path| match base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_owned(),
        };

        let server: http::Uri = cluster
            .server
            .parse()
            .map_err(|_| KubeconfigError::BadServer(cluster.server.clone()))?;
        if server.scheme_str() != Some("https") || server.host().is_none() {
            return Err(KubeconfigError::BadServer(cluster.server.clone()));
        }
        let ca_pem = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(data), _) => decode("certificate-authority-data", data)?,
            (None, Some(path)) => read(&resolve(path))?,
            (None, None) if cluster.insecure_skip_tls_verify => {
                return Err(KubeconfigError::Unsupported("insecure-skip-tls-verify"))
            }
            (None, None) => {
                return Err(missing(format!(
                    "cluster {:?} has no certificate-authority",
                    context.cluster
                )))
            }
        };

        let credentials = match user {
            None => Credentials::None,
            Some(u) => {
                let cert = match (&u.client_certificate_data, &u.client_certificate) {
                    (Some(d), _) => Some(decode("client-certificate-data", d)?),
                    (None, Some(p)) => Some(read(&resolve(p))?),
                    (None, None) => None,
                };
                let key = match (&u.client_key_data, &u.client_key) {
                    (Some(d), _) => Some(decode("client-key-data", d)?),
                    (None, Some(p)) => Some(read(&resolve(p))?),
                    (None, None) => None,
                };
                match (cert, key, &u.token, &u.token_file) {
                    (Some(cert_pem), Some(key_pem), _, _) => {
                        Credentials::ClientCertificate { cert_pem, key_pem }
                    }
                    (Some(_), None, _, _) | (None, Some(_), _, _) => {
                        return Err(missing(format!(
                            "user {:?} needs both a client certificate and its key",
                            context.user
                        )))
                    }
                    (None, None, Some(token), _) => Credentials::Token(token.trim().to_owned()),
                    (None, None, None, Some(path)) => {
                        let bytes = read(&resolve(path))?;
                        Credentials::Token(String::from_utf8_lossy(&bytes).trim().to_owned())
                    }
                    (None, None, None, None) if u.exec.is_some() => {
                        return Err(KubeconfigError::Unsupported("exec credential plugins"))
                    }
                    (None, None, None, None) if u.auth_provider.is_some() => {
                        return Err(KubeconfigError::Unsupported("auth-provider"))
                    }
                    (None, None, None, None) => Credentials::None,
                }
            }
        };
        Ok(ClusterAccess {
            server,
            ca_pem,
            tls_server_name: cluster.tls_server_name.clone(),
            credentials,
            namespace: context.namespace.clone().filter(|n| !n.is_empty()),
        })
    }
}

fn find<'a, T>(list: &'a [Named<T>], name: &str) -> Option<&'a T> {
    list.iter().find(|n| n.name == name).map(|n| &n.value)
}

fn read(path: &Path) -> Result<Vec<u8>, KubeconfigError> {
    std::fs::read(path).map_err(|source| KubeconfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn decode(field: &'static str, data: &str) -> Result<Vec<u8>, KubeconfigError> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|source| KubeconfigError::Base64 { field, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERTS: &str = r#"
apiVersion: v1
kind: Config
current-context: admin
contexts:
- name: admin
  context: {cluster: local, user: admin}
- name: other
  context: {cluster: nowhere, user: admin}
clusters:
- name: local
  cluster: {server: "https://[::1]:6443", certificate-authority: pki/ca.crt}
users:
- name: admin
  user: {client-certificate: pki/admin.crt, client-key: /abs/admin.key}
"#;

    #[test]
    fn relative_paths_resolve_against_the_kubeconfig_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pki")).unwrap();
        std::fs::write(dir.path().join("pki/ca.crt"), "CA").unwrap();
        std::fs::write(dir.path().join("pki/admin.crt"), "CERT").unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, CERTS).unwrap();
        // The key's absolute path does not exist: the error names it.
        let err = ClusterAccess::from_kubeconfig(&path).unwrap_err();
        assert!(err.to_string().contains("/abs/admin.key"), "{err}");

        std::fs::write(dir.path().join("admin.key"), "KEY").unwrap();
        let yaml = CERTS.replace("/abs/admin.key", "admin.key");
        std::fs::write(&path, yaml).unwrap();
        let access = ClusterAccess::from_kubeconfig(&path).unwrap();
        assert_eq!(access.ca_pem, b"CA");
        assert_eq!(access.server.host(), Some("[::1]"));
        assert_eq!(
            access.credentials,
            Credentials::ClientCertificate {
                cert_pem: b"CERT".to_vec(),
                key_pem: b"KEY".to_vec()
            }
        );
        assert_eq!(access.namespace, None);
    }

    #[test]
    fn bad_kubeconfigs_are_errors() {
        let other = CERTS.replace("current-context: admin", "current-context: other");
        let err = ClusterAccess::from_kubeconfig_str(&other, None).unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
        let none = CERTS.replace("current-context: admin", "current-context: missing");
        assert!(ClusterAccess::from_kubeconfig_str(&none, None).is_err());
        let http = CERTS.replace("https://[::1]:6443", "http://h:80");
        assert!(matches!(
            ClusterAccess::from_kubeconfig_str(&http, None),
            Err(KubeconfigError::BadServer(_))
        ));
        assert!(matches!(
            ClusterAccess::from_kubeconfig_str("{{{", None),
            Err(KubeconfigError::Parse(_))
        ));
        let bad64 = r#"
current-context: c
contexts: [{name: c, context: {cluster: c}}]
clusters: [{name: c, cluster: {server: "https://h", certificate-authority-data: "!!"}}]
"#;
        assert!(matches!(
            ClusterAccess::from_kubeconfig_str(bad64, None),
            Err(KubeconfigError::Base64 { .. })
        ));
        let exec = r#"
current-context: c
contexts: [{name: c, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://h", certificate-authority-data: "Q0E="}}]
users: [{name: u, user: {exec: {command: aws}}}]
"#;
        assert!(matches!(
            ClusterAccess::from_kubeconfig_str(exec, None),
            Err(KubeconfigError::Unsupported(_))
        ));
    }
}
