//! A table of our numbers with the paper's beside them, written as Markdown and CSV.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One number of ours and the paper's published one for the same cell, in percent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cell {
    /// Ours (`None`: not measured, e.g. a column the budget leaves out).
    pub ours: Option<f64>,
    /// The paper's (`None`: not published).
    pub paper: Option<f64>,
}

/// One row: a run's label, its cells, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The defense or variant.
    pub label: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
    /// The run's best epoch (highest per-epoch PGD-20).
    pub best_epoch: usize,
    /// Wall-clock seconds the run's training took, when `mart paper` trained it.
    pub seconds: Option<f64>,
    /// The run folder's name.
    pub run: String,
}

/// A table of an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// `# Title` of the Markdown file.
    pub title: String,
    /// Paragraphs above the table: settings, budget, what the numbers are.
    pub notes: Vec<String>,
    /// Column headers (`natural`, `PGD-20 best`, ...) and their CSV names (`natural`,
    /// `pgd20_best`, ...).
    pub columns: Vec<(String, String)>,
    /// The rows.
    pub rows: Vec<Row>,
    /// The data set, written into every CSV line.
    pub dataset: String,
    /// The budget, written into every CSV line.
    pub budget: String,
    /// The first column's header (`defense`, `variant`).
    pub row_header: String,
}

fn number(value: Option<f64>) -> String {
    value.map_or(String::new(), |v| format!("{v:.2}"))
}

impl Table {
    /// The Markdown: title, notes, and the table with each cell `ours (paper)`; a column
    /// with no published number shows ours alone.
    pub fn markdown(&self) -> String {
        let mut text = format!("# {}\n\n", self.title);
        for note in &self.notes {
            let _ = write!(text, "{note}\n\n");
        }
        let header: Vec<String> = std::iter::once(self.row_header.clone())
            .chain(self.columns.iter().map(|(label, _)| label.clone()))
            .chain(["best epoch".into(), "seconds".into(), "run".into()])
            .collect();
        let _ = writeln!(text, "| {} |", header.join(" | "));
        let _ = writeln!(
            text,
            "|{}",
            header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { " --- |" } else { " ---: |" })
                .collect::<String>()
        );
        for row in &self.rows {
            let cells = row.cells.iter().map(|c| match (c.ours, c.paper) {
                (None, None) => "—".to_string(),
                (ours, None) => number(ours),
                (None, Some(p)) => format!("— ({p:.2})"),
                (Some(o), Some(p)) => format!("{o:.2} ({p:.2})"),
            });
            let line: Vec<String> = std::iter::once(row.label.clone())
                .chain(cells)
                .chain([
                    row.best_epoch.to_string(),
                    row.seconds.map_or("—".into(), |s| format!("{s:.0}")),
                    format!("`{}`", row.run),
                ])
                .collect();
            let _ = writeln!(text, "| {} |", line.join(" | "));
        }
        text
    }

    /// The CSV: one line per row, each column as `name` (ours) and `name_paper`, then the best
    /// epoch, the seconds, the data set, the budget and the run folder.
    pub fn csv(&self) -> String {
        let mut header = vec![self.row_header.clone()];
        for (_, key) in &self.columns {
            header.push(key.clone());
            header.push(format!("{key}_paper"));
        }
        header.extend(["best_epoch", "seconds", "dataset", "budget", "run"].map(String::from));
        let mut text = header.join(",") + "\n";
        for row in &self.rows {
            let mut line = vec![quote(&row.label)];
            for cell in &row.cells {
                line.push(number(cell.ours));
                line.push(number(cell.paper));
            }
            line.extend([
                row.best_epoch.to_string(),
                row.seconds.map_or(String::new(), |s| format!("{s:.1}")),
                quote(&self.dataset),
                quote(&self.budget),
                quote(&row.run),
            ]);
            text.push_str(&(line.join(",") + "\n"));
        }
        text
    }

    /// Writes `<stem>.md` and `<stem>.csv` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (ext, text) in [("md", self.markdown()), ("csv", self.csv())] {
            let path = dir.join(format!("{stem}.{ext}"));
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// A CSV field, quoted when it holds a comma or a quote.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_ours_beside_the_paper() {
        let table = Table {
            title: "T".into(),
            notes: vec!["n".into()],
            columns: vec![("PGD-20".into(), "pgd20".into())],
            rows: vec![Row {
                label: "TRADES, lambda 0.5".into(),
                cells: vec![Cell {
                    ours: Some(90.0),
                    paper: Some(94.58),
                }],
                best_epoch: 3,
                seconds: Some(12.34),
                run: "r".into(),
            }],
            dataset: "mnist-sample".into(),
            budget: "quick".into(),
            row_header: "defense".into(),
        };
        let md = table.markdown();
        assert!(
            md.contains("| TRADES, lambda 0.5 | 90.00 (94.58) | 3 | 12 | `r` |"),
            "{md}"
        );
        let csv = table.csv();
        assert_eq!(
            csv,
            "defense,pgd20,pgd20_paper,best_epoch,seconds,dataset,budget,run\n\
             \"TRADES, lambda 0.5\",90.00,94.58,3,12.3,mnist-sample,quick,r\n"
        );
    }
}
