//! Generating and loading the cluster CA and the certificates it signs.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::TlsError;

/// Common name of the cluster CA.
const CA_COMMON_NAME: &str = "skiff-ca";
/// Years a generated certificate stays valid.
const VALIDITY_YEARS: i32 = 10;

/// Where each PEM file of the cluster's PKI lives (all under `DIR/pki/`).
#[derive(Clone, Debug)]
pub struct PkiFiles {
    /// The folder holding every file below.
    pub dir: PathBuf,
}

impl PkiFiles {
    /// The files under `data_dir/pki`.
    pub fn new(data_dir: &Path) -> PkiFiles {
        PkiFiles {
            dir: data_dir.join("pki"),
        }
    }
    /// The CA certificate (what clients trust).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// The CA private key.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// The API server's serving certificate.
    pub fn serving_cert(&self) -> PathBuf {
        self.dir.join("apiserver.crt")
    }
    /// The serving certificate's key.
    pub fn serving_key(&self) -> PathBuf {
        self.dir.join("apiserver.key")
    }
    /// The admin client certificate (CN admin, O system:masters).
    pub fn admin_cert(&self) -> PathBuf {
        self.dir.join("admin.crt")
    }
    /// The admin client certificate's key.
    pub fn admin_key(&self) -> PathBuf {
        self.dir.join("admin.key")
    }
}

/// The cluster's certificates and keys, as PEM text.
#[derive(Clone, Debug)]
pub struct ClusterPki {
    /// The CA certificate.
    pub ca_cert_pem: String,
    /// The serving certificate.
    pub serving_cert_pem: String,
    /// The serving certificate's private key.
    pub serving_key_pem: String,
    /// The admin client certificate.
    pub admin_cert_pem: String,
    /// The admin client certificate's private key.
    pub admin_key_pem: String,
}

impl ClusterPki {
    /// Load the PKI under `data_dir/pki`, creating what is missing: the CA on first
    /// start, then the serving certificate (for `hosts`: DNS names or IP addresses) and
    /// the admin client certificate. Existing files are never overwritten, so clients
    /// keep trusting the same CA across restarts. Keys are written with mode 0600.
    pub fn load_or_create(data_dir: &Path, hosts: &[String]) -> Result<ClusterPki, TlsError> {
        let files = PkiFiles::new(data_dir);
        std::fs::create_dir_all(&files.dir).map_err(|source| TlsError::Io {
            path: files.dir.clone(),
            source,
        })?;

        let ca_key = match read_optional(&files.ca_key())? {
            Some(pem) => KeyPair::from_pem(&pem)?,
            None => {
                let key = KeyPair::generate()?;
                let cert = ca_params().self_signed(&key)?;
                write_file(&files.ca_cert(), &cert.pem(), false)?;
                write_file(&files.ca_key(), &key.serialize_pem(), true)?;
                tracing::info!(file = %files.ca_cert().display(), "generated the cluster CA");
                key
            }
        };
        let ca_cert_pem = read_required(&files.ca_cert())?;
        // The CA's subject and key are all an issuer needs; rebuilding its parameters
        // gives the same issuer name and key identifier as the stored certificate.
        let issuer = Issuer::new(ca_params(), ca_key);

        if !files.serving_cert().exists() || !files.serving_key().exists() {
            let mut params = CertificateParams::new(hosts.to_vec())?;
            params
                .distinguished_name
                .push(DnType::CommonName, "skiff-apiserver");
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            issue(
                &params,
                &issuer,
                &files.serving_cert(),
                &files.serving_key(),
            )?;
            tracing::info!(?hosts, "generated the serving certificate");
        }
        if !files.admin_cert().exists() || !files.admin_key().exists() {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.distinguished_name.push(DnType::CommonName, "admin");
            params
                .distinguished_name
                .push(DnType::OrganizationName, "system:masters");
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            issue(&params, &issuer, &files.admin_cert(), &files.admin_key())?;
            tracing::info!("generated the admin client certificate");
        }

        Ok(ClusterPki {
            ca_cert_pem,
            serving_cert_pem: read_required(&files.serving_cert())?,
            serving_key_pem: read_required(&files.serving_key())?,
            admin_cert_pem: read_required(&files.admin_cert())?,
            admin_key_pem: read_required(&files.admin_key())?,
        })
    }
}

