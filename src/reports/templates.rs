//! The report layouts: minijinja templates read at run time from a folder users edit
//! (`reports/` by default, `--templates DIR` or `[reports] templates` in `mes.toml`), each
//! file falling back to the copy built into the binary, so the binary works without the
//! folder and an edit takes effect with no rebuild. A broken template is reported with its
//! file, line and what is wrong.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

/// The built-in copies, the same files as the repository's `reports/` folder.
const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../../reports/base.html")),
    ("macros.html", include_str!("../../reports/macros.html")),
    ("shift.html", include_str!("../../reports/shift.html")),
    ("yield.html", include_str!("../../reports/yield.html")),
    ("trace.html", include_str!("../../reports/trace.html")),
    ("audit.html", include_str!("../../reports/audit.html")),
    ("report.typ", include_str!("../../reports/report.typ")),
];

/// A template that does not parse or fails to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{}: {message}", line.map_or_else(|| "?".to_owned(), |l| l.to_string()))]
pub struct TemplateError {
    /// The file (or `built-in NAME`).
    pub file: String,
    /// Line in it, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Where templates are read from.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    /// Folder whose files override the built-in copies; `None`: built-in only.
    pub dir: Option<PathBuf>,
}

impl Templates {
    /// Templates from `dir` (files missing there come from the built-in copies).
    pub fn from_dir(dir: Option<&Path>) -> Self {
        Templates { dir: dir.map(Path::to_path_buf) }
    }

    /// Where template `name` is read from, for messages.
    fn origin(&self, name: &str) -> String {
        match &self.dir {
            Some(dir) if dir.join(name).is_file() => dir.join(name).display().to_string(),
            _ => format!("built-in {name}"),
        }
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, TemplateError> {
        let mut env = Environment::new();
        // An undefined variable in output is an error (a typo shows), but may be tested in `if`.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        let dir = self.dir.clone();
        env.set_loader(move |name: &str| -> Result<Option<String>, minijinja::Error> {
            if let Some(dir) = &dir
                && !name.contains("..")
            {
                let path = dir.join(name);
                if path.is_file() {
                    return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("cannot read {}: {e}", path.display()),
                        )
                    });
                }
            }
            Ok(BUILT_IN.iter().find(|t| t.0 == name).map(|t| t.1.to_owned()))
        });
        let failed = |e: minijinja::Error| {
            let at = e.name().unwrap_or(name).to_owned();
            let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
            TemplateError { file: self.origin(&at), line: e.line(), message: format!("{}{detail}", e.kind()) }
        };
        env.add_filter("typst", |v: minijinja::Value| typst_literal(&v.to_string()));
        let template = env.get_template(name).map_err(failed)?;
        template.render(minijinja::value::Serde(context)).map_err(failed)
    }
}

/// `text` as a typst string literal: what a template writes for any value (`{{ x|typst }}`), so
/// no value is read as markup.
pub fn typst_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_overrides_the_built_in_copy_and_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let context = serde_json::json!({ "who": "Thảo" });
        let built_in = Templates::default();
        assert!(built_in.render("nothing.html", &context).unwrap_err().message.contains("not found"));

        let folder = Templates::from_dir(Some(dir.path()));
        std::fs::write(dir.path().join("hello.html"), "Xin chào {{ who }} & <b>").unwrap();
        assert_eq!(folder.render("hello.html", &context).unwrap(), "Xin chào Thảo & <b>");

        std::fs::write(dir.path().join("broken.html"), "line one\nline two\n<p>{{ who | }}</p>\n").unwrap();
        let e = folder.render("broken.html", &context).unwrap_err();
        assert_eq!(e.file, dir.path().join("broken.html").display().to_string());
        assert_eq!(e.line, Some(3), "{e}");
        assert!(
            e.to_string().starts_with(&format!("{}:3: syntax error", dir.path().join("broken.html").display())),
            "{e}"
        );

        std::fs::write(dir.path().join("typo.html"), "a\n{{ whom.name }}\n").unwrap();
        let e = folder.render("typo.html", &context).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("undefined"), "{e}");
    }
}
