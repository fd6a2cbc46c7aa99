//! Progress bars for training (hidden when stderr is not a terminal or with --quiet).

use advcomp_train::{EpochStats, TrainObserver};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One bar per epoch, showing the running loss.
pub struct TrainProgress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl TrainProgress {
    pub fn new(quiet: bool) -> Self {
        Self { bar: None, quiet }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl TrainObserver for TrainProgress {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        self.finish();
        let target = if self.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(batches as u64), target);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix((epoch + 1).to_string());
        self.bar = Some(bar);
    }

    fn batch_end(&mut self, _epoch: usize, batch: usize, loss: f32) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if batch.is_multiple_of(10) {
                bar.set_message(format!("loss {loss:.4}"));
            }
        }
    }

    fn epoch_end(&mut self, stats: &EpochStats) {
        self.finish();
        if !self.quiet {
            eprintln!(
                "epoch {:>3}: loss {:.4}, train accuracy {:.2}%, lr {:.4}, {:.1}s",
                stats.epoch + 1,
                stats.train_loss,
                100.0 * stats.train_accuracy,
                stats.learning_rate,
                stats.seconds
            );
        }
    }
}

/// A plain progress bar of `len` steps, hidden when quiet or not a terminal.
pub fn bar(len: usize, quiet: bool, prefix: &'static str) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len as u64), target);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}
