//! The file paths that `transforms.json` names (frame images, masks, the background) are
//! untrusted: [`check_inside_folder`] refuses any that would leave the dataset folder, so that
//! a dataset can only make the trainer read files of its own. The validation applies it
//! before any file is opened.

use super::error::Problem;

/// Refuses `path`, the value of the key `field`, unless it is relative and stays inside the
/// dataset folder: it must not start with a root (`/` or `\`, which also begins Windows' UNC
/// and verbatim prefixes) or a drive (`C:`), and none of its components may be `..`. Both
/// `/` and `\` separate components, so that a path written for Windows is judged the same on
/// every platform.
pub(crate) fn check_inside_folder(field: &'static str, path: &str) -> Result<(), Problem> {
    let rooted = path.starts_with(['/', '\\']);
    let drive = matches!(path.as_bytes(), [letter, b':', ..] if letter.is_ascii_alphabetic());
    let climbs = path.split(['/', '\\']).any(|component| component == "..");
    if rooted || drive || climbs {
        return Err(Problem::PathOutsideFolder {
            field,
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_inside_folder;
    use crate::Problem;

    #[test]
    fn relative_paths_inside_the_folder_are_accepted() {
        for path in [
            "images/00001.png",
            "./masks/00001.png",
            "background.png",
            "head_imgs/12.jpg",
            "images/..hidden.png",
            "images/a..b.png",
        ] {
            assert_eq!(check_inside_folder("image", path), Ok(()), "{path}");
        }
    }

    #[test]
    fn absolute_and_climbing_paths_are_refused() {
        for path in [
            "/etc/shadow",
            "//server/share/x.png",
            "../x.png",
            "../../../../etc/shadow",
            "images/../../x.png",
            "images/..",
            "..",
            "..\\x.png",
            "images\\..\\..\\x.png",
            "\\Windows\\x.png",
            "\\\\server\\share\\x.png",
            "\\\\?\\C:\\x.png",
            "C:\\Windows\\x.png",
            "C:/x.png",
            "c:x.png",
        ] {
            assert_eq!(
                check_inside_folder("mask", path),
                Err(Problem::PathOutsideFolder {
                    field: "mask",
                    path: path.to_owned(),
                }),
                "{path}"
            );
        }
    }

    #[test]
    fn the_message_names_the_key_and_the_path() {
        let problem = check_inside_folder("image", "../../etc/shadow").unwrap_err();
        assert_eq!(
            problem.to_string(),
            "image path `../../etc/shadow` leaves the dataset folder (paths must be relative and inside it)"
        );
    }
}
