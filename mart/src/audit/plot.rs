//! The eps sweep as an SVG: accuracy under PGD-20 against the L-inf radius, which a model
//! without masked gradients drives to zero.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

/// Draws `curve` (eps, accuracy in percent) into `path`, with the evaluation radius `eps`
/// marked.
pub fn plot_eps_sweep(path: &Path, curve: &[(f32, f64)], eps: f32, title: &str) -> Result<()> {
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let right = curve.iter().map(|p| p.0).fold(eps, f32::max).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f32..right, 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_desc("L-inf radius eps")
        .y_desc("accuracy under PGD-20 (%)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            [(eps, 0.0), (eps, 100.0)],
            BLACK.mix(0.4).stroke_width(1),
        ))?
        .label(format!("evaluation eps {eps}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.4)));
    chart
        .draw_series(LineSeries::new(curve.iter().copied(), RED.stroke_width(2)))?
        .label("PGD-20")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
    chart.draw_series(curve.iter().map(|&p| Circle::new(p, 3, RED.filled())))?;
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()
        .with_context(|| format!("cannot write the plot {}", path.display()))?;
    Ok(())
}
