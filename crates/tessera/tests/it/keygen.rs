use std::io::Write;
use std::process::{Command, Stdio};

use tm_core::keyfile::{parse_public_key_file, PrivateKeyFile};

fn keygen(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("writes");
    child.wait_with_output().expect("finishes")
}

#[test]
fn keygen_writes_unlocked_and_locked_pairs_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("dir");
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let names = format!("{},{}", a.display(), b.display());
    let argon = dir.path().join("argon.json");
    std::fs::write(
        &argon,
        r#"{"variant":"id","memory":256,"iterations":1,"parallelism":1}"#,
    )
    .expect("argon");

    // Tessera's spelling; first key unlocked (empty line), second locked.
    let out = keygen(
        &[
            "-keygen",
            "-filename",
            &names,
            "-keygenconfig",
            &argon.display().to_string(),
        ],
        "\ns3cret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("unlocked") && said.contains("locked"),
        "{said}"
    );

    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect(name);
    let a_key = PrivateKeyFile::parse(&read("a.key"))
        .expect("a.key")
        .unlock(None)
        .expect("unlocked");
    assert_eq!(
        a_key.public_key(),
        parse_public_key_file(&read("a.pub")).expect("a.pub")
    );
    let b_file = PrivateKeyFile::parse(&read("b.key")).expect("b.key");
    assert!(b_file.is_locked());
    let b_key = b_file.unlock(Some("s3cret")).expect("password unlocks");
    assert_eq!(
        b_key.public_key(),
        parse_public_key_file(&read("b.pub")).expect("b.pub")
    );
    assert!(!said.contains("s3cret"), "the password is never printed");

    let again = keygen(&["-keygen", "-filename", &a.display().to_string()], "\n");
    assert!(
        !again.status.success(),
        "existing keys are never overwritten"
    );
    assert_eq!(
        PrivateKeyFile::parse(&read("a.key"))
            .expect("a.key")
            .unlock(None)
            .expect("same"),
        a_key
    );
}

#[test]
fn keygen_can_add_the_keys_to_a_config() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("in.json");
    let out_config = dir.path().join("out.json");
    std::fs::write(&config, r#"{"keys":{"keyData":[]},"peer":[]}"#).expect("config");
    let name = dir.path().join("k");
    let out = keygen(
        &[
            "keygen",
            "--keyout",
            &name.display().to_string(),
            "--configfile",
            &config.display().to_string(),
            "--configout",
            &out_config.display().to_string(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_config).expect("written"))
            .expect("json");
    let entry = &json["keys"]["keyData"][0];
    assert_eq!(entry["publicKeyPath"], format!("{}.pub", name.display()));
    assert_eq!(entry["privateKeyPath"], format!("{}.key", name.display()));
}
