//! Python's `json` module writes NaN and the infinities as the bare tokens `NaN`,
//! `Infinity` and `-Infinity`, which JSON does not allow. The released format is written by
//! Python, so these tokens are read as `null` there, and the validation then reports the
//! non-finite number together with its frame instead of a bare parse error.

use std::borrow::Cow;

/// The tokens Python writes for non-finite numbers; `-Infinity` comes before `Infinity`
/// so that the sign is replaced along with it.
const NON_FINITE_TOKENS: [&str; 3] = ["NaN", "-Infinity", "Infinity"];

/// `text` with every non-finite token outside strings replaced by `null`.
pub(crate) fn non_finite_as_null(text: &str) -> Cow<'_, str> {
    if !NON_FINITE_TOKENS.iter().any(|token| text.contains(token)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string && let Some(token) = NON_FINITE_TOKENS.iter().find(|t| rest.starts_with(*t)) {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::non_finite_as_null;

    #[test]
    fn replaces_tokens_outside_strings_only() {
        let text = r#"{"a": [NaN, -Infinity, Infinity, 1.5], "NaN \" Infinity": "-Infinity"}"#;
        assert_eq!(
            non_finite_as_null(text),
            r#"{"a": [null, null, null, 1.5], "NaN \" Infinity": "-Infinity"}"#
        );
    }

    #[test]
    fn leaves_valid_json_untouched() {
        assert!(matches!(
            non_finite_as_null(r#"{"a": 1}"#),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