/// A client certificate issued by the cluster CA, with what a kubeconfig needs.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// The CA certificate (what the client trusts the server with).
    pub ca_cert_pem: String,
    /// The client certificate.
    pub cert_pem: String,
    /// The client certificate's private key.
    pub key_pem: String,
}

impl ClusterPki {
    /// Issue a client certificate for `user` (its common name) in `group` (its
    /// organization, if any), signed by the CA under `data_dir/pki`, which must exist
    /// already (it is never created here). Nothing is written: the caller decides where
    /// the key goes. For a node: user `system:node:NAME`, group `system:nodes`.
    pub fn issue_client_certificate(
        data_dir: &Path,
        user: &str,
        group: Option<&str>,
    ) -> Result<ClientCredentials, TlsError> {
        let files = PkiFiles::new(data_dir);
        let ca_key = KeyPair::from_pem(&read_required(&files.ca_key())?)?;
        let ca_cert_pem = read_required(&files.ca_cert())?;
        let issuer = Issuer::new(ca_params(), ca_key);
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        if let Some(group) = group {
            params
                .distinguished_name
                .push(DnType::OrganizationName, group);
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        set_validity(&mut params);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(ClientCredentials {
            ca_cert_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The CA's parameters (deterministic: used both to create it and to issue with it).
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params);
    params
}

/// Valid from yesterday (clock skew) for [`VALIDITY_YEARS`].
fn set_validity(params: &mut CertificateParams) {
    use chrono::Datelike;
    let from = chrono::Utc::now() - chrono::Duration::days(1);
    // Month and day come from a real date, so they are in range; Feb 29 + 10 years is
    // clamped to Feb 28 by using day 28 at most for the end date.
    let (y, m, d) = (from.year(), from.month() as u8, from.day() as u8);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + VALIDITY_YEARS, m, d.min(28));
}

/// Sign `params` (with a fresh key) by the CA and write the certificate and key.
fn issue(
    params: &CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), TlsError> {
    let mut params = params.clone();
    set_validity(&mut params);
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    write_file(key_path, &key.serialize_pem(), true)?;
    write_file(cert_path, &cert.pem(), false)
}

fn read_optional(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn read_required(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Write a file only its owner may read (mode 0600 on Unix): keys, kubeconfigs.
pub fn write_private_file(path: &Path, text: &str) -> Result<(), TlsError> {
    write_file(path, text, true)
}

/// Write a file; private ones (keys) get mode 0600 on Unix.
fn write_file(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    use std::io::Write;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_loads_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = ClusterPki::load_or_create(dir.path(), &hosts).unwrap();
        assert!(first.ca_cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(first.admin_key_pem.contains("PRIVATE KEY"));
        let second = ClusterPki::load_or_create(dir.path(), &hosts).unwrap();
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_eq!(first.serving_cert_pem, second.serving_cert_pem);
        assert_eq!(first.admin_cert_pem, second.admin_cert_pem);
    }

    #[test]
    fn reissues_a_missing_leaf_with_the_existing_ca() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_string()];
        let first = ClusterPki::load_or_create(dir.path(), &hosts).unwrap();
        std::fs::remove_file(PkiFiles::new(dir.path()).serving_cert()).unwrap();
        let second = ClusterPki::load_or_create(dir.path(), &hosts).unwrap();
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_ne!(first.serving_cert_pem, second.serving_cert_pem);
    }

    #[test]
    fn issues_client_certificates_from_the_existing_ca_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ClusterPki::issue_client_certificate(dir.path(), "alice", None).is_err());
        let pki = ClusterPki::load_or_create(dir.path(), &["localhost".to_string()]).unwrap();
        let node = ClusterPki::issue_client_certificate(
            dir.path(),
            "system:node:n1",
            Some("system:nodes"),
        )
        .unwrap();
        assert_eq!(node.ca_cert_pem, pki.ca_cert_pem);
        use rustls::pki_types::pem::PemObject;
        let der =
            rustls::pki_types::CertificateDer::from_pem_slice(node.cert_pem.as_bytes()).unwrap();
        let subject = crate::auth::subject_of(&der).unwrap();
        assert_eq!(subject.common_name.as_deref(), Some("system:node:n1"));
        assert_eq!(subject.organizations, vec!["system:nodes".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        ClusterPki::load_or_create(dir.path(), &["localhost".to_string()]).unwrap();
        let files = PkiFiles::new(dir.path());
        for key in [files.ca_key(), files.serving_key(), files.admin_key()] {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is readable by others", key.display());
        }
    }
}
