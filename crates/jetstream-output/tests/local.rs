use jetstream_output::{LocalFolder, OutputError, OutputSink};

pub(crate) use jetstream_test_support::scratch;

#[test]
fn put_creates_folders_and_replaces_whole_files() {
    let root = scratch("replace");
    let sink = LocalFolder::new(&root);
    sink.put("statistics/a.json", b"[1]").expect("first");
    sink.put("statistics/a.json", b"[1,2]").expect("second");
    assert_eq!(
        std::fs::read(root.join("statistics/a.json")).expect("read"),
        b"[1,2]"
    );
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(root.join("statistics"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["a.json"]);
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[test]
fn a_failed_put_keeps_the_previous_file_and_names_the_path() {
    let root = scratch("fail");
    let sink = LocalFolder::new(&root);
    sink.put("errors/errors_x.json", b"[]").expect("first");
    // A directory where the file should go makes the final rename fail.
    std::fs::create_dir_all(root.join("errors/blocked.json/inner")).expect("blocker");
    let err = sink
        .put("errors/blocked.json", b"[1]")
        .expect_err("rename onto a non-empty directory");
    assert!(matches!(err, OutputError::Io { .. }), "{err}");
    assert!(err.to_string().contains("errors/blocked.json"), "{err}");
    assert_eq!(
        std::fs::read(root.join("errors/errors_x.json")).expect("read"),
        b"[]"
    );
    let leftovers = std::fs::read_dir(root.join("errors"))
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[test]
fn keys_must_be_plain_relative_paths() {
    let scratch = scratch("keys");
    let sink = LocalFolder::new(scratch.path());
    for bad in ["", "/etc/passwd", "../x.json", "a/../../x", "a//b", "a\\b"] {
        assert!(
            matches!(sink.put(bad, b""), Err(OutputError::InvalidKey(_))),
            "{bad:?}"
        );
    }
}

/// Files whose names differ only by extension (`x.json`, `x.toml`) are written concurrently
/// without sharing a temporary file (the CLI's old `write_atomic` used `x.tmp` for both).
#[test]
fn files_differing_by_extension_do_not_share_a_temporary_file() {
    let root = scratch("extensions");
    let sink = LocalFolder::new(&root);
    std::thread::scope(|s| {
        for (key, byte) in [("x.json", b'j'), ("x.toml", b't')] {
            let sink = &sink;
            s.spawn(move || {
                for n in 1..200 {
                    sink.put(key, &vec![byte; n]).expect("put");
                }
            });
        }
    });
    assert_eq!(
        std::fs::read(root.join("x.json")).expect("json"),
        vec![b'j'; 199]
    );
    assert_eq!(
        std::fs::read(root.join("x.toml")).expect("toml"),
        vec![b't'; 199]
    );
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["x.json", "x.toml"], "no temporary file left");
    std::fs::remove_dir_all(root).expect("cleanup");
}

/// `list` leaves out the temporary files of writes in progress (or of a crash), and a folder
/// is not an object.
#[test]
fn listing_skips_temporary_files_and_folders_are_not_objects() {
    let root = scratch("listing");
    let sink = LocalFolder::new(&root);
    sink.put("statistics/a.json", b"[]").expect("put");
    std::fs::write(root.join("statistics/.b.json.123.4.tmp"), b"[").expect("stray tmp");
    std::fs::create_dir_all(root.join("statistics/empty")).expect("empty folder");
    assert_eq!(sink.list("").expect("list"), ["statistics/a.json"]);
    assert_eq!(
        sink.list("statistics/").expect("list"),
        ["statistics/a.json"]
    );
    assert_eq!(sink.get("statistics").expect("get"), None);
    assert_eq!(sink.modified("statistics/empty").expect("modified"), None);
    assert_eq!(sink.get("statistics/a.json/x").expect("get"), None);
    // A missing root is an empty sink.
    assert_eq!(
        LocalFolder::new(root.join("nowhere"))
            .list("")
            .expect("list"),
        Vec::<String>::new()
    );
    std::fs::remove_dir_all(root).expect("cleanup");
}
