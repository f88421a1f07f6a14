//! The trove classifier list PyPI accepts, embedded from the `trove-classifiers`
//! package (`trove_classifiers.txt`: `all_classifiers`, sorted; `trove_deprecated.txt`:
//! `deprecated_classifiers`, one per line, replacements tab-separated).

use std::sync::LazyLock;

static ALL: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| include_str!("trove_classifiers.txt").lines().collect());

static DEPRECATED: LazyLock<Vec<(&'static str, Vec<&'static str>)>> = LazyLock::new(|| {
    include_str!("trove_deprecated.txt")
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            let name = parts.next()?;
            Some((name, parts.collect()))
        })
        .collect()
});

/// True when `classifier` is in trove-classifiers' `all_classifiers` (deprecated ones too).
pub fn is_known_classifier(classifier: &str) -> bool {
    ALL.binary_search(&classifier).is_ok()
}

/// `Some(replacements)` when the classifier is deprecated (the list may be empty).
pub fn deprecated_classifier_replacements(classifier: &str) -> Option<&'static [&'static str]> {
    DEPRECATED
        .iter()
        .find(|(name, _)| *name == classifier)
        .map(|(_, replacements)| replacements.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_lists() {
        assert!(ALL.len() > 800);
        assert!(
            ALL.windows(2).all(|w| w[0] < w[1]),
            "sorted for binary search"
        );
        assert!(is_known_classifier("Programming Language :: Python :: 3"));
        assert!(is_known_classifier(
            "License :: OSI Approved :: MIT License"
        ));
        assert!(!is_known_classifier("Programming Language :: Python :: 4"));
        assert!(!is_known_classifier("programming language :: python :: 3"));
        assert_eq!(
            deprecated_classifier_replacements("Natural Language :: Ukranian"),
            Some(&["Natural Language :: Ukrainian"][..])
        );
        assert_eq!(
            deprecated_classifier_replacements(
                "Topic :: Communications :: Chat :: AOL Instant Messenger"
            ),
            Some(&[][..])
        );
        assert_eq!(
            deprecated_classifier_replacements("Framework :: Django"),
            None
        );
        assert!(DEPRECATED.iter().all(|(name, _)| is_known_classifier(name)));
    }
}
