//! Which `STRONGROOM_*` environment variables name a setting, and a "did you mean" for the
//! ones that do not: a misspelt variable is refused like a misspelt TOML key, never ignored.

use super::keys::KEYS;

/// `STRONGROOM_` + the key with `.` as `__`, upper case (`ratelimit.login_ip` →
/// `STRONGROOM_RATELIMIT__LOGIN_IP`).
pub(super) fn env_name(key: &str) -> String {
    format!("STRONGROOM_{}", key.replace('.', "__").to_ascii_uppercase())
}

/// Variables that never configure the server but may be set where it runs: the config file's
/// path, `strongroom audit`'s index (`STRONGROOM_INDEX_URL`, a client setting), and the test
/// suite's and tools' own (`STRONGROOM_TEST_*`, `STRONGROOM_BIN`, ...).
fn is_outside_config(name: &str) -> bool {
    matches!(
        name,
        "STRONGROOM_CONFIG"
            | "STRONGROOM_BIN"
            | "STRONGROOM_PYPI_SAMPLES"
            | "STRONGROOM_WRITE_CORPUS"
            | "STRONGROOM_INDEX_URL"
    ) || name.starts_with("STRONGROOM_TEST_")
}

/// Every `STRONGROOM_*` name that sets a key: the key itself and its `_FILE` form.
fn known_names() -> Vec<String> {
    KEYS.iter()
        .flat_map(|k| {
            let name = env_name(k.name);
            [format!("{name}_FILE"), name]
        })
        .collect()
}

/// The first `STRONGROOM_*` variable in `names` that names no setting, as an error message
/// (with the closest known name when one is near).
pub(super) fn unknown_variable<'a>(names: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let known = known_names();
    let bad = names.into_iter().find(|n| {
        n.starts_with("STRONGROOM_") && !is_outside_config(n) && !known.iter().any(|k| k == *n)
    })?;
    let mut msg = format!("environment: unknown setting {bad}");
    if let Some(near) = closest(bad, known.iter().map(String::as_str)) {
        msg.push_str(&format!(" (did you mean {near}?)"));
    }
    Some(msg)
}

/// The candidate nearest to `name` if it is close enough to be a typo (a few edits, ignoring
/// case and `_`/`.` differences counted as edits).
pub(super) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.len() / 5).clamp(2, 4);
    candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}
