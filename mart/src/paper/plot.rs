//! `figure1.svg` and `figure2.svg`: the paper's panels of the S+ / S- experiment and of MART's
//! ablations, drawn with plotters.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One line of panel (a) or (b): PGD-20 accuracy per epoch.
#[derive(Clone, Debug, Default)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// `(epoch, accuracy %)`.
    pub points: Vec<(usize, f64)>,
    /// MART itself (drawn dashed, as the paper's blue baseline).
    pub baseline: bool,
}

/// The data of the four panels.
#[derive(Clone, Debug, Default)]
pub struct Figure2Data {
    /// (a) removing components.
    pub removing: Vec<Curve>,
    /// (b) replacing components.
    pub replacing: Vec<Curve>,
    /// (c) `(percent of the data, (best, last) PGD-20 %)`.
    pub fraction: Vec<(f64, (f64, f64))>,
    /// (d) MART: `(lambda as text, (best, last) PGD-20 %)`.
    pub lambda_mart: Vec<(String, (f64, f64))>,
    /// (d) TRADES, the same lambdas.
    pub lambda_trades: Vec<(String, (f64, f64))>,
}

/// Orange, the paper's colour of S+ in Figure 1.
const ORANGE: RGBColor = RGBColor(230, 140, 0);
/// Colours of the non-baseline lines, in order.
const COLORS: [RGBColor; 4] = [RED, GREEN, MAGENTA, ORANGE];
/// Colours of Figure 1's lines after the baseline: S- green, S+ orange, as the paper's.
const SUBSET_COLORS: [RGBColor; 2] = [GREEN, ORANGE];

/// A y range around `values` (percent), padded by 2 points and clamped to [0, 100].
fn y_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return 0.0..100.0;
    }
    (lo - 2.0).max(0.0)..(hi + 2.0).min(100.0).max(lo + 1.0)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// PGD-20 per epoch, the baseline dashed blue, the other lines in `colors` (cycled).
fn draw_curves(area: &Area<'_>, title: &str, curves: &[Curve], colors: &[RGBColor]) -> Result<()> {
    let last = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(2);
    let y = y_range(curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(46)
        .build_cartesian_2d(1usize..last, y)?;
    chart
        .configure_mesh()
        .x_desc("training epoch")
        .y_desc("PGD-20 accuracy (%)")
        .draw()?;
    let mut colors = colors.iter().cycle();
    for curve in curves {
        let points: Vec<(usize, f64)> = curve.points.clone();
        if curve.baseline {
            let style = BLUE.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(points, 8, 5, style))?
                .label(curve.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        } else {
            let color = *colors.next().expect("cycle");
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(curve.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
    }
    legend(&mut chart)
}

/// Panel (c): best and last PGD-20 against the percentage of data with the regulariser.
fn draw_fraction(area: &Area<'_>, points: &[(f64, (f64, f64))]) -> Result<()> {
    let y = y_range(points.iter().flat_map(|(_, (b, l))| [*b, *l]));
    let mut chart = ChartBuilder::on(area)
        .caption("(c) Training data with the regulariser", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(46)
        .build_cartesian_2d(0f64..100f64, y)?;
    chart
        .configure_mesh()
        .x_desc("training data (%)")
        .y_desc("PGD-20 accuracy (%)")
        .draw()?;
    for (name, pick, dashed) in [("best epoch", 0, false), ("last epoch", 1, true)] {
        let line: Vec<(f64, f64)> = points
            .iter()
            .map(|(x, (b, l))| (*x, if pick == 0 { *b } else { *l }))
            .filter(|p| p.1.is_finite())
            .collect();
        series(&mut chart, line, name, BLUE, dashed)?;
    }
    legend(&mut chart)
}

/// Panel (d): best and last PGD-20 of MART and TRADES at each lambda, ticks at uniform
/// intervals.
fn draw_lambda(
    area: &Area<'_>,
    mart: &[(String, (f64, f64))],
    trades: &[(String, (f64, f64))],
) -> Result<()> {
    let labels: Vec<String> = mart.iter().map(|(l, _)| l.clone()).collect();
    let y = y_range(mart.iter().chain(trades).flat_map(|(_, (b, l))| [*b, *l]));
    let n = labels.len().max(2);
    let mut chart = ChartBuilder::on(area)
        .caption("(d) Regularisation lambda", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(46)
        .build_cartesian_2d(-0.3f64..(n as f64 - 0.7), y)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("lambda")
        .y_desc("PGD-20 accuracy (%)")
        .draw()?;
    for (name, values, color) in [("MART", mart, BLUE), ("TRADES", trades, RED)] {
        for (which, pick, dashed) in [("best", 0, false), ("last", 1, true)] {
            let line: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .map(|(i, (_, (b, l)))| (i as f64, if pick == 0 { *b } else { *l }))
                .filter(|p| p.1.is_finite())
                .collect();
            series(&mut chart, line, &format!("{name} {which}"), color, dashed)?;
        }
    }
    legend(&mut chart)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A line with dots, solid or dotted, into the legend.
fn series(
    chart: &mut Chart<'_, '_>,
    line: Vec<(f64, f64)>,
    name: &str,
    color: RGBColor,
    dashed: bool,
) -> Result<()> {
    let style = color.stroke_width(2);
    let drawn = if dashed {
        chart.draw_series(DashedLineSeries::new(line.clone(), 3, 4, style))?
    } else {
        chart.draw_series(LineSeries::new(line.clone(), style))?
    };
    drawn
        .label(name.to_string())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    Ok(())
}

/// The legend box, lower right.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 12))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| anyhow::anyhow!("cannot draw a legend: {e}"))
}

/// Draws the four panels into `path` (SVG, 2 x 2).
pub fn plot_figure2(path: &Path, data: &Figure2Data, dataset: &str, budget: &str) -> Result<()> {
    let root = SVGBackend::new(path, (1280, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!("MART ablations (the paper's Figure 2) on {dataset}, {budget} budget"),
        ("sans-serif", 22),
    )?;
    let panels = root.split_evenly((2, 2));
    draw_curves(
        &panels[0],
        "(a) Removing components",
        &data.removing,
        &COLORS,
    )?;
    draw_curves(
        &panels[1],
        "(b) Replacing components",
        &data.replacing,
        &COLORS,
    )?;
    draw_fraction(&panels[2], &data.fraction)?;
    draw_lambda(&panels[3], &data.lambda_mart, &data.lambda_trades)?;
    root.present()
        .with_context(|| format!("cannot write the figure {}", path.display()))?;
    Ok(())
}

/// Draws Figure 1's panels side by side into `path` (SVG): each a title and its curves, the
/// baseline first (dashed blue), then S- (green) and S+ (orange).
pub fn plot_figure1(
    path: &Path,
    panels: &[(String, Vec<Curve>)],
    dataset: &str,
    budget: &str,
) -> Result<()> {
    let root = SVGBackend::new(path, (1500, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "Misclassified (S-) versus correctly classified (S+) examples (the paper's Figure 1) \
             on {dataset}, {budget} budget"
        ),
        ("sans-serif", 22),
    )?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, (title, curves)) in areas.iter().zip(panels) {
        draw_curves(area, title, curves, &SUBSET_COLORS)?;
    }
    root.present()
        .with_context(|| format!("cannot write the figure {}", path.display()))?;
    Ok(())
}
