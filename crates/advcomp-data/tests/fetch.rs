//! Downloads through a loopback HTTP server and `file://` URLs: placement,
//! verification, skipping and mirror fallback, without touching the network.

mod common;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use advcomp_data::cifar::{BATCHES_DIR, RECORD_LEN};
use advcomp_data::{
    DataError, DatasetKind, FetchOptions, FetchOutcome, RemoteFile, Unpack, fetch, fetch_files,
    load,
};
use common::{CIFAR_FILES, bundled};
use sha2::{Digest, Sha256};

/// A tiny HTTP/1.1 server on 127.0.0.1 that serves `routes` (path -> body),
/// answers 404 to anything else, and stops by itself after `max_requests`
/// requests or ten seconds, whichever comes first.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(routes: HashMap<String, Vec<u8>>, max_requests: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut served = 0;
            while served < max_requests && Instant::now() < deadline {
                let (stream, _) = match listener.accept() {
                    Ok(s) => s,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                served += 1;
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(path.clone());
                let mut stream = reader.into_inner();
                let (status, body): (&str, &[u8]) = match routes.get(&path) {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"not found"),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        Server { port, requests }
    }

    fn url(&self, dir: &str) -> String {
        format!("http://127.0.0.1:{}/{dir}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn remote(name: &str, content: &[u8]) -> RemoteFile {
    RemoteFile {
        name: Cow::Owned(name.to_string()),
        sha256: Cow::Owned(sha256(content)),
        size: content.len() as u64,
        mirrors: &[],
        unpack: Unpack::Keep,
    }
}

/// Two fixture files: a real MNIST labels file and some arbitrary bytes.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let labels = fs::read(bundled().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let other: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    vec![
        ("t10k-labels-idx1-ubyte.gz".to_string(), labels),
        ("blob.bin".to_string(), other),
    ]
}

