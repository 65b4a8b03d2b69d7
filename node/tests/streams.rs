//! Exec and port-forward on the process runtime, and the node server's exec and log
//! endpoints over HTTPS with the channel protocol, driven by a WebSocket client.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::runtime::{
    ContainerConfig, ExecRequest, PodIdentity, PodSandboxConfig, RuntimeError, RuntimeService,
};
use skiff_node::server::{NodeServer, NodeServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

fn has_shell() -> bool {
    let ok = std::path::Path::new("/bin/sh").exists();
    if !ok {
        eprintln!("skipping: /bin/sh is missing");
    }
    ok
}

/// A running `sleep` container in pod default/web, with `GREETING` in its env.
async fn running(rt: &ProcessRuntime) -> String {
    let sb = PodSandboxConfig {
        pod: PodIdentity {
            namespace: "default".into(),
            name: "web".into(),
            uid: "uid-1".into(),
        },
        ..PodSandboxConfig::default()
    };
    let sid = rt.run_pod_sandbox(&sb).await.unwrap();
    let config = ContainerConfig {
        name: "main".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            "echo started; exec sleep 60".into(),
        ],
        envs: vec![skiff_node::runtime::KeyValue {
            key: "GREETING".into(),
            value: "hello from the container env".into(),
        }],
        run_on_host: true,
        ..ContainerConfig::default()
    };
    let id = rt.create_container(&sid, &config, &sb).await.unwrap();
    rt.start_container(&id).await.unwrap();
    id
}

