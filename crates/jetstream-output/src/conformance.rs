//! The output-sink conformance suite: every behaviour the exports rely on, written once
//! against [`OutputSink`] and run against every sink (the local folder, a GCS bucket).
//!
//! A sink's test binary runs it with [`sink_conformance!`](crate::sink_conformance), given a
//! function that returns a fresh, empty sink:
//!
//! ```ignore
//! jetstream_output::sink_conformance!(|| -> Box<dyn OutputSink> {
//!     Box::new(LocalFolder::new(fresh_temporary_folder()))
//! });
//! ```
//!
//! Each case panics with a message naming what broke.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{TimeDelta, Utc};

use crate::{OutputError, OutputSink};

/// How far a sink's clock (a remote store's) may be from this machine's.
const CLOCK_SLACK: TimeDelta = TimeDelta::minutes(2);

fn put(sink: &dyn OutputSink, key: &str, bytes: &[u8]) {
    sink.put(key, bytes)
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}

fn get(sink: &dyn OutputSink, key: &str) -> Option<Vec<u8>> {
    sink.get(key).unwrap_or_else(|e| panic!("get {key}: {e}"))
}

fn list(sink: &dyn OutputSink, prefix: &str) -> Vec<String> {
    sink.list(prefix)
        .unwrap_or_else(|e| panic!("list {prefix:?}: {e}"))
}

/// Bytes come back exactly as written: JSON, bytes that are not UTF-8, an empty body and a
/// body of a few MiB (every byte value).
pub fn round_trip(sink: &dyn OutputSink) {
    let bodies: [(&str, Vec<u8>); 4] = [
        (
            "statistics/statistics_x_weekly.json",
            br#"[{"metric":"active_hours","point":1.5,"branch":"\u00e9t\u00e9 \"q\""}]"#.to_vec(),
        ),
        ("bytes.bin", vec![0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3]),
        ("empty.json", Vec::new()),
        (
            "large.bin",
            (0..3 * 1024 * 1024 + 7)
                .map(|i: usize| (i % 251) as u8)
                .collect(),
        ),
    ];
    for (key, bytes) in &bodies {
        put(sink, key, bytes);
    }
    for (key, bytes) in &bodies {
        let back = get(sink, key).unwrap_or_else(|| panic!("{key}: written but absent"));
        assert!(
            back == *bytes,
            "{key}: read back {} bytes, wrote {} (content differs)",
            back.len(),
            bytes.len()
        );
    }
}

/// A second put replaces the content whole (shorter content leaves nothing of the longer).
pub fn replace(sink: &dyn OutputSink) {
    let key = "errors/errors_x.json";
    put(sink, key, b"[1,2,3,4,5,6,7,8,9]");
    put(sink, key, b"[]");
    assert_eq!(
        get(sink, key).as_deref(),
        Some(&b"[]"[..]),
        "replaced whole"
    );
    put(sink, key, b"[\"third\"]");
    assert_eq!(get(sink, key).as_deref(), Some(&b"[\"third\"]"[..]));
    assert_eq!(list(sink, "errors/"), [key], "one key after replacing");
}

/// Keys with folders (`statistics/…`, `a/b/c/…`) are independent objects.
pub fn nested_keys(sink: &dyn OutputSink) {
    let keys = [
        "statistics/statistics_x_weekly.json",
        "statistics/statistics_x_daily.json",
        "metadata/metadata_x.json",
        "a/b/c/deep.json",
        "top.json",
    ];
    for (i, key) in keys.iter().enumerate() {
        put(sink, key, format!("[{i}]").as_bytes());
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            get(sink, key),
            Some(format!("[{i}]").into_bytes()),
            "{key} keeps its own content"
        );
    }
    let location = sink.location(keys[0]);
    assert!(
        location.ends_with(keys[0]),
        "the location {location:?} names the key"
    );
}

/// Keys that are not plain relative paths are refused by every operation, before anything
/// is written.
pub fn invalid_keys_refused(sink: &dyn OutputSink) {
    for bad in ["", "../x", "/x", "a//b", "a/../b", "./x", "a/", "a\\b"] {
        assert!(
            matches!(sink.put(bad, b"[]"), Err(OutputError::InvalidKey(_))),
            "put {bad:?} is refused"
        );
        assert!(
            matches!(sink.get(bad), Err(OutputError::InvalidKey(_))),
            "get {bad:?} is refused"
        );
        assert!(
            matches!(sink.modified(bad), Err(OutputError::InvalidKey(_))),
            "modified {bad:?} is refused"
        );
    }
    assert_eq!(list(sink, ""), Vec::<String>::new(), "nothing was written");
}

