//! Bad input: every broken file gets a clear per-file (or per-line) error,
//! the import goes on with the other files, a failed file leaves the store
//! untouched, and nothing panics.

use iocd::cli::import_cmd::{self, FileReport, ImportArgs, Summary};
use iocd::import::{parse_bytes, FileError, Format, ImportDefaults};
use iocd::store::Store;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn args(paths: Vec<PathBuf>) -> ImportArgs {
    ImportArgs::for_paths(paths)
}

fn report<'s>(s: &'s Summary, file: &str) -> &'s FileReport {
    s.files
        .iter()
        .find(|f| f.path.ends_with(file))
        .unwrap_or_else(|| {
            panic!(
                "{file} not in {:?}",
                s.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })
}

/// A directory with one good list and every kind of broken file.
fn bad_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    w("a_good.txt", b"45.77.80.1\ngood.evil-example.com\n");
    w(
        "truncated.json",
        &std::fs::read(fixture("bad/truncated.json")).unwrap(),
    );
    w(
        "latin1.json",
        b"{\"Event\": {\"info\": \"caf\xe9\", \"Attribute\": []}}",
    );
    w(
        "latin1.txt",
        b"45.77.80.2\ncaf\xe9.evil-example.com\n45.77.80.3\n",
    );
    w(
        "blob.dat",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",
    );
    w("empty.txt", b"");
    w(
        "missing_columns.csv",
        &std::fs::read(fixture("bad/missing_columns.csv")).unwrap(),
    );
    let mut long = vec![b'a'; 10 * 1024 * 1024];
    long.extend(b"\n45.77.80.4\n");
    w("one_long_line.txt", &long);
    w("single_10mb_line.txt", &vec![b'x'; 10 * 1024 * 1024]);
    w(
        "unknown.json",
        b"{\"duvelDetails\": {\"blockList\": [\"a.com\"]}}",
    );
    dir
}

#[test]
fn each_bad_file_fails_alone_and_the_rest_imports() {
    let dir = bad_dir();
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_dir.path()).unwrap();
    let s = import_cmd::import(&store, &args(vec![dir.path().to_path_buf()])).unwrap();

    // Failed: truncated JSON, non-UTF-8 JSON, binary, empty.
    assert_eq!(s.files_failed, 4, "{:#?}", s.files);
    assert_eq!(s.files_read, 4);
    // In a walk, a text file without a single IOC and JSON that is neither
    // MISP nor STIX are listed as skipped, with the reason; named
    // explicitly they are read (and fail or reject lines).
    assert_eq!(s.files_skipped, 2);
    assert!(
        s.skipped_files[1].path.ends_with("unknown.json"),
        "{:?}",
        s.skipped_files
    );
    assert!(s.skipped_files[1]
        .reason
        .contains("unknown JSON format (top-level keys: duvelDetails)"));
    assert!(s.skipped_files[0].path.ends_with("single_10mb_line.txt"));
    assert!(
        s.skipped_files[0]
            .reason
            .contains("line 1: line is 10485760 bytes long"),
        "{}",
        s.skipped_files[0].reason
    );
    let failed = |f: &str| {
        report(&s, f)
            .failed
            .clone()
            .unwrap_or_else(|| panic!("{f} did not fail"))
    };
    let t = failed("truncated.json");
    assert!(
        t.contains("invalid JSON at line 2") && t.contains("truncated"),
        "{t}"
    );
    assert!(failed("latin1.json").contains("not valid UTF-8 (first bad byte at offset 23)"));
    assert!(failed("blob.dat").contains("binary file (NUL byte at offset 3)"));
    assert_eq!(failed("empty.txt"), "the file is empty");

    // Line formats report bad lines and keep the good ones.
    let latin = report(&s, "latin1.txt");
    assert_eq!((latin.observations, latin.rejected), (2, 1));
    assert!(
        latin.errors[0].starts_with("line 2: not valid UTF-8"),
        "{:?}",
        latin.errors
    );
    let csv = report(&s, "missing_columns.csv");
    assert_eq!((csv.observations, csv.rejected), (2, 2));
    assert_eq!(
        csv.errors,
        vec![
            "line 3: row has 3 column(s); the value is in column 5",
            "line 4: row has 2 column(s); the value is in column 5"
        ]
    );
    let long = report(&s, "one_long_line.txt");
    assert_eq!((long.observations, long.rejected), (1, 1));
    assert!(
        long.errors[0].starts_with("line 1: line is 10485760 bytes long"),
        "{:?}",
        long.errors
    );
    let single =
        import_cmd::import(&store, &args(vec![dir.path().join("single_10mb_line.txt")])).unwrap();
    assert_eq!(
        (single.files_read, single.observations, single.rejected),
        (1, 0, 1)
    );
    assert!(single.files[0].errors[0].starts_with("line 1: line is 10485760 bytes long"));

    // a_good.txt 2 + latin1.txt 2 + missing_columns.csv 2 + one_long_line 1.
    assert_eq!(s.observations, 7);
    assert_eq!(store.total().unwrap(), 7);
}

