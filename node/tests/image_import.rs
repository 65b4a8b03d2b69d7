//! `import_image`: docker-archive and OCI-layout tarballs (gzip or not) and root file
//! system directories, built here, into a `LocalImageStore`; the process runtime then
//! runs the image's entrypoint and cmd with its env and working dir.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use skiff_node::process::{
    import_image, ImportError, LocalImageStore, ProcessRuntime, ProcessRuntimeConfig,
};
use skiff_node::runtime::{
    ContainerConfig, ContainerState, ImageService, PodSandboxConfig, RuntimeService,
};

fn header(size: usize, kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// A tar of (path, content) files (`None`: a directory).
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        match content {
            Some(data) => {
                let mut h = header(data.len(), tar::EntryType::Regular, 0o755);
                b.append_data(&mut h, path, *data).unwrap();
            }
            None => {
                let mut h = header(0, tar::EntryType::Directory, 0o755);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn config() -> serde_json::Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo $GREETING from $(pwd)"],
            "Env": ["PATH=/usr/bin:/bin", "GREETING=hello"],
            "WorkingDir": "/srv"
        },
        "rootfs": {"type": "layers", "diff_ids": []}
    })
}

/// The two layers every archive here carries: the second deletes a file of the
/// first and empties a directory.
fn layers() -> (Vec<u8>, Vec<u8>) {
    let lower = tar_of(&[
        ("etc/", None),
        ("etc/os-release", Some(b"NAME=test\n")),
        ("etc/secret", Some(b"s")),
        ("srv/", None),
        ("cache/", None),
        ("cache/old", Some(b"o")),
    ]);
    let upper = tar_of(&[
        ("etc/.wh.secret", Some(b"")),
        ("cache/", None),
        ("cache/.wh..wh..opq", Some(b"")),
        ("cache/new", Some(b"n")),
        ("srv/index.html", Some(b"<h1>hi</h1>")),
    ]);
    (lower, upper)
}

fn docker_archive() -> Vec<u8> {
    let (lower, upper) = layers();
    let config_name = format!("{}.json", "ab".repeat(32));
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": ["test:1"],
        "Layers": ["l1/layer.tar", "l2/layer.tar"]
    }]);
    let config = config().to_string();
    let manifest = manifest.to_string();
    tar_of(&[
        ("l1/", None),
        ("l1/layer.tar", Some(&lower)),
        ("l2/", None),
        // Layers may be compressed too.
        ("l2/layer.tar", Some(&gzip(&upper))),
        (&config_name, Some(config.as_bytes())),
        ("manifest.json", Some(manifest.as_bytes())),
    ])
}

fn oci_layout() -> Vec<u8> {
    let (lower, upper) = layers();
    let upper = gzip(&upper);
    let config = config().to_string();
    // Blob names stand in for digests (the importer does not verify contents).
    let (c, l1, l2, m) = (
        "c".repeat(64),
        "1".repeat(64),
        "2".repeat(64),
        "d".repeat(64),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{c}"), "size": config.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{l1}"), "size": lower.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{l2}"), "size": upper.len()}
        ]
    })
    .to_string();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{m}"), "size": manifest.len(),
                       "platform": {"os": "linux", "architecture": "amd64"}}]
    })
    .to_string();
    let paths: Vec<String> = [&c, &l1, &l2, &m]
        .iter()
        .map(|h| format!("blobs/sha256/{h}"))
        .collect();
    tar_of(&[
        ("oci-layout", Some(br#"{"imageLayoutVersion":"1.0.0"}"#)),
        ("index.json", Some(index.as_bytes())),
        ("blobs/", None),
        ("blobs/sha256/", None),
        (&paths[0], Some(config.as_bytes())),
        (&paths[1], Some(&lower)),
        (&paths[2], Some(&upper)),
        (&paths[3], Some(manifest.as_bytes())),
    ])
}

fn check_rootfs(root: &Path) {
    assert_eq!(
        std::fs::read_to_string(root.join("etc/os-release")).unwrap(),
        "NAME=test\n"
    );
    assert!(!root.join("etc/secret").exists(), "whited out");
    assert!(!root.join("etc/.wh.secret").exists());
    assert!(
        !root.join("cache/old").exists(),
        "hidden by the opaque marker"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("cache/new")).unwrap(),
        "n"
    );
    assert!(root.join("srv/index.html").is_file());
}

