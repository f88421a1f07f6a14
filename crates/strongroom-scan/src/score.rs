//! The base score of a scan: what its findings weigh. Core adds what the scanner cannot know
//! (new capabilities against the previous release, a dormant project, a watched uploader) and
//! compares with `scan.hold_score`.
//!
//! Weights, per finding: Info 0, Low 1, Medium 4, High 10, Reject 100. With the default
//! `scan.hold_score` of 10 one High finding holds a release on its own, two Medium findings do
//! not (a third does), and Low findings need many friends. A `Reject` finding refuses the upload
//! before any score is compared; its weight only keeps such a scan at the top of any ordering.
//! The sum saturates instead of overflowing.

use crate::model::{ArchiveScan, Severity};

/// What one finding of `severity` weighs.
pub fn weight(severity: Severity) -> u32 {
    match severity {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 4,
        Severity::High => 10,
        Severity::Reject => 100,
    }
}

/// The weight of the scan's findings alone.
pub fn base_score(scan: &ArchiveScan) -> u32 {
    scan.findings
        .iter()
        .fold(0u32, |sum, f| sum.saturating_add(weight(f.severity)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, Rule};

    fn scan_of(severities: &[Severity]) -> ArchiveScan {
        ArchiveScan {
            findings: severities
                .iter()
                .map(|&severity| Finding {
                    rule: Rule::Obfuscation,
                    severity,
                    path: "m.py".into(),
                    line: None,
                    snippet: String::new(),
                    message: String::new(),
                })
                .collect(),
            ..ArchiveScan::default()
        }
    }

    #[test]
    fn findings_add_their_weights() {
        assert_eq!(base_score(&ArchiveScan::default()), 0);
        assert_eq!(base_score(&scan_of(&[Severity::Info, Severity::Info])), 0);
        assert_eq!(base_score(&scan_of(&[Severity::Low, Severity::Medium])), 5);
        assert_eq!(base_score(&scan_of(&[Severity::High])), 10);
        assert_eq!(
            base_score(&scan_of(&[
                Severity::Medium,
                Severity::Medium,
                Severity::Reject
            ])),
            108
        );
    }
}
