//! Run reports: per-epoch metrics as JSON lines, and an SVG plot of accuracy per epoch.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// One epoch's line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Training-attack radius used.
    pub eps: f32,
    /// Mean training loss.
    pub train_loss: f64,
    /// Natural accuracy on the training batches, in percent (train mode).
    pub train_accuracy: f64,
    /// Natural test accuracy, in percent.
    pub natural: f64,
    /// PGD-20 test accuracy, in percent.
    pub pgd20: f64,
    /// Wall-clock seconds of the epoch's training.
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
}

/// Writes `history` as `metrics.jsonl` in `dir`, one line per epoch, replacing the file at
/// once (a run killed while writing leaves the previous file whole).
pub fn write_metrics(dir: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for metrics in history {
        text.push_str(&serde_json::to_string(metrics)?);
        text.push('\n');
    }
    write_atomically(&dir.join("metrics.jsonl"), text.as_bytes())
}

/// Replaces `path` with `bytes` at once; the error names the file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    nn::checkpoint::write_file_atomically(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads `metrics.jsonl` back (for resume and plots); a missing file is an empty history.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join("metrics.jsonl");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!("{} line {} is not a metrics record", path.display(), i + 1)
            })
        })
        .collect()
}

/// Draws natural and PGD-20 test accuracy per epoch into `path` (SVG).
pub fn plot_accuracy(path: &Path, history: &[EpochMetrics], title: &str) -> Result<()> {
    let mut svg = String::new();
    draw_accuracy(&mut svg, history, title)?;
    write_atomically(path, svg.as_bytes())
}

/// Draws [`plot_accuracy`]'s chart into `svg`.
fn draw_accuracy(svg: &mut String, history: &[EpochMetrics], title: &str) -> Result<()> {
    let root = SVGBackend::with_string(svg, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let last = history.last().map_or(1, |m| m.epoch).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0usize..last, 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("test accuracy (%)")
        .draw()?;
    let series = [
        (
            "natural",
            BLUE,
            history
                .iter()
                .map(|m| (m.epoch, m.natural))
                .collect::<Vec<_>>(),
        ),
        (
            "PGD-20",
            RED,
            history.iter().map(|m| (m.epoch, m.pgd20)).collect(),
        ),
    ];
    for (name, color, points) in series {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
