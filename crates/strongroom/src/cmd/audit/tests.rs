//! The lock-file readers, on realistic fixtures of each format (tests/fixtures/locks/) and on
//! the broken inputs a person would write.

use std::path::{Path, PathBuf};

use super::endpoint;
use super::pins::{Format, Pin, format_of, read_pins};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/locks")
        .join(rel)
}

fn hashes(pins: &[Pin]) -> Vec<&str> {
    pins.iter().map(|p| &p.sha256[..8]).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn formats_are_told_by_name() {
    assert_eq!(format_of(Path::new("a/pylock.toml")), Format::Pylock);
    assert_eq!(format_of(Path::new("pylock.dev.toml")), Format::Pylock);
    assert_eq!(format_of(Path::new("x/uv.lock")), Format::UvLock);
    assert_eq!(format_of(Path::new("poetry.lock")), Format::PoetryLock);
    assert_eq!(format_of(Path::new("reqs.txt")), Format::Requirements);
}

#[test]
fn requirements_with_continuations_comments_several_hashes_and_an_include() {
    let pins = read_pins(&fixture("requirements/requirements.txt")).expect("parse");
    // base.txt's urllib3 first (the -r comes first), then four requirements in order.
    assert_eq!(
        hashes(&pins),
        vec![
            "ca899ca0", "e7d814a8", "922820b5", "bec941d2", "ffc51962", "12f65c9b", "946d195a",
            "55365417", "70761cfe"
        ]
    );
    let urllib3 = &pins[0];
    assert!(urllib3.source.ends_with("requirements/base.txt"));
    assert_eq!((urllib3.line, urllib3.what.as_str()), (2, "urllib3==2.2.3"));
    let charset = &pins[4];
    assert_eq!(
        charset.what, "charset-normalizer==3.4.0",
        "the comment is not part of it"
    );
    assert_eq!(charset.line, 14);
    let requests = &pins[7];
    assert_eq!(
        requests.what,
        "requests==2.32.3 ; python_version >= \"3.8\""
    );
    assert_eq!(requests.line, 19);
}

#[test]
fn a_requirements_file_refuses_what_audit_cannot_check_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let no_hash = write(
        dir.path(),
        "a.txt",
        "# pins\nfoo==1.0 --hash=sha256:".to_owned().as_str(),
    );
    let e = read_pins(&no_hash).expect_err("short hash");
    assert_eq!(e.line, 2);
    assert!(e.to_string().contains("a.txt:2:"), "{e}");
    assert!(e.message.contains("not a sha256"), "{e}");

    let unpinned = write(dir.path(), "b.txt", "foo==1.0\n");
    let e = read_pins(&unpinned).expect_err("no hash");
    assert!(e.message.contains("'foo==1.0' has no --hash"), "{e}");

    let missing = write(dir.path(), "c.txt", "-r nowhere.txt\n");
    let e = read_pins(&missing).expect_err("missing include");
    assert_eq!((e.file.clone(), e.line), (missing.clone(), 1));
    assert!(e.message.contains("-r nowhere.txt: cannot read"), "{e}");

    let looped = write(dir.path(), "d.txt", "-r e.txt\n");
    write(dir.path(), "e.txt", "--requirement=d.txt\n");
    let e = read_pins(&looped).expect_err("loop");
    assert!(e.message.contains("loop"), "{e}");

    // Other algorithms are skipped, sha256 kept; options on their own line pin nothing.
    let mixed = write(
        dir.path(),
        "f.txt",
        &format!(
            "--extra-index-url https://x.example/simple/\nbar==2 --hash=md5:abc --hash sha256:{}\n",
            "AB".repeat(32)
        ),
    );
    let pins = read_pins(&mixed).expect("parse");
    assert_eq!(pins.len(), 1);
    assert_eq!(pins[0].sha256, "ab".repeat(32));
}

#[test]
fn includes_nest_only_so_deep() {
    let dir = tempfile::tempdir().expect("tmp");
    for i in 0..12 {
        write(
            dir.path(),
            &format!("r{i}.txt"),
            &format!("-r r{}.txt\n", i + 1),
        );
    }
    write(
        dir.path(),
        "r12.txt",
        &format!("x==1 --hash=sha256:{}\n", "0".repeat(64)),
    );
    let e = read_pins(&dir.path().join("r0.txt")).expect_err("too deep");
    assert!(e.message.contains("deeper than 10"), "{e}");
    let pins = read_pins(&dir.path().join("r3.txt")).expect("nine deep is fine");
    assert_eq!(pins.len(), 1);
}