fn opts(mirrors: Vec<String>) -> FetchOptions {
    FetchOptions {
        mirrors: Some(mirrors),
        progress: false,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn downloads_are_verified_placed_and_then_skipped() {
    let files = fixtures();
    let routes = files
        .iter()
        .map(|(n, b)| (format!("/data/{n}"), b.clone()))
        .collect();
    let server = Server::start(routes, 2);
    let table: Vec<RemoteFile> = files.iter().map(|(n, b)| remote(n, b)).collect();
    let dest = tempfile::tempdir().unwrap();

    let report = fetch_files(&table, dest.path(), &opts(vec![server.url("data/")])).unwrap();
    assert_eq!(report.downloaded(), 2);
    assert_eq!(report.skipped(), 0);
    assert_eq!(
        report.bytes_downloaded(),
        (files[0].1.len() + files[1].1.len()) as u64
    );
    assert_eq!(
        report.files[0].outcome,
        FetchOutcome::Downloaded {
            url: server.url("data/t10k-labels-idx1-ubyte.gz")
        }
    );
    for (name, bytes) in &files {
        assert_eq!(&fs::read(dest.path().join(name)).unwrap(), bytes);
    }
    // Nothing but the two files: no temporary leftovers.
    assert_eq!(
        names_in(dest.path()),
        ["blob.bin", "t10k-labels-idx1-ubyte.gz"]
    );

    // Second run: nothing to download, so even a dead mirror is fine.
    let dead = format!("http://127.0.0.1:{}/", closed_port());
    let again = fetch_files(&table, dest.path(), &opts(vec![dead])).unwrap();
    assert_eq!(again.downloaded(), 0);
    assert_eq!(again.skipped(), 2);
    assert!(
        again
            .to_string()
            .contains("0 downloaded (0 bytes), 2 skipped")
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn hash_mismatch_is_an_error_and_leaves_nothing_behind() {
    let (name, bytes) = fixtures().remove(1);
    let mut tampered = bytes.clone();
    tampered[500] ^= 1;
    let server = Server::start(HashMap::from([(format!("/{name}"), tampered.clone())]), 1);
    let dest = tempfile::tempdir().unwrap();

    let err = fetch_files(
        &[remote(&name, &bytes)],
        dest.path(),
        &opts(vec![server.url("")]),
    )
    .unwrap_err();
    match &err {
        DataError::HashMismatch {
            url,
            expected,
            actual,
        } => {
            assert_eq!(url, &server.url(&name));
            assert_eq!(expected, &sha256(&bytes));
            assert_eq!(actual, &sha256(&tampered));
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    assert!(err.to_string().contains("SHA-256 mismatch"));
    assert!(
        names_in(dest.path()).is_empty(),
        "{:?}",
        names_in(dest.path())
    );
}

#[test]
fn oversized_download_is_cut_off() {
    let (name, bytes) = fixtures().remove(1);
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 10]);
    let server = Server::start(HashMap::from([(format!("/{name}"), longer)]), 1);
    let dest = tempfile::tempdir().unwrap();
    let err = fetch_files(
        &[remote(&name, &bytes)],
        dest.path(),
        &opts(vec![server.url("")]),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err}");
    assert!(names_in(dest.path()).is_empty());
}

#[test]
fn a_corrupt_local_copy_is_replaced() {
    let (name, bytes) = fixtures().remove(0);
    let server = Server::start(HashMap::from([(format!("/{name}"), bytes.clone())]), 1);
    let dest = tempfile::tempdir().unwrap();
    fs::write(dest.path().join(&name), b"half a download").unwrap();
    let report = fetch_files(
        &[remote(&name, &bytes)],
        dest.path(),
        &opts(vec![server.url("")]),
    )
    .unwrap();
    assert_eq!(report.downloaded(), 1);
    assert_eq!(fs::read(dest.path().join(&name)).unwrap(), bytes);
}

#[test]
fn falls_back_to_the_next_mirror() {
    let (name, bytes) = fixtures().remove(1);
    // Serves the file only under /good/; /missing/ gets a 404.
    let server = Server::start(HashMap::from([(format!("/good/{name}"), bytes.clone())]), 2);
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let mirrors = vec![refused, server.url("missing/"), server.url("good/")];
    let dest = tempfile::tempdir().unwrap();

    let report = fetch_files(&[remote(&name, &bytes)], dest.path(), &opts(mirrors)).unwrap();
    assert_eq!(
        report.files[0].outcome,
        FetchOutcome::Downloaded {
            url: server.url(&format!("good/{name}"))
        }
    );
    assert_eq!(
        server.requests(),
        [format!("/missing/{name}"), format!("/good/{name}")]
    );
    assert_eq!(fs::read(dest.path().join(&name)).unwrap(), bytes);
}

#[test]
fn every_mirror_failing_lists_each_failure() {
    let (name, bytes) = fixtures().remove(1);
    let server = Server::start(HashMap::new(), 1);
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let dest = tempfile::tempdir().unwrap();
    let err = fetch_files(
        &[remote(&name, &bytes)],
        dest.path(),
        &opts(vec![refused.clone(), server.url("")]),
    )
    .unwrap_err();
    let DataError::AllMirrorsFailed { file, attempts } = &err else {
        panic!("expected every mirror to fail, got {err}");
    };
    assert_eq!(file, &name);
    assert_eq!(attempts.len(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{refused}{name}: download failed")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{}: download failed", server.url(&name))),
        "{msg}"
    );
    assert!(msg.contains("404"), "{msg}");
    assert!(names_in(dest.path()).is_empty());
}

#[test]
fn file_urls_read_from_disk() {
    let files = fixtures();
    let src = tempfile::tempdir().unwrap();
    for (name, bytes) in &files {
        fs::write(src.path().join(name), bytes).unwrap();
    }
    let table: Vec<RemoteFile> = files.iter().map(|(n, b)| remote(n, b)).collect();
    let dest = tempfile::tempdir().unwrap();
    let base = format!("file://{}/", src.path().display());
    let report = fetch_files(&table, dest.path(), &opts(vec![base.clone()])).unwrap();
    assert_eq!(report.downloaded(), 2);
    assert_eq!(
        report.files[1].outcome,
        FetchOutcome::Downloaded {
            url: format!("{base}blob.bin")
        }
    );
    for (name, bytes) in &files {
        assert_eq!(&fs::read(dest.path().join(name)).unwrap(), bytes);
    }

    // A missing file:// source is an error naming the URL.
    let err = fetch_files(
        &[remote("absent.bin", b"x")],
        dest.path(),
        &opts(vec![base.clone()]),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{base}absent.bin: download failed")),
        "{err}"
    );
}

#[test]
fn tar_gz_archive_is_extracted_and_loads_as_cifar() {
    // A miniature cifar-10-binary.tar.gz: same layout, two records per batch.
    let archive = common::gzip(&common::cifar_tar(2, "elsewhere.txt"));

    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("mini-cifar.tar.gz"), &archive).unwrap();
    let mut file = remote("mini-cifar.tar.gz", &archive);
    file.unpack = Unpack::TarGz {
        dir: BATCHES_DIR,
        files: &CIFAR_FILES,
        max_file_bytes: 2 * RECORD_LEN as u64,
    };
    let dest = tempfile::tempdir().unwrap();
    let base = format!("file://{}", src.path().display());

    let report = fetch_files(
        std::slice::from_ref(&file),
        dest.path(),
        &opts(vec![base.clone()]),
    )
    .unwrap();
    assert_eq!(
        report.files[0].extracted_to,
        Some(dest.path().join(BATCHES_DIR))
    );
    // Only the batches directory is extracted, next to the kept archive.
    assert_eq!(names_in(dest.path()), [BATCHES_DIR, "mini-cifar.tar.gz"]);

    let split = load(DatasetKind::Cifar10, dest.path()).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (10, 2));

    // Re-running finds both the archive and the extracted files in place.
    let again = fetch_files(std::slice::from_ref(&file), dest.path(), &opts(vec![base])).unwrap();
    assert_eq!(again.skipped(), 1);
    assert_eq!(
        again.files[0].extracted_to,
        Some(dest.path().join(BATCHES_DIR))
    );
}

#[test]
fn fetch_uses_the_mirror_override_and_the_real_table() {
    // The real MNIST table through a loopback mirror that has nothing: the
    // first file fails with a 404 naming the overridden URL, no network used.
    let server = Server::start(HashMap::new(), 1);
    let dest = tempfile::tempdir().unwrap();
    let err = fetch(
        DatasetKind::Mnist,
        dest.path(),
        &opts(vec![server.url("mnist/")]),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: download failed",
            server.url("mnist/train-images-idx3-ubyte.gz")
        )),
        "{msg}"
    );
    assert_eq!(server.requests(), ["/mnist/train-images-idx3-ubyte.gz"]);
}

#[test]
fn default_tables_pin_full_sha256_hashes() {
    for &kind in DatasetKind::all() {
        for file in advcomp_data::remote::remote_files(kind) {
            assert_eq!(file.sha256.len(), 64, "{}", file.name);
            assert!(
                file.sha256.chars().all(|c| c.is_ascii_hexdigit()),
                "{}",
                file.name
            );
        }
    }
}
