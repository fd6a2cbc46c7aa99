//! Where a data set lives when the user has not said.
//!
//! The order, first match wins:
//! 1. an explicit `--data DIR` (must exist);
//! 2. `$ADVCOMP_DATA/<kind>` when `ADVCOMP_DATA` is set (must exist: a set
//!    variable is a statement of intent, so silently falling back would hide a typo);
//! 3. `./data/<kind>`, where `advcomp data fetch` writes by default;
//! 4. MNIST only: the 10,000-image sample bundled with the repository
//!    (`data/mnist-10k`), first under the current directory, then at the
//!    workspace this crate was built from, so tests and examples work offline.
//!
//! CIFAR-10 has no bundled copy; the error says how to get one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::kind::DatasetKind;

/// Environment variable naming a directory with one subdirectory per data set.
pub const DATA_ENV: &str = "ADVCOMP_DATA";

/// Directory name of the bundled MNIST sample, under `data/`.
pub const BUNDLED_MNIST: &str = "mnist-10k";

/// Where the bundled sample sits in the source tree this crate was built from.
const BUILD_TIME_BUNDLED_MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k");

/// Finds the directory to load `kind` from, using the process environment and
/// current directory. See the module documentation for the order.
pub fn resolve(kind: DatasetKind, explicit: Option<&Path>) -> Result<PathBuf, DataError> {
    let cwd = std::env::current_dir()
        .map_err(|e| DataError::io(Path::new("."), "cannot get the current directory", e))?;
    resolve_in(kind, explicit, std::env::var_os(DATA_ENV), &cwd)
}

/// [`resolve`] with the environment variable's value and the current directory
/// passed in, so it can be tested without touching process-wide state.
///
/// Relative paths (explicit or from the variable) are taken relative to `cwd`,
/// and the result is `cwd`-joined, so it stays valid if the process later
/// changes directory and reads well in provenance records.
pub fn resolve_in(
    kind: DatasetKind,
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    cwd: &Path,
) -> Result<PathBuf, DataError> {
    if let Some(dir) = explicit {
        let dir = cwd.join(dir);
        if dir.is_dir() {
            return Ok(dir);
        }
        return Err(DataError::DirNotFound {
            path: dir,
            hint: format!(" (given with --data for {kind})"),
        });
    }

    if let Some(root) = env_value.filter(|v| !v.is_empty()) {
        let root = cwd.join(root);
        let dir = root.join(kind.name());
        if dir.is_dir() {
            return Ok(dir);
        }
        return Err(DataError::DirNotFound {
            path: dir,
            hint: format!(
                "; {DATA_ENV} is set to {}, so {kind} data is expected in its `{kind}` \
                 subdirectory: run `advcomp data fetch {kind}` and move ./data/{kind} there, \
                 or unset {DATA_ENV}",
                root.display()
            ),
        });
    }

    let fetched = cwd.join("data").join(kind.name());
    if fetched.is_dir() {
        return Ok(fetched);
    }

    match kind {
        DatasetKind::Mnist => bundled_mnist_in(cwd).ok_or_else(|| DataError::NotFound {
            message: format!(
                "no MNIST data: {} does not exist and the bundled sample data/{BUNDLED_MNIST} \
                 was not found; run `advcomp data fetch mnist` (writes ./data/mnist), \
                 or pass --data DIR, or set {DATA_ENV}",
                fetched.display()
            ),
        }),
        DatasetKind::Cifar10 => Err(DataError::NotFound {
            message: format!(
                "no CIFAR-10 data: {} does not exist and CIFAR-10 is not bundled; \
                 run `advcomp data fetch cifar10` (writes ./data/cifar10), \
                 or pass --data DIR, or set {DATA_ENV} to a directory with a `cifar10` subdirectory",
                fetched.display()
            ),
        }),
    }
}

/// The bundled 10,000-image MNIST sample, if it can be found from the current
/// directory or at the source tree this crate was built from.
pub fn bundled_mnist() -> Option<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_default();
    bundled_mnist_in(&cwd)
}

fn bundled_mnist_in(cwd: &Path) -> Option<PathBuf> {
    let local = cwd.join("data").join(BUNDLED_MNIST);
    if local.is_dir() {
        return Some(local);
    }
    let built = Path::new(BUILD_TIME_BUNDLED_MNIST);
    built
        .is_dir()
        .then(|| built.canonicalize().unwrap_or_else(|_| built.to_path_buf()))
}
