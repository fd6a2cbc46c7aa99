//! The artifact cache: one directory per step, named by the step's content
//! hash, created atomically.
//!
//! A step is built in a staging directory `tmp/<key>-<pid>-<n>/` and
//! renamed to `<key>/` once everything, `step.json` last, is written, so a
//! directory named by a key is always complete; a run killed at any moment
//! (even SIGKILL) leaves at most a stale staging directory.
//!
//! Several processes may share one cache (two runs, a run and a dry run,
//! workers of one run). Each staging directory has a lock file beside it,
//! `tmp/<key>-<pid>-<n>.lock`, that its owner holds (`flock`) for as long
//! as it builds: [`Cache::sweep_stale`] removes only staging whose lock it
//! can take, that is, whose owner is gone. Opening a cache removes nothing.
//! Entries are immutable and content-addressed, so two processes that build
//! the same key race harmlessly: the first rename wins and the other
//! discards its copy.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{RunError, io};
use crate::hash::KEY_HEX_LEN;

/// The file every finished step directory holds last.
pub const STEP_RECORD: &str = "step.json";

/// How old a `.locking` file must be before a sweep takes it for a crash's.
const STALE_LOCKING: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether `path` was last modified more than `age` ago.
fn older_than(path: &Path, age: std::time::Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e > age)
}

/// Staging directories of this process get distinct numbers.
static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// One entry of the cache, as [`Cache::entries`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The step's key (the directory's name).
    pub key: String,
    /// The step's label from its `step.json` (`None`: missing or unreadable).
    pub label: Option<String>,
    /// Whether the entry is finished ([`Cache::has`]).
    pub complete: bool,
    /// Bytes of the files in it (symlinks not followed).
    pub bytes: u64,
}

/// Bytes of the regular files below `dir` (symlinks are not followed).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        for item in read.flatten() {
            match item.file_type() {
                Ok(t) if t.is_dir() => todo.push(item.path()),
                Ok(t) if t.is_file() => total += item.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// A staging directory and the lock that marks it in use. Dropping it
/// (without [`Cache::commit`]) removes the directory and releases the lock.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Held (locked) until drop.
    _lock: File,
}

impl Staging {
    /// Where the step writes its artifacts.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort: a leftover is swept by a later run.
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

impl std::ops::Deref for Staging {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl Cache {
    /// Opens (creating it) the cache at `root`. Removes nothing: readers
    /// (a dry run) must never disturb a run that shares the cache.
    pub fn open(root: &Path) -> Result<Self, RunError> {
        std::fs::create_dir_all(root).map_err(io(root))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The same cache by its absolute path: what workers, which may start
    /// in another directory or on another machine, are given.
    pub fn absolute(&self) -> Result<Self, RunError> {
        Ok(Self {
            root: std::path::absolute(&self.root).map_err(io(&self.root))?,
        })
    }

    /// The cache's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where executors keep the workers' logs (`<key>-<id>.log`).
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Removes staging directories whose owner is gone (its lock can be
    /// taken); returns how many. Staging in use is left alone, and so is
    /// anything in `tmp/` without a lock file (it may be half created).
    pub fn sweep_stale(&self) -> Result<usize, RunError> {
        let tmp = self.tmp();
        let entries = match std::fs::read_dir(&tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&tmp)(e)),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let lock_path = entry.path();
            let Some(name) = lock_path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            // A `.locking` file is a lock between its creation and its
            // owner's `flock`: microseconds, during which taking it would
            // break the owner's staging. Only one left by a crash in that
            // window (an hour old) is swept.
            let stem = match (name.strip_suffix(".lock"), name.strip_suffix(".locking")) {
                (Some(stem), _) => stem,
                (None, Some(stem)) if older_than(&lock_path, STALE_LOCKING) => stem,
                _ => continue,
            };
            let Ok(file) = OpenOptions::new().read(true).write(true).open(&lock_path) else {
                continue;
            };
            if file.try_lock().is_err() {
                continue; // its owner is alive (or the lock is unusable): leave it
            }
            let dir = tmp.join(stem);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
            }
            let _ = std::fs::remove_file(&lock_path);
            removed += 1;
        }
        Ok(removed)
    }

