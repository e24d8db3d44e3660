//! "Did you mean …?": the choice nearest to a name that was misspelt.

/// The choice at most two single-character edits away from `name`, the nearest if several.
pub fn nearest<'a>(name: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    choices
        .into_iter()
        .map(|choice| (distance(name, choice), choice))
        .filter(|&(d, _)| d <= 2)
        .min()
        .map(|(_, c)| c)
}

/// How many single-character edits turn `a` into `b` (Levenshtein).
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_name_two_edits_away_and_no_further() {
        assert_eq!(nearest("hang.py", ["hangs.py", "correct.py"]), Some("hangs.py"));
        assert_eq!(nearest("udp-eco", ["udp-echo", "upper"]), Some("udp-echo"));
        assert_eq!(nearest("zzz", ["udp-echo", "upper"]), None);
    }
}
