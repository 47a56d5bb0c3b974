//! Key pairs and key files.

use tm_core::keyfile::{parse_public_key_file, write_new_key_pair, ArgonOptions, PrivateKeyFile};
use tm_core::{KeyFileError, KeyPair, PrivateKey, PublicKey};

use crate::support::{hex, key, load, starting};

#[test]
fn every_vector_key_pair_derives_its_public_key() {
    let file = load("keys/keypairs.json");
    let pairs = file["keypairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 7);
    for pair in pairs {
        let private = PrivateKey::from_base64(pair["private_base64"].as_str().expect("private"))
            .expect("valid");
        assert_eq!(private.expose_bytes().to_vec(), hex(&pair["private_hex"]));
        let public = key(&pair["public_base64"]);
        assert_eq!(public.as_bytes(), hex(&pair["public_hex"]).as_slice());
        assert_eq!(private.public_key(), public);
        assert!(KeyPair { public, private }.is_consistent());
    }
}

#[test]
fn private_keys_never_print() {
    let private =
        PrivateKey::from_base64("yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=").expect("valid");
    let printed = format!("{private:?} {:?}", KeyPair::from_private(private.clone()));
    assert!(!printed.contains("yAWAJ"), "{printed}");
    assert!(printed.contains("<redacted>"));
    let file = PrivateKeyFile::unlocked(&private);
    assert!(!format!("{file:?}").contains("yAWAJ"));
}

#[test]
fn bad_private_key_text_is_an_error_without_the_text() {
    for text in ["", "not base64!!", "AAAA"] {
        let err = PrivateKey::from_base64(text).expect_err("invalid");
        if !text.is_empty() {
            assert!(!err.to_string().contains(text));
        }
    }
}

#[test]
fn unlocked_key_file_and_public_key_file() {
    let file = load("keys/unlocked-key-and-configs.json");
    let json = file["file_content_verbatim"].as_str().expect("file");
    let parsed = PrivateKeyFile::parse(json).expect("parses");
    assert!(!parsed.is_locked());
    let private = parsed.unlock(None).expect("unlocked");
    assert_eq!(
        private.expose_base64().as_str(),
        file["private_key_base64"].as_str().unwrap_or_default()
    );
    assert_eq!(
        private.public_key(),
        key(&file["derived_public_key_base64"])
    );
    let example = &file["public_key_file_example"];
    let public = parse_public_key_file(
        example["content_verbatim_no_trailing_newline"]
            .as_str()
            .unwrap_or_default(),
    )
    .expect("public key file");
    assert_eq!(public.as_bytes().len(), 32);
    assert_eq!(
        parse_public_key_file(&format!("{public}\n")).expect("newline is fine"),
        public
    );
    assert!(parse_public_key_file("").is_err());
    assert!(parse_public_key_file("a\nb").is_err());
}

#[test]
fn malformed_key_files_are_clear_errors_that_do_not_echo_content() {
    let secret = "Wl+xSyXVuuqzpvznOS7dOobhcn4C5auxkFRi7yLtgtA=";
    for json in [
        format!(r#"{{"type":"unlocked","data":"{secret}"}}"#),
        format!(r#"{{"type":"sideways","data":{{"bytes":"{secret}"}}}}"#),
        r#"{"type":"unlocked","data":{}}"#.to_owned(),
        r#"{"type":"argon2sbox","data":{"snonce":"AA=="}}"#.to_owned(),
        "[".to_owned(),
    ] {
        let err = PrivateKeyFile::parse(&json)
            .and_then(|f| f.unlock(Some("x")))
            .expect_err("invalid");
        assert!(!err.to_string().contains(secret), "{err}");
    }
}

#[test]
fn locked_key_with_cheap_parameters() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let case = &file["cases"]["locked_key_cheap_params"];
    let json = serde_json::to_string(&case["file_json"]).expect("json");
    let parsed = PrivateKeyFile::parse(&json).expect("parses");
    assert!(parsed.is_locked());
    let password = case["password"].as_str().expect("password");
    let private = parsed.unlock(Some(password)).expect("unlocks");
    assert_eq!(
        private.expose_base64().as_str(),
        case["private_key_base64"].as_str().unwrap_or_default()
    );

    let options = parsed.data.aopts.clone().expect("aopts");
    let salt = tm_core::b64::decode(parsed.data.asalt.as_deref().unwrap_or_default(), "salt")
        .expect("salt");
    for (variant, field) in [
        ("id", "argon2_hash_hex"),
        ("i", "argon2_hash_hex_if_variant_i"),
        ("d", "argon2_hash_hex_if_variant_d"),
    ] {
        let options = ArgonOptions {
            variant: variant.into(),
            ..options.clone()
        };
        let derived = options
            .derive_key(password.as_bytes(), &salt)
            .expect("derives");
        assert_eq!(derived.to_vec(), hex(&case[field]), "variant {variant}");
    }

    assert!(matches!(
        parsed.unlock(Some("wrong")),
        Err(KeyFileError::WrongPassword)
    ));
    assert!(matches!(
        parsed.unlock(None),
        Err(KeyFileError::PasswordRequired)
    ));

    // Locking again with the file's salt and nonce reproduces the file.
    let nonce = tm_core::b64::decode(parsed.data.snonce.as_deref().unwrap_or_default(), "nonce")
        .expect("nonce");
    let relocked =
        PrivateKeyFile::locked_with(&private, password, options, &salt, &nonce).expect("locks");
    assert_eq!(relocked.data.sbox, parsed.data.sbox);
}

#[test]
fn locked_key_from_tessera_with_one_gib_argon2id() {
    let file = load("keys/locked-key-argon2sbox.json");
    let json = serde_json::to_string(&file["private_key_file_json"]).expect("json");
    let parsed = PrivateKeyFile::parse(&json).expect("parses");
    let derived = &file["derived_by_spec_author"];
    let private = parsed
        .unlock(Some(file["password"].as_str().expect("password")))
        .expect("unlocks");
    assert_eq!(
        private.expose_base64().as_str(),
        starting(derived, "decrypted_private_key_base64")
            .as_str()
            .unwrap_or_default()
    );
    assert_eq!(
        private.public_key(),
        key(&derived["matching_public_key_base64"])
    );
}

#[test]
fn unknown_argon_variant_is_rejected() {
    let options = ArgonOptions {
        variant: "x".into(),
        iterations: 1,
        memory: 64,
        parallelism: 1,
    };
    assert!(matches!(
        options.derive_key(b"p", b"saltsalt"),
        Err(KeyFileError::Argon(_))
    ));
}

#[test]
fn keygen_writes_a_pair_that_reads_back_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("tm-core-keygen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cheap = ArgonOptions {
        variant: "id".into(),
        iterations: 1,
        memory: 256,
        parallelism: 1,
    };

    let name = dir.join("plain");
    let pair = write_new_key_pair(&name, None, &cheap).expect("writes");
    let public =
        parse_public_key_file(&std::fs::read_to_string(dir.join("plain.pub")).expect("pub"))
            .expect("reads");
    assert_eq!(public, pair.public);
    let pub_text = std::fs::read_to_string(dir.join("plain.pub")).expect("pub");
    assert!(
        !pub_text.ends_with('\n'),
        "written without a trailing newline"
    );
    let key_file =
        PrivateKeyFile::parse(&std::fs::read_to_string(dir.join("plain.key")).expect("key"))
            .expect("parses");
    assert_eq!(key_file.unlock(None).expect("unlocked"), pair.private);
    assert!(
        write_new_key_pair(&name, None, &cheap).is_err(),
        "existing files are kept"
    );
    assert_eq!(
        parse_public_key_file(&std::fs::read_to_string(dir.join("plain.pub")).expect("pub"))
            .expect("reads"),
        pair.public
    );

    let locked = write_new_key_pair(&dir.join("locked"), Some("s3cret"), &cheap).expect("writes");
    let text = std::fs::read_to_string(dir.join("locked.key")).expect("key");
    assert!(text.contains("argon2sbox"));
    let key_file = PrivateKeyFile::parse(&text).expect("parses");
    assert_eq!(
        key_file.unlock(Some("s3cret")).expect("unlocks"),
        locked.private
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("locked.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key file is owner-only");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn public_keys_print_as_base64() {
    let key =
        PublicKey::from_base64("/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=").expect("valid");
    assert_eq!(
        key.to_string(),
        "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc="
    );
    assert_eq!(
        serde_json::to_string(&key).expect("json"),
        "\"/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=\""
    );
    assert!(PublicKey::from_bytes(vec![1; 33]).to_nacl().is_err());
}