#[test]
fn failed_files_leave_the_store_unchanged_and_exit_1() {
    let dir = bad_dir();
    let data = tempfile::tempdir().unwrap();
    let mut a = args(
        [
            "truncated.json",
            "latin1.json",
            "blob.dat",
            "empty.txt",
            "unknown.json",
        ]
        .iter()
        .map(|f| dir.path().join(f))
        .collect(),
    );
    a.data_dir = Some(data.path().to_path_buf());
    a.create = true;
    assert_eq!(import_cmd::run(&a).unwrap(), 1);
    let store = Store::open(&data.path().join("store")).unwrap();
    assert_eq!(store.total().unwrap(), 0);
    drop(store);

    // A missing path is a failure too; good files still import.
    a.paths = vec![
        dir.path().join("does-not-exist.txt"),
        dir.path().join("a_good.txt"),
    ];
    assert_eq!(import_cmd::run(&a).unwrap(), 1);
    a.paths = vec![dir.path().join("a_good.txt"), dir.path().join("latin1.txt")];
    assert_eq!(
        import_cmd::run(&a).unwrap(),
        0,
        "rejected lines alone do not fail the run"
    );
    let store = Store::open(&data.path().join("store")).unwrap();
    assert_eq!(store.total().unwrap(), 4);
}

#[test]
fn forced_format_mismatch_and_deep_nesting_are_errors_not_panics() {
    let d = ImportDefaults::default();
    let stix = std::fs::read(fixture("bundle.stix.json")).unwrap();
    assert!(matches!(
        parse_bytes(&stix, "b.json", Format::Misp, &d),
        Err(FileError::WrongFormat {
            format: Format::Misp,
            ..
        })
    ));
    let misp = std::fs::read(fixture("misp_bare.json")).unwrap();
    assert!(matches!(
        parse_bytes(&misp, "m.json", Format::Stix, &d),
        Err(FileError::WrongFormat {
            format: Format::Stix,
            ..
        })
    ));
    // A text list forced as CSV still parses (one column); JSON forced as text
    // yields per-line errors, not a panic.
    let p = parse_bytes(b"45.77.80.9\n", "x", Format::Csv, &d).unwrap();
    assert_eq!(p.observations.len(), 1);
    let p = parse_bytes(&misp, "m.json", Format::Text, &d).unwrap();
    assert!(p.observations.is_empty() && !p.errors.is_empty());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        parse_bytes(deep.as_bytes(), "d.json", Format::Auto, &d),
        Err(FileError::InvalidJson { .. })
    ));
}

#[test]
fn a_named_pipe_is_read_and_one_met_in_a_walk_is_skipped() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mkfifo = |p: &Path| {
        assert!(std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap()
            .success());
    };
    // Named on the command line (as `/dev/stdin` or `<(curl …)` would be).
    let fifo = dir.path().join("feed");
    mkfifo(&fifo);
    let writer = {
        let f = fifo.clone();
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(f).unwrap();
            w.write_all(b"198.51.100.9\nhxxp://bad[.]example/x\n")
                .unwrap();
        })
    };
    let store = Store::open(&dir.path().join("store1")).unwrap();
    let s = import_cmd::import(&store, &args(vec![fifo.clone()])).unwrap();
    writer.join().unwrap();
    assert_eq!((s.files_failed, s.new), (0, 2), "{s:?}");
    // Inside a directory: listed as skipped, never opened (it would block).
    let walk = dir.path().join("walk");
    std::fs::create_dir(&walk).unwrap();
    mkfifo(&walk.join("pipe"));
    std::fs::write(walk.join("a.txt"), "203.0.113.5\n").unwrap();
    let s = import_cmd::import(&store, &args(vec![walk])).unwrap();
    assert_eq!((s.files_failed, s.new, s.files_skipped), (0, 1, 1), "{s:?}");
    assert!(s.skipped_files[0].path.ends_with("pipe"));
    assert!(s.skipped_files[0].reason.contains("not a regular file"));
}
