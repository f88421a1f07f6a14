//! The base score of a scan: what its findings weigh. Core adds what the scanner cannot know
//! (new capabilities against the previous release, a dormant project, a watched uploader) and
//! compares with `scan.hold_score`.
//!
//! Weights, per rule at its most severe finding: Info 0, Low 1, Medium 4, High 10, Reject 100.
//! With the default `scan.hold_score` of 10 one High finding holds a release on its own, two
//! Medium findings of different rules do not (a third does), and Low findings need many
//! friends; many findings of one rule are one signal. A `Reject` finding refuses the upload
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

/// The weight of the scan's findings alone: each rule counts once, at its most severe
/// finding. Thirteen test binaries in packaging's sdist, or a dozen raw addresses in urllib3's
/// tests, are one signal each, not thirteen; two different rules are two.
pub fn base_score(scan: &ArchiveScan) -> u32 {
    worst_by_rule(scan)
        .values()
        .fold(0u32, |sum, s| sum.saturating_add(weight(*s)))
}

/// Each rule the scan found, at its worst finding.
pub fn worst_by_rule(
    scan: &ArchiveScan,
) -> std::collections::BTreeMap<crate::model::Rule, Severity> {
    let mut worst: std::collections::BTreeMap<crate::model::Rule, Severity> = Default::default();
    for f in &scan.findings {
        let w = worst.entry(f.rule).or_insert(f.severity);
        if f.severity > *w {
            *w = f.severity;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, Rule};

    fn scan_of(findings: &[(Rule, Severity)]) -> ArchiveScan {
        ArchiveScan {
            findings: findings
                .iter()
                .map(|&(rule, severity)| Finding {
                    rule,
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
    fn each_rule_counts_once_at_its_worst() {
        use Rule::{
            BundledBinary as M14, EncryptedCode as M11, Obfuscation as M10, ShadyEndpoint as M6,
        };
        use Severity::{High, Info, Low, Medium, Reject};
        assert_eq!(base_score(&ArchiveScan::default()), 0);
        assert_eq!(base_score(&scan_of(&[(M10, Info), (M6, Info)])), 0);
        assert_eq!(base_score(&scan_of(&[(M6, Low), (M10, Medium)])), 5);
        assert_eq!(base_score(&scan_of(&[(M10, High)])), 10);
        // thirteen test binaries are one signal; a worse one of the same rule replaces it
        assert_eq!(base_score(&scan_of(&[(M14, Medium); 13])), 4);
        assert_eq!(
            base_score(&scan_of(&[(M6, Low), (M6, High), (M6, Low)])),
            10
        );
        assert_eq!(
            base_score(&scan_of(&[(M10, Medium), (M6, Medium), (M11, Reject)])),
            108
        );
    }
}