#[test]
fn pylock_wheels_and_sdists_by_sha256_skipping_a_directory_source() {
    let pins = read_pins(&fixture("pylock.toml")).expect("parse");
    assert_eq!(hashes(&pins), vec!["81921eb9", "5cfb1b91", "8abb2f1d"]);
    assert_eq!(
        pins[0].what,
        "attrs==24.2.0 (attrs-24.2.0-py3-none-any.whl)"
    );
    assert_eq!(pins[1].what, "attrs==24.2.0 (attrs-24.2.0.tar.gz)");
    assert_eq!(pins[0].line, 16, "the line of the hash");
}

#[test]
fn uv_lock_sdists_and_wheels_skipping_the_editable_project() {
    let pins = read_pins(&fixture("uv.lock")).expect("parse");
    assert_eq!(
        hashes(&pins),
        vec!["ae74fb96", "ca9853ad", "4f1d9991", "08695f5c"]
    );
    assert_eq!(pins[0].what, "click==8.1.7 (click-8.1.7-py3-none-any.whl)");
}

#[test]
fn poetry_lock_new_and_old_formats() {
    let pins = read_pins(&fixture("poetry.lock")).expect("parse");
    assert_eq!(
        hashes(&pins),
        vec!["5b8f2217", "026ed72c", "2ebe2448", "d46d457a"]
    );
    assert_eq!(pins[1].what, "packaging==24.1 (packaging-24.1.tar.gz)");
    let old = read_pins(&fixture("poetry-1.1/poetry.lock")).expect("parse");
    // [metadata.files] is a table: keys in order; the md5-only file has no sha256 to check.
    let mut got = hashes(&old);
    got.sort();
    assert_eq!(got, vec!["1e61c374", "8abb2f1d", "ef9d7589"]);
    assert!(
        old.iter()
            .any(|p| p.what == "six==1.16.0 (six-1.16.0.tar.gz)")
    );
}

#[test]
fn broken_toml_locks_are_refused_with_their_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "uv.lock",
        "version = 1\n\n[[package]\nname = 'x'\n",
    );
    let e = read_pins(&p).expect_err("bad toml");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.starts_with("not TOML"), "{e}");
    let p = write(
        dir.path(),
        "pylock.toml",
        "lock-version = '1.0'\n[[packages]]\nname = 'x'\nsdist = {name = 'x.tar.gz'}\n",
    );
    assert!(
        read_pins(&p)
            .expect_err("no hashes")
            .message
            .contains("without hashes")
    );
    let sub = dir.path().join("p");
    std::fs::create_dir(&sub).expect("dir");
    let p = write(
        &sub,
        "poetry.lock",
        "[[package]]\nname='y'\nversion='1'\nfiles=[{file='y.whl', hash='sha256:zz'}]\n[metadata]\n",
    );
    let e = read_pins(&p).expect_err("bad hash");
    assert!(e.message.contains("'zz' is not a sha256"), "{e}");
    assert_eq!(e.line, 4);
}

#[test]
fn the_endpoint_is_under_the_index_root_or_its_simple_url() {
    for (given, want) in [
        (
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/api/file-status",
        ),
        (
            "https://idx.example/simple/",
            "https://idx.example/api/file-status",
        ),
        (
            "https://idx.example/pi/simple",
            "https://idx.example/pi/api/file-status",
        ),
    ] {
        assert_eq!(endpoint(given).expect("url").as_str(), want);
    }
    assert!(endpoint("ftp://x").is_err());
    assert!(endpoint("not a url").is_err());
}

/// A lock file names only lock files: `-r /proc/self/environ`, a device, a pipe or a binary
/// file is refused by kind, and its content is never echoed (only the first 80 characters of
/// a line quoted, escaped).
#[test]
fn includes_of_what_is_not_a_lock_file_are_refused_without_echoing_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let secret = "STRONGROOM_TOKEN=sr-secret-value";
    std::fs::write(dir.path().join("env.bin"), format!("A=1\0{secret}\0")).expect("write");
    for target in ["env.bin", "/dev/zero", "/proc/self/environ", "."] {
        let req = write(dir.path(), "requirements.txt", &format!("-r {target}\n"));
        let e = read_pins(&req).expect_err(target);
        assert!(
            !e.message.contains("sr-secret-value"),
            "{target}: {}",
            e.message
        );
        assert!(
            ["NUL bytes", "not a regular file", "cannot read"]
                .iter()
                .any(|w| e.message.contains(w)),
            "{target}: {}",
            e.message
        );
    }
    // a long line is quoted cut and escaped
    let long = format!("pkg{}\u{1b}[2J==1.0\n", "x".repeat(200));
    let req = write(dir.path(), "requirements.txt", &long);
    let e = read_pins(&req).expect_err("no hash");
    assert!(
        e.message.contains('…') && !e.message.contains('\u{1b}'),
        "{}",
        e.message
    );
    assert!(e.message.len() < 200, "{}", e.message);
}
