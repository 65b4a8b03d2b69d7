//! `skiff image import|list|rm` as a user runs it, against a node data directory
//! that `skiff node --data-dir` would use; the node's image store then has the image.

use std::process::{Command, Output};

use skiff_node::process::LocalImageStore;

fn skiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .output()
        .expect("run skiff")
}

fn ok(args: &[&str]) -> String {
    let out = skiff(args);
    assert!(
        out.status.success(),
        "skiff {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn import_list_and_remove_in_every_node_of_a_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("nodes");
    for node in ["node-a", "node-b"] {
        std::fs::create_dir_all(data.join(node)).expect("node dir");
    }
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("rootfs");
    std::fs::write(rootfs.join("etc/motd"), "welcome\n").expect("file");
    let data_dir = data.to_str().expect("path");
    let src = rootfs.to_str().expect("path");

    let imported = ok(&["image", "import", "--data-dir", data_dir, "tools:1", src]);
    assert!(
        imported.contains("into node node-a") && imported.contains("into node node-b"),
        "{imported}"
    );
    for node in ["node-a", "node-b"] {
        let store = LocalImageStore::new(data.join(node).join("images"));
        assert!(store.get("tools:1").await.expect("store").is_some());
        let root = store.rootfs("tools:1").expect("rootfs");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/motd")).expect("motd"),
            "welcome\n"
        );
    }
    let listed = ok(&["image", "list", "--data-dir", data_dir, "--node", "node-b"]);
    assert!(
        listed.contains("tools:1") && listed.contains("node-b"),
        "{listed}"
    );
    assert!(!listed.contains("node-a"), "{listed}");

    ok(&[
        "image",
        "rm",
        "tools:1",
        "--data-dir",
        data_dir,
        "--node",
        "node-a",
    ]);
    let a = LocalImageStore::new(data.join("node-a").join("images"));
    assert!(a.get("tools:1").await.expect("store").is_none());
    let b = LocalImageStore::new(data.join("node-b").join("images"));
    assert!(b.get("tools:1").await.expect("store").is_some());

    // A path that is not an image fails with a message, not a panic.
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "not a tarball").expect("junk");
    let failed = skiff(&[
        "image",
        "import",
        "--data-dir",
        data_dir,
        "bad",
        junk.to_str().expect("path"),
    ]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("importing into node"), "{stderr}");
}
