//! Choosing between aggregated and legacy discovery from the Accept header.

/// Whether the client prefers aggregated discovery v2: the first media range in Accept
/// that the server can produce is `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`
/// (parameters in any order). Ranges it cannot produce (protobuf, v2beta1) are skipped.
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if param("q") == Some("0") {
            continue;
        }
        match media.as_str() {
            "application/json" => match param("as") {
                Some("APIGroupDiscoveryList") => {
                    if param("g") == Some("apidiscovery.k8s.io") && param("v") == Some("v2") {
                        return true;
                    }
                }
                Some(_) => continue,
                None => return false,
            },
            "*/*" | "application/*" => return false,
            _ => continue,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        assert!(wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(wants_aggregated(Some(
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io"
        )));
        assert!(!wants_aggregated(Some("application/json, */*")));
        assert!(!wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(None));
    }
}