/// An absent key is `None` for `get` and `modified`, also where a "folder" of other keys is.
pub fn absent_keys(sink: &dyn OutputSink) {
    for key in ["missing.json", "statistics/missing.json", "statistics"] {
        assert_eq!(get(sink, key), None, "get {key} on an empty sink");
        assert_eq!(
            sink.modified(key)
                .unwrap_or_else(|e| panic!("modified {key}: {e}")),
            None,
            "modified {key} on an empty sink"
        );
    }
    put(sink, "statistics/present.json", b"[]");
    for key in [
        "statistics",
        "statistics/missing.json",
        "statistics/present.jso",
    ] {
        assert_eq!(get(sink, key), None, "get {key}");
        assert_eq!(
            sink.modified(key).expect("modified"),
            None,
            "modified {key}"
        );
    }
}

/// `modified` is close to now after a put and never goes back when the key is replaced.
pub fn modified_follows_puts(sink: &dyn OutputSink) {
    let key = "statistics/statistics_x_overall.json";
    let before = Utc::now();
    put(sink, key, b"[1]");
    let first = sink
        .modified(key)
        .expect("modified")
        .expect("a written key has a modification time");
    let after = Utc::now();
    assert!(
        first >= before - CLOCK_SLACK && first <= after + CLOCK_SLACK,
        "modified {first} is not close to the put ({before} … {after})"
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    put(sink, key, b"[2]");
    let second = sink.modified(key).expect("modified").expect("still there");
    assert!(
        second >= first,
        "modified went back on replace: {first} then {second}"
    );
    assert!(
        second <= Utc::now() + CLOCK_SLACK,
        "modified {second} is in the future"
    );
}

/// `list` returns the keys under a prefix (a plain string prefix), sorted, and none of other
/// prefixes.
pub fn list_by_prefix(sink: &dyn OutputSink) {
    for key in [
        "statistics/statistics_b_weekly.json",
        "metadata/metadata_a.json",
        "statistics/statistics_a_weekly.json",
        "statistics_top.json",
        "statistics/statistics_a_daily.json",
        "statistics/nested/x.json",
        "errors/errors_a.json",
    ] {
        put(sink, key, b"[]");
    }
    assert_eq!(
        list(sink, "statistics/"),
        [
            "statistics/nested/x.json",
            "statistics/statistics_a_daily.json",
            "statistics/statistics_a_weekly.json",
            "statistics/statistics_b_weekly.json",
        ],
        "the keys under statistics/, sorted"
    );
    assert_eq!(
        list(sink, "statistics/statistics_a"),
        [
            "statistics/statistics_a_daily.json",
            "statistics/statistics_a_weekly.json",
        ],
        "a prefix inside a folder's names"
    );
    assert_eq!(
        list(sink, "statistics"),
        [
            "statistics/nested/x.json",
            "statistics/statistics_a_daily.json",
            "statistics/statistics_a_weekly.json",
            "statistics/statistics_b_weekly.json",
            "statistics_top.json",
        ],
        "a prefix without `/` matches folder and file names alike"
    );
    assert_eq!(list(sink, "metadata/"), ["metadata/metadata_a.json"]);
    assert_eq!(list(sink, "nothing/"), Vec::<String>::new());
    let all = list(sink, "");
    assert_eq!(all.len(), 7, "every key: {all:?}");
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "sorted");
}

/// Runs every case of the suite as its own test, each on a fresh sink from `$make` (an
/// expression callable as `$make()` returning a `Box<dyn OutputSink>`).
#[macro_export]
macro_rules! sink_conformance {
    (@case [$($attr:tt)*] $make:expr; $case:ident) => {
        #[test]
        $($attr)*
        fn $case() {
            let sink: Box<dyn $crate::OutputSink> = ($make)();
            $crate::conformance::$case(sink.as_ref());
        }
    };
    (@cases $attrs:tt $make:expr; $($case:ident),*) => {
        $( $crate::sink_conformance!(@case $attrs $make; $case); )*
    };
    ($make:expr $(; $(#[$attr:meta])*)?) => {
        $crate::sink_conformance!(@cases [$($(#[$attr])*)?] $make;
            round_trip, replace, nested_keys, invalid_keys_refused, absent_keys,
            modified_follows_puts, list_by_prefix);
    };
}
