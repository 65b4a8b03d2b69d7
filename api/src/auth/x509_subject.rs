//! Reading the subject (common name and organizations) of an X.509 certificate in DER.
//!
//! Only what authentication needs: the certificate has already been verified against
//! the cluster CA by rustls, so this walks the DER structure to the subject Name and
//! picks out CN (2.5.4.3) and O (2.5.4.10) values. Anything malformed is `None`.

/// DER encoding of the OID 2.5.4.3 (commonName).
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// DER encoding of the OID 2.5.4.10 (organizationName).
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

/// The parts of a certificate subject that name a Kubernetes user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// The common name (the user name), if present.
    pub common_name: Option<String>,
    /// The organizations (the user's groups), in order.
    pub organizations: Vec<String>,
}

/// The subject of a DER-encoded certificate; `None` if the DER is malformed.
pub fn subject_of(cert_der: &[u8]) -> Option<Subject> {
    let (certificate, _) = read_tlv(cert_der, 0x30)?;
    let (tbs, _) = read_tlv(certificate, 0x30)?;
    let mut rest = tbs;
    // version [0] EXPLICIT is optional.
    if rest.first() == Some(&0xa0) {
        rest = read_tlv(rest, 0xa0)?.1;
    }
    rest = read_tlv(rest, 0x02)?.1; // serialNumber
    rest = read_tlv(rest, 0x30)?.1; // signature AlgorithmIdentifier
    rest = read_tlv(rest, 0x30)?.1; // issuer Name
    rest = read_tlv(rest, 0x30)?.1; // validity
    let (name, _) = read_tlv(rest, 0x30)?; // subject Name

    let mut subject = Subject::default();
    let mut rdns = name;
    while !rdns.is_empty() {
        let (set, next) = read_tlv(rdns, 0x31)?;
        rdns = next;
        let mut attrs = set;
        while !attrs.is_empty() {
            let (attr, next) = read_tlv(attrs, 0x30)?;
            attrs = next;
            let (oid, value_tlv) = read_tlv(attr, 0x06)?;
            let tag = *value_tlv.first()?;
            let (value, _) = read_tlv(value_tlv, tag)?;
            // UTF8String, PrintableString, IA5String, T61String: read as UTF-8.
            let text = String::from_utf8(value.to_vec()).ok()?;
            if oid == OID_COMMON_NAME {
                subject.common_name = Some(text);
            } else if oid == OID_ORGANIZATION {
                subject.organizations.push(text);
            }
        }
    }
    Some(subject)
}

/// Read one DER TLV with the expected tag: (contents, the bytes after it).
fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first_len = *input.get(1)?;
    let (len, header) = if first_len < 0x80 {
        (first_len as usize, 2)
    } else {
        let count = (first_len & 0x7f) as usize;
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..count {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + count)
    };
    let end = header.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some((&input[header..end], &input[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn cert_der(cn: Option<&str>, orgs: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        for org in orgs {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *org);
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_common_name_and_organization() {
        let der = cert_der(Some("admin"), &["system:masters"]);
        let subject = subject_of(&der).unwrap();
        assert_eq!(subject.common_name.as_deref(), Some("admin"));
        assert_eq!(subject.organizations, vec!["system:masters"]);
    }

    #[test]
    fn subject_without_common_name() {
        let subject = subject_of(&cert_der(None, &[])).unwrap();
        assert_eq!(subject, Subject::default());
    }

    #[test]
    fn malformed_input_is_none() {
        let der = cert_der(Some("admin"), &[]);
        for cut in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
            // Truncated certificates must never panic; most are None.
            let _ = subject_of(&der[..cut]);
        }
        assert_eq!(subject_of(&[]), None);
        assert_eq!(subject_of(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject_of(b"not a certificate"), None);
    }
}
