//! "Did you mean …?" for misspelled names, the way clap does it.

/// Below this Jaro–Winkler similarity, a candidate is too far off to suggest.
const MIN_SIMILARITY: f64 = 0.8;

/// The candidate closest to `input`, if one is close enough to be what the user meant.
///
/// Ties go to the earlier candidate, so list candidates in order of preference.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(input, candidate);
        if score >= MIN_SIMILARITY && best.is_none_or(|(top, _)| score > top) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The candidate `input` is a typo of, if it is one: a single edit (a letter added, dropped,
/// changed, or two swapped) for names of up to 8 letters, two for longer ones. Stricter than
/// [`did_you_mean`] on purpose: a name this close is reported as a mistake, while a name
/// further off is taken for the user's own method and left to rustc.
///
/// Ties go to the earlier candidate.
pub(crate) fn typo_of<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = if input.chars().count() <= 8 { 1 } else { 2 };
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = strsim::osa_distance(input, candidate);
        if distance > 0 && distance <= allowed && best.is_none_or(|(top, _)| distance < top) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Formats names as `` `a`, `b` or `c` `` for a help line.
pub(crate) fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(|name| format!("`{name}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[&str] = &[
        "map",
        "flat_map",
        "filter",
        "reduce_by_key",
        "reduce_by_key_and_window",
    ];

    #[test]
    fn suggests_the_closest_name() {
        assert_eq!(
            did_you_mean("reduce_by_kye", OPS.iter().copied()),
            Some("reduce_by_key")
        );
        assert_eq!(did_you_mean("fliter", OPS.iter().copied()), Some("filter"));
        assert_eq!(did_you_mean("flatmap", OPS.iter().copied()), Some("flat_map"));
        assert_eq!(
            did_you_mean("reduce_by_key_and_windw", OPS.iter().copied()),
            Some("reduce_by_key_and_window")
        );
    }

    #[test]
    fn stays_quiet_when_nothing_is_close() {
        assert_eq!(did_you_mean("frobnicate", OPS.iter().copied()), None);
        assert_eq!(did_you_mean("x", OPS.iter().copied()), None);
        assert_eq!(did_you_mean("anything", std::iter::empty()), None);
    }

    #[test]
    fn typos_are_one_or_two_edits_away() {
        let ops = || OPS.iter().copied();
        assert_eq!(typo_of("fliter", ops()), Some("filter"));
        assert_eq!(typo_of("mapp", ops()), Some("map"));
        assert_eq!(typo_of("reduce_by_kye", ops()), Some("reduce_by_key"));
        assert_eq!(typo_of("reduce_by_ky", ops()), Some("reduce_by_key"));
        // Names of the user's own: not typos, however similar they start.
        for own in [
            "tokenize",
            "mapped",
            "filter_errors",
            "flat_map_words",
            "reduce_all",
        ] {
            assert_eq!(typo_of(own, ops()), None, "{own}");
        }
        assert_eq!(typo_of("map", ops()), None);
    }

    #[test]
    fn lists_names_for_help_lines() {
        assert_eq!(one_of(["a"]), "`a`");
        assert_eq!(one_of(["a", "b", "c"]), "`a`, `b` or `c`");
        assert_eq!(one_of([]), "");
    }
}