#[tokio::test]
async fn exec_sync_runs_in_the_container_environment() {
    if !has_shell() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    let id = running(&rt).await;
    let cmd = |s: &str| vec!["sh".to_string(), "-c".into(), s.into()];
    let out = rt
        .exec_sync(&id, &cmd("echo $GREETING; echo oops >&2; exit 4"), WAIT)
        .await
        .unwrap();
    assert_eq!(out.stdout, b"hello from the container env\n");
    assert_eq!(out.stderr, b"oops\n");
    assert_eq!(out.exit_code, 4);
    let slow = rt
        .exec_sync(&id, &cmd("sleep 5"), Duration::from_millis(200))
        .await;
    assert!(matches!(slow, Err(RuntimeError::Timeout(_))), "{slow:?}");
    let missing = rt
        .exec_sync(&id, &["no-such-binary-xyz".into()], WAIT)
        .await;
    assert!(
        matches!(missing, Err(RuntimeError::StartFailed { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn streaming_exec_with_stdin_and_tty() {
    if !has_shell() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    let id = running(&rt).await;
    let mut session = rt
        .exec(&ExecRequest {
            container_id: id.clone(),
            command: vec!["cat".into()],
            stdin: true,
            stdout: true,
            ..ExecRequest::default()
        })
        .await
        .unwrap();
    let mut stdin = session.stdin.take().unwrap();
    stdin.write_all(b"through the pipe\n").await.unwrap();
    drop(stdin);
    let mut out = Vec::new();
    session
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    assert_eq!(out, b"through the pipe\n");
    assert_eq!(session.exit.await.unwrap(), 0);

    let mut tty = rt
        .exec(&ExecRequest {
            container_id: id,
            command: vec![
                "sh".into(),
                "-c".into(),
                "test -t 0 && echo is-a-tty; stty size".into(),
            ],
            stdout: true,
            tty: true,
            ..ExecRequest::default()
        })
        .await
        .unwrap();
    assert!(tty.stderr.is_none());
    if let Some(resize) = &tty.resize {
        resize(skiff_node::runtime::TerminalSize {
            width: 91,
            height: 17,
        });
    }
    let mut text = Vec::new();
    let _ = tokio::time::timeout(WAIT, tty.stdout.take().unwrap().read_to_end(&mut text)).await;
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("is-a-tty"), "{text}");
    assert_eq!(tty.exit.await.unwrap(), 0);
}

#[tokio::test]
async fn port_forward_reaches_a_port_of_the_pod_network() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    let sid = rt
        .run_pod_sandbox(&PodSandboxConfig::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let mut conn = rt.port_forward(&sid, port).await.unwrap();
    conn.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    assert!(rt.port_forward("nope", port).await.is_err());
}

/// A TLS connection to the node server that trusts any certificate (the test's
/// server is self-signed).
async fn tls_connect(port: u16) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    #[derive(Debug)]
    struct Any;
    impl rustls::client::danger::ServerCertVerifier for Any {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(Any))
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn node_server_serves_exec_and_logs_to_the_token_holder() {
    if !has_shell() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    let _id = running(&rt).await;
    let mut config = NodeServerConfig::new("node-1");
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.bearer_token = Some("secret".into());
    let server = NodeServer::start(Arc::new(rt.clone()), config)
        .await
        .unwrap();
    let port = server.local_addr().port();

    // Without the token: 401.
    let mut tls = tls_connect(port).await;
    tls.write_all(
        b"GET /containerLogs/default/web/main HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // The log, once the container wrote it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut tls = tls_connect(port).await;
        tls.write_all(b"GET /containerLogs/default/web/main HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await.unwrap();
        if answer.contains("started\n") {
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Exec over the v5 channel protocol: stdin, stdout, the exit status.
    let mut request = format!(
        "wss://127.0.0.1:{port}/exec/default/web/main?command=sh&command=-c&command=cat%3B+exit+5&stdin=true&stdout=true&stderr=true"
    )
    .into_client_request()
    .unwrap();
    request
        .headers_mut()
        .insert("Authorization", "Bearer secret".parse().unwrap());
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v5.channel.k8s.io".parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::client_async(request, tls_connect(port).await)
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "v5.channel.k8s.io"
    );
    ws.send(Message::Binary(b"\x00echoed".to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::Binary(vec![255u8, 0].into()))
        .await
        .unwrap();
    let mut stdout = Vec::new();
    let mut status = None;
    while let Some(Ok(message)) = tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        if let Message::Binary(data) = message {
            match data.first() {
                Some(1) => stdout.extend_from_slice(&data[1..]),
                Some(3) => {
                    status = Some(serde_json::from_slice::<serde_json::Value>(&data[1..]).unwrap())
                }
                _ => {}
            }
        }
    }
    assert_eq!(stdout, b"echoed");
    let status = status.expect("a status on the error channel");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "5");
    server.stop().await;
}

#[tokio::test]
async fn node_server_attaches_to_a_tty_container() {
    if !has_shell() || !std::path::Path::new("/bin/stty").exists() {
        eprintln!("skipping: /bin/stty is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    let sb = PodSandboxConfig {
        pod: PodIdentity {
            namespace: "default".into(),
            name: "shell".into(),
            uid: "uid-tty".into(),
        },
        ..PodSandboxConfig::default()
    };
    let sid = rt.run_pod_sandbox(&sb).await.unwrap();
    let config = ContainerConfig {
        name: "main".into(),
        command: vec!["sh".into()],
        run_on_host: true,
        stdin: true,
        tty: true,
        ..ContainerConfig::default()
    };
    let id = rt.create_container(&sid, &config, &sb).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let mut server_config = NodeServerConfig::new("node-1");
    server_config.bind = "127.0.0.1:0".parse().unwrap();
    server_config.bearer_token = Some("secret".into());
    let server = NodeServer::start(Arc::new(rt.clone()), server_config)
        .await
        .unwrap();
    let port = server.local_addr().port();

    let mut request =
        format!("wss://127.0.0.1:{port}/attach/default/shell/main?stdin=true&stdout=true&tty=true")
            .into_client_request()
            .unwrap();
    request
        .headers_mut()
        .insert("Authorization", "Bearer secret".parse().unwrap());
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v5.channel.k8s.io".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(request, tls_connect(port).await)
        .await
        .unwrap();
    // Resize the terminal, then ask the shell what it sees, then leave.
    ws.send(Message::Binary(
        b"\x04{\"Width\":100,\"Height\":30}".to_vec().into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Binary(
        b"\x00echo $((6*7)); stty size; exit\n".to_vec().into(),
    ))
    .await
    .unwrap();
    let mut stdout = Vec::new();
    let mut status = None;
    while let Some(Ok(message)) = tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        if let Message::Binary(data) = message {
            match data.first() {
                Some(1) => stdout.extend_from_slice(&data[1..]),
                Some(2) => panic!("a terminal has no stderr"),
                Some(3) => {
                    status = Some(serde_json::from_slice::<serde_json::Value>(&data[1..]).unwrap())
                }
                _ => {}
            }
        }
    }
    let text = String::from_utf8_lossy(&stdout);
    assert!(text.contains("42\r\n"), "{text:?}");
    assert!(text.contains("30 100\r\n"), "{text:?}");
    // The container ended with the shell; attach reports Success as the kubelet does.
    assert_eq!(status.expect("a status")["status"], "Success");
    let log =
        std::fs::read_to_string(rt.container_status(&id).await.unwrap().log_path.unwrap()).unwrap();
    assert!(log.contains(" stdout F 42\r"), "{log}");
    // Attaching to an exited container: the session reports the failure.
    assert!(rt
        .attach(&skiff_node::runtime::AttachRequest {
            container_id: id.clone(),
            stdout: true,
            ..Default::default()
        })
        .await
        .is_err());
    server.stop().await;
}