    /// Every entry directory (named by a key: [`KEY_HEX_LEN`] hex digits),
    /// sorted by key,
    /// with its size and, when its `step.json` is readable, its label.
    /// Anything else in the cache (`tmp/`, a user's file) is not an entry.
    pub fn entries(&self) -> Result<Vec<Entry>, RunError> {
        let read = std::fs::read_dir(&self.root).map_err(io(&self.root))?;
        let mut out = Vec::new();
        for item in read.flatten() {
            let Some(key) = item.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let is_key = key.len() == KEY_HEX_LEN && key.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_key || !item.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = item.path();
            let label = std::fs::read(dir.join(STEP_RECORD))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["label"].as_str().map(str::to_string));
            out.push(Entry {
                bytes: dir_size(&dir),
                complete: self.has(&key),
                label,
                key,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Removes entry `key`: renamed into `tmp/` first, so it disappears at
    /// once and a reader never sees it half deleted.
    pub fn remove(&self, key: &str) -> Result<(), RunError> {
        let dir = self.dir(key);
        let tmp = self.tmp();
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let aside = tmp.join(format!(
            "{key}-removed-{}-{}",
            std::process::id(),
            STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::rename(&dir, &aside).map_err(io(&dir))?;
        std::fs::remove_dir_all(&aside).map_err(io(&aside))
    }

    /// Where the finished artifacts of `key` live.
    pub fn dir(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Whether `key` is finished: its directory holds a `step.json` that
    /// names `key`. A torn entry (no record: a copy cut short on a shared
    /// filesystem) or a foreign one (a record for another key: a directory
    /// copied or renamed by hand, or written by an older advcomp) is not
    /// finished; the step is recomputed and [`Cache::commit`] replaces it.
    pub fn has(&self, key: &str) -> bool {
        record_key(&self.dir(key).join(STEP_RECORD)).is_some_and(|k| k == key)
    }

    /// A fresh staging directory to build `key` in, locked for this
    /// process until the [`Staging`] is committed or dropped.
    pub fn staging(&self, key: &str) -> Result<Staging, RunError> {
        let tmp = self.tmp();
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let name = format!(
            "{key}-{}-{}",
            std::process::id(),
            STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        // The lock file appears under its `.lock` name already locked, so a
        // sweeper never sees it unlocked while its owner is alive.
        let lock_path = tmp.join(format!("{name}.lock"));
        let pending = tmp.join(format!("{name}.locking"));
        let lock = File::create(&pending).map_err(io(&pending))?;
        lock.lock().map_err(io(&pending))?;
        std::fs::rename(&pending, &lock_path).map_err(io(&lock_path))?;
        let staging = Staging {
            dir: tmp.join(&name),
            lock_path,
            _lock: lock,
        };
        std::fs::create_dir(&staging.dir).map_err(io(&staging.dir))?;
        Ok(staging)
    }

    /// Publishes a staging directory as `key`. If another process
    /// published `key` first, its entry stays (entries of one key are
    /// interchangeable) and this copy is discarded.
    pub fn commit(&self, staging: Staging, key: &str) -> Result<PathBuf, RunError> {
        let dir = self.dir(key);
        if self.has(key) {
            return Ok(dir);
        }
        if dir.exists() {
            // An incomplete directory from a foreign tool or an older
            // layout: move it aside first, so no reader sees it half gone.
            let aside = self.tmp().join(format!(
                "{key}-replaced-{}-{}",
                std::process::id(),
                STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            if std::fs::rename(&dir, &aside).is_ok() {
                let _ = std::fs::remove_dir_all(&aside);
            }
        }
        match std::fs::rename(&staging.dir, &dir) {
            Ok(()) => Ok(dir),
            // Lost the race to another process publishing the same key.
            Err(_) if self.has(key) => Ok(dir),
            Err(e) => Err(io(&dir)(e)),
        }
    }
}

/// The `key` field of the step record at `path`, if it is readable JSON.
/// Records are a few hundred bytes; anything over 64 KiB is not one.
fn record_key(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok().filter(|b| b.len() <= 64 << 10)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("key")?.as_str().map(str::to_string)
}

/// Writes `bytes` to `path` atomically (temporary file + rename).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    advcomp_models::checkpoint::write_atomic(path, bytes).map_err(io(path))
}

/// Writes `value` as pretty JSON.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    let mut json = serde_json::to_string_pretty(value).expect("artifacts serialise");
    json.push('\n');
    write(path, json.as_bytes())
}

/// Reads JSON written by [`write_json`].
/// Every file read this way is part of a cache entry: a missing or
/// unreadable one is [`RunError::Corrupt`], whose message says which entry
/// to delete to recompute it.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let bytes = std::fs::read(path).map_err(|e| RunError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RunError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_and_sweeping_never_touch_staging_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Cache::open(dir.path()).unwrap();
        let staging = writer.staging("k").unwrap();
        std::fs::write(staging.join("partial"), "work").unwrap();
        // Another process's view of the same cache: a dry run opens it, a
        // run sweeps it. The lock is per open file, so a second handle in
        // this process contends like another process would.
        let reader = Cache::open(dir.path()).unwrap();
        assert_eq!(reader.sweep_stale().unwrap(), 0);
        assert!(staging.join("partial").is_file(), "work in progress kept");
        let published = writer.commit(staging, "k");
        // Without a step record the entry is not finished, but it exists.
        assert!(published.unwrap().join("partial").is_file());
    }

    #[test]
    fn staging_whose_owner_is_gone_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        // What a killed process leaves: its directory and an unlocked lock
        // file (the kernel drops a dead process's locks).
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(tmp.join("k-99999-0")).unwrap();
        std::fs::write(tmp.join("k-99999-0/partial"), "x").unwrap();
        std::fs::write(tmp.join("k-99999-0.lock"), "").unwrap();
        // A directory without a lock file may be half created: left alone,
        // and so is a lock being taken right now.
        std::fs::create_dir_all(tmp.join("unknown")).unwrap();
        std::fs::write(tmp.join("k-99999-1.locking"), "").unwrap();
        assert_eq!(cache.sweep_stale().unwrap(), 1);
        assert!(!tmp.join("k-99999-0").exists());
        assert!(!tmp.join("k-99999-0.lock").exists());
        assert!(tmp.join("unknown").exists());
        assert!(tmp.join("k-99999-1.locking").exists());
    }

    #[test]
    fn entries_are_listed_and_removed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = "ab".repeat(KEY_HEX_LEN / 2);
        let s = cache.staging(&key).unwrap();
        std::fs::write(s.join("data"), [0u8; 10]).unwrap();
        std::fs::write(
            s.join(STEP_RECORD),
            format!(r#"{{"key": "{key}", "label": "train m", "seconds": 1}}"#),
        )
        .unwrap();
        cache.commit(s, &key).unwrap();
        std::fs::create_dir_all(dir.path().join("not-a-key")).unwrap();
        let entries = cache.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].key, key);
        assert_eq!(entries[0].label.as_deref(), Some("train m"));
        assert!(entries[0].complete && entries[0].bytes >= 10);
        cache.remove(&key).unwrap();
        assert!(cache.entries().unwrap().is_empty());
        assert!(dir.path().join("not-a-key").exists());
    }

    #[test]
    fn the_first_published_entry_of_a_key_wins_and_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let a = cache.staging("k").unwrap();
        let b = cache.staging("k").unwrap();
        for (s, who) in [(&a, "a"), (&b, "b")] {
            std::fs::write(s.join("who"), who).unwrap();
            std::fs::write(s.join(STEP_RECORD), r#"{"key": "k"}"#).unwrap();
        }
        cache.commit(a, "k").unwrap();
        cache.commit(b, "k").unwrap();
        assert_eq!(
            std::fs::read_to_string(cache.dir("k").join("who")).unwrap(),
            "a"
        );
        // Nothing is left behind in tmp/.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("tmp")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn torn_and_foreign_entries_are_not_finished_and_get_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        // Torn: the files arrived, the record did not.
        std::fs::create_dir_all(cache.dir("torn")).unwrap();
        std::fs::write(cache.dir("torn").join("weights"), "half").unwrap();
        // Foreign: a finished entry of `other`, copied under this name.
        std::fs::create_dir_all(cache.dir("foreign")).unwrap();
        std::fs::write(
            cache.dir("foreign").join(STEP_RECORD),
            r#"{"key": "other", "label": "x", "seconds": 1}"#,
        )
        .unwrap();
        // Garbage where the record should be.
        std::fs::create_dir_all(cache.dir("garbage")).unwrap();
        std::fs::write(cache.dir("garbage").join(STEP_RECORD), [0xff; 9]).unwrap();
        for key in ["torn", "foreign", "garbage"] {
            assert!(!cache.has(key), "{key}");
            let s = cache.staging(key).unwrap();
            std::fs::write(s.join("new"), "").unwrap();
            std::fs::write(s.join(STEP_RECORD), format!(r#"{{"key": "{key}"}}"#)).unwrap();
            cache.commit(s, key).unwrap();
            assert!(cache.has(key), "{key}");
            assert!(cache.dir(key).join("new").is_file(), "{key} rebuilt");
            assert!(
                !cache.dir(key).join("weights").exists(),
                "{key}: nothing old read"
            );
        }
    }
}
