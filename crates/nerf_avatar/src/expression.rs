//! Expression coefficients by blendshape name: `"jawOpen=0.8,eyeBlinkLeft=1"` becomes the
//! coefficient vector in the order of a configuration's blendshape names.

/// How many valid names an unknown-name error lists.
const SUGGESTIONS: usize = 5;

/// Why a coefficient list did not parse.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExpressionError {
    /// An item is not of the form `name=value`.
    #[error("`{0}` is not of the form name=value")]
    Malformed(String),
    /// The name is not one of the model's blendshapes.
    #[error("unknown blendshape `{name}` (valid names include {suggestions})")]
    UnknownName {
        /// The unknown name.
        name: String,
        /// A few valid names, similar ones first.
        suggestions: String,
    },
    /// The value is not a number.
    #[error("the value `{value}` of `{name}` is not a number")]
    BadNumber {
        /// The blendshape.
        name: String,
        /// The text given as its value.
        value: String,
    },
    /// The value is NaN or infinite.
    #[error("the value of `{name}` is not finite")]
    NotFinite {
        /// The blendshape.
        name: String,
    },
    /// A name is given twice.
    #[error("blendshape `{0}` is given more than once")]
    Duplicate(String),
}

/// Parses comma-separated `name=value` items into one coefficient per name of `names`, in
/// that order; names not mentioned get 0. Whitespace around items, names and values is
/// ignored, and an empty text is the neutral expression.
pub fn parse_coefficients(names: &[String], text: &str) -> Result<Vec<f32>, ExpressionError> {
    let mut coefficients = vec![0.0; names.len()];
    let mut given = vec![false; names.len()];
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let Some((name, value)) = item.split_once('=') else {
            return Err(ExpressionError::Malformed(item.to_owned()));
        };
        let (name, value) = (name.trim(), value.trim());
        let Some(index) = names.iter().position(|known| known == name) else {
            return Err(ExpressionError::UnknownName {
                name: name.to_owned(),
                suggestions: suggestions(names, name),
            });
        };
        let parsed: f32 = value.parse().map_err(|_| ExpressionError::BadNumber {
            name: name.to_owned(),
            value: value.to_owned(),
        })?;
        if !parsed.is_finite() {
            return Err(ExpressionError::NotFinite {
                name: name.to_owned(),
            });
        }
        if std::mem::replace(&mut given[index], true) {
            return Err(ExpressionError::Duplicate(name.to_owned()));
        }
        coefficients[index] = parsed;
    }
    Ok(coefficients)
}

/// A few valid names, those sharing letters with `unknown` (ignoring case) first.
fn suggestions(names: &[String], unknown: &str) -> String {
    if names.is_empty() {
        return "none: the model has no blendshapes".to_owned();
    }
    let unknown = unknown.to_lowercase();
    let similar = |name: &&String| {
        let name = name.to_lowercase();
        !unknown.is_empty() && (name.contains(&unknown) || unknown.contains(&name))
    };
    let mut picked: Vec<&String> = names.iter().filter(similar).take(SUGGESTIONS).collect();
    for name in names {
        if picked.len() == SUGGESTIONS {
            break;
        }
        if !picked.contains(&name) {
            picked.push(name);
        }
    }
    picked
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "mouthSmileLeft"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn named_values_land_in_config_order() {
        let parsed = parse_coefficients(&names(), " jawOpen = 0.8, eyeBlinkLeft=1 ").unwrap();
        assert_eq!(parsed, vec![1.0, 0.0, 0.8, 0.0]);
    }

    #[test]
    fn empty_text_is_neutral() {
        assert_eq!(parse_coefficients(&names(), "").unwrap(), vec![0.0; 4]);
        assert_eq!(parse_coefficients(&names(), " , ").unwrap(), vec![0.0; 4]);
    }

    #[test]
    fn unknown_names_suggest_similar_ones() {
        let error = parse_coefficients(&names(), "eyeblink=1").unwrap_err();
        let ExpressionError::UnknownName { suggestions, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(suggestions.starts_with("`eyeBlinkLeft`, `eyeBlinkRight`"));
        assert!(error.to_string().contains("jawOpen"));
    }

    #[test]
    fn bad_values_are_rejected() {
        let names = names();
        assert!(matches!(
            parse_coefficients(&names, "jawOpen=wide"),
            Err(ExpressionError::BadNumber { .. })
        ));
        for value in ["NaN", "inf", "-inf"] {
            assert_eq!(
                parse_coefficients(&names, &format!("jawOpen={value}")),
                Err(ExpressionError::NotFinite {
                    name: "jawOpen".into()
                })
            );
        }
        assert_eq!(
            parse_coefficients(&names, "jawOpen=1,jawOpen=0"),
            Err(ExpressionError::Duplicate("jawOpen".into()))
        );
        assert_eq!(
            parse_coefficients(&names, "jawOpen"),
            Err(ExpressionError::Malformed("jawOpen".into()))
        );
    }
}