#[tokio::test]
async fn imports_docker_and_oci_archives() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalImageStore::new(dir.path().join("images"));
    for (name, bytes) in [
        ("docker:1", docker_archive()),
        ("docker-gz:1", gzip(&docker_archive())),
        ("oci:1", oci_layout()),
        ("oci-gz:1", gzip(&oci_layout())),
    ] {
        let file = dir.path().join(format!("{}.tar", name.replace(':', "_")));
        std::fs::write(&file, bytes).unwrap();
        let image = import_image(&store, name, &file).await.unwrap();
        assert_eq!(image.entrypoint, ["/bin/sh", "-c"], "{name}");
        assert_eq!(image.cmd, ["echo $GREETING from $(pwd)"]);
        assert_eq!(image.working_dir.as_deref(), Some("/srv"));
        assert!(image
            .env
            .iter()
            .any(|kv| kv.key == "GREETING" && kv.value == "hello"));
        assert!(image.id.starts_with("sha256:"), "{name}: {}", image.id);
        let stored = store.get(name).await.unwrap().expect("stored");
        assert_eq!(stored.cmd, image.cmd);
        check_rootfs(&store.rootfs(name).expect("a root file system"));
    }
    let mut names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    names.sort();
    assert_eq!(names, ["docker-gz:1", "docker:1", "oci-gz:1", "oci:1"]);

    // Importing again replaces; removing removes the root file system too.
    let again = dir.path().join("again.tar");
    std::fs::write(&again, oci_layout()).unwrap();
    import_image(&store, "docker:1", &again).await.unwrap();
    check_rootfs(&store.rootfs("docker:1").unwrap());
    store.remove("docker:1").await.unwrap();
    assert!(store.get("docker:1").await.unwrap().is_none());
    assert!(store.rootfs("docker:1").is_none());
}

#[tokio::test]
async fn imports_a_root_file_system_directory_and_rejects_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalImageStore::new(dir.path().join("images"));
    let src = dir.path().join("rootfs");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/tool"), "#!/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("tool", src.join("bin/alias")).unwrap();
    let image = import_image(&store, "plain", &src).await.unwrap();
    assert!(image.entrypoint.is_empty() && image.cmd.is_empty());
    let root = store.rootfs("plain").unwrap();
    assert!(root.join("bin/tool").is_file());
    assert_eq!(
        std::fs::read_link(root.join("bin/alias")).unwrap(),
        Path::new("tool")
    );

    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, tar_of(&[("hello.txt", Some(b"hi"))])).unwrap();
    let err = import_image(&store, "junk", &junk).await.unwrap_err();
    assert!(matches!(err, ImportError::Invalid(_)), "{err}");
    assert!(store.get("junk").await.unwrap().is_none());
    let missing = import_image(&store, "nope", &dir.path().join("missing.tar"))
        .await
        .unwrap_err();
    assert!(matches!(missing, ImportError::Io(..)), "{missing}");
    assert!(matches!(
        import_image(&store, " ", &src).await,
        Err(ImportError::NoName)
    ));
}

#[tokio::test]
async fn the_process_runtime_runs_an_imported_image() {
    if !Path::new("/bin/sh").exists() {
        eprintln!("skipping: /bin/sh is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut runtime_config = ProcessRuntimeConfig::new(dir.path().join("node"));
    // As a host process the container sees the host's /bin/sh; its working dir
    // must exist on the host.
    runtime_config.isolate = false;
    let rt = ProcessRuntime::new(runtime_config);
    let archive = dir.path().join("image.tar");
    let srv = dir.path().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    let mut image_config = config();
    image_config["config"]["WorkingDir"] = json!(srv.display().to_string());
    let (lower, _) = layers();
    let manifest = json!([{"Config": "config.json", "Layers": ["layer.tar"]}]).to_string();
    let image_config = image_config.to_string();
    std::fs::write(
        &archive,
        tar_of(&[
            ("layer.tar", Some(&lower)),
            ("config.json", Some(image_config.as_bytes())),
            ("manifest.json", Some(manifest.as_bytes())),
        ]),
    )
    .unwrap();
    import_image(rt.images(), "greeter:1", &archive)
        .await
        .unwrap();
    assert!(rt.image_status("greeter:1").await.unwrap().is_some());
    let sb = PodSandboxConfig::default();
    let sid = rt.run_pod_sandbox(&sb).await.unwrap();
    let c = ContainerConfig {
        name: "greeter".into(),
        image: "greeter:1".into(),
        ..ContainerConfig::default()
    };
    let id = rt.create_container(&sid, &c, &sb).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let s = rt.container_status(&id).await.unwrap();
        if s.state == ContainerState::Exited || tokio::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.exit_code, Some(0), "{status:?}");
    let log = std::fs::read_to_string(status.log_path.unwrap()).unwrap();
    assert!(
        log.contains(&format!("hello from {}", srv.display())),
        "{log}"
    );
}
