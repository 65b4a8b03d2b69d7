//! No anonymous access: kubectl without credentials gets 401, with the admin client
//! certificate or a bearer token from the token file it gets in. Skips when kubectl is
//! missing.

mod kubectl;

use kubectl::ApiServer;

#[test]
fn requests_without_valid_credentials_are_unauthorized() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret,alice,uid-1,\"system:masters\"\n").expect("token file");
    let tokens = tokens.display().to_string();
    let Some(server) = ApiServer::start(&["--token-auth-file", &tokens]) else {
        return;
    };
    let ca = server.dir.path().join("pki/ca.crt").display().to_string();
    let empty = server.write("empty.kubeconfig", "apiVersion: v1\nkind: Config\n");
    // kubectl with only the server and its CA: no client certificate.
    let run = |extra: &[&str]| {
        let base = [
            "--kubeconfig",
            &empty,
            "--server",
            &server.url,
            "--certificate-authority",
            &ca,
        ];
        server.kubectl_raw(&[&base[..], extra].concat())
    };

    // No credentials Skiff accepts (kubectl refuses to send a request with none at all:
    // it prompts for a user name instead, so give it basic-auth ones, which the server
    // does not support, as Kubernetes does not).
    let basic = server.write(
        "basic.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {ca}\nusers:\n- name: u\n  user:\n    username: nobody\n    password: nothing\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
            server.url
        ),
    );
    let out = server.kubectl_raw(&["--kubeconfig", &basic, "get", "pods"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("You must be logged in"), "{stderr}");
    let out = server.kubectl_raw(&["--kubeconfig", &basic, "get", "--raw", "/api/v1/pods"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unauthorized"), "{stderr}");
    // A wrong token.
    let out = run(&["--token", "wrong", "get", "pods"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("You must be logged in"), "{stderr}");

    let out = run(&["--token", "s3cret", "get", "namespaces"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kube-system"));
    server.ok(&["get", "namespaces"]);

    // The health endpoints stay open to requests without usable credentials, as in
    // Kubernetes.
    let out = server.kubectl_raw(&["--kubeconfig", &basic, "get", "--raw", "/healthz"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
