//! Writing results to stdout without panicking when the reader goes away.
//!
//! `println!` panics (exit 101) when stdout is a pipe whose reader has
//! exited, as in `advcomp fmt big.scn | head -1`. Rust ignores SIGPIPE, and
//! restoring the default handler needs `unsafe` (forbidden here), so every
//! line of results goes through [`outln!`] / [`out!`] instead: they return a
//! `miette::Result`, a closed pipe becomes a [`StdoutClosed`] error, and
//! `main` turns that into a quiet exit 0, the way a Unix filter behaves.
//! Any other write error (a full disk behind `> file`) is reported as such.

use std::fmt;
use std::io::Write;

/// The reader of stdout has gone away; the command stops quietly.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}
impl miette::Diagnostic for StdoutClosed {}

/// Writes `args` to stdout; the backend of [`out!`] and [`outln!`].
pub fn write(args: fmt::Arguments<'_>) -> miette::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(args).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            miette::Report::new(StdoutClosed)
        } else {
            miette::miette!("cannot write to stdout: {e}")
        }
    })
}

/// Whether `error` is (or wraps) a closed stdout.
pub fn is_stdout_closed(error: &miette::Report) -> bool {
    error.downcast_ref::<StdoutClosed>().is_some()
}

/// `print!` that returns a `miette::Result` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` that returns a `miette::Result` instead of panicking.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
