//! The short Markdown evaluation report: facts about the run, a table of metrics (mean and
//! standard deviation over the frames, full frame and head) and links to the images.

use std::fmt::Write as _;
use std::path::Path;

use super::ReportError;

/// Mean and population standard deviation (divided by n, as NumPy's default) of a list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanStd {
    /// The mean.
    pub mean: f64,
    /// The population standard deviation.
    pub std: f64,
}

impl MeanStd {
    /// The mean and standard deviation of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some(Self {
            mean,
            std: variance.sqrt(),
        })
    }
}

/// One line of the metrics table.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    /// The metric's name, with its direction, e.g. `PSNR (dB) ↑`.
    pub name: String,
    /// Over the whole frame; `None` when not computed.
    pub full: Option<MeanStd>,
    /// Inside the head mask; `None` when not computed.
    pub head: Option<MeanStd>,
    /// Significant decimals to print.
    pub decimals: usize,
}

/// A Markdown report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The title (first heading).
    pub title: String,
    /// `name: value` facts about the run, printed as a list.
    pub facts: Vec<(String, String)>,
    /// The metrics table.
    pub metrics: Vec<MetricRow>,
    /// Images: caption and path relative to the report.
    pub images: Vec<(String, String)>,
    /// Remarks printed at the end.
    pub notes: Vec<String>,
}

impl Report {
    /// The report as Markdown text.
    pub fn to_markdown(&self) -> String {
        let mut text = format!("# {}\n\n", self.title);
        for (name, value) in &self.facts {
            let _ = writeln!(text, "- **{name}**: {value}");
        }
        if !self.metrics.is_empty() {
            text.push_str("\n## Metrics\n\nMean (standard deviation) over the frames.\n\n");
            text.push_str("| metric | full frame | head |\n| --- | --- | --- |\n");
            for row in &self.metrics {
                let cell = |value: Option<MeanStd>| match value {
                    Some(v) => format!("{:.*} ({:.*})", row.decimals, v.mean, row.decimals, v.std),
                    None => "–".to_owned(),
                };
                let _ = writeln!(
                    text,
                    "| {} | {} | {} |",
                    row.name,
                    cell(row.full),
                    cell(row.head)
                );
            }
        }
        for (caption, path) in &self.images {
            let _ = write!(text, "\n## {caption}\n\n![{caption}]({path})\n");
        }
        if !self.notes.is_empty() {
            text.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(text, "- {note}");
            }
        }
        text
    }

    /// Writes [`Self::to_markdown`] to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        std::fs::write(path, self.to_markdown()).map_err(|error| ReportError::Io {
            file: path.to_owned(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_population_std() {
        let stats = MeanStd::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(stats.mean, 2.5);
        assert!((stats.std - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(MeanStd::of(&[]), None);
    }

    #[test]
    fn markdown_has_facts_table_images_and_notes() {
        let report = Report {
            title: "Evaluation".to_owned(),
            facts: vec![("frames".to_owned(), "3".to_owned())],
            metrics: vec![MetricRow {
                name: "PSNR (dB) ↑".to_owned(),
                full: MeanStd::of(&[30.0, 32.0]),
                head: None,
                decimals: 2,
            }],
            images: vec![("Comparison".to_owned(), "grid.png".to_owned())],
            notes: vec!["a note".to_owned()],
        };
        let text = report.to_markdown();
        assert!(text.starts_with("# Evaluation\n"));
        assert!(text.contains("- **frames**: 3"));
        assert!(text.contains("| PSNR (dB) ↑ | 31.00 (1.00) | – |"));
        assert!(text.contains("![Comparison](grid.png)"));
        assert!(text.contains("- a note"));
    }
}
