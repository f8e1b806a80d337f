//! Places in a scenario file: byte spans turned into `file:line:column`
//! with the line and a caret under the fault, as people read them.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// A place in a file, with the text of its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The whole line.
    pub text: String,
    /// Characters to underline (at least 1).
    pub width: usize,
}

impl Location {
    /// The place of byte span `span` of `source` (the file at `path`).
    pub fn of(path: PathBuf, source: &str, span: Range<usize>) -> Location {
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        let width = source[start..end].chars().count().max(1);
        Location {
            path,
            line,
            column,
            text: source[line_start..line_end].to_string(),
            width,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// `location: message`, then the line and a caret under the fault.
pub fn render(at: &Location, message: &dyn fmt::Display) -> String {
    let gutter = at.line.to_string().len();
    format!(
        "{at}: {message}\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
        "",
        at.line,
        at.text,
        "",
        " ".repeat(at.column - 1),
        "^".repeat(at.width),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_lines_and_columns() {
        let src = "a = 1\nbb = [ \"x\" ]\n";
        let at = Location::of("f.toml".into(), src, 13..16);
        assert_eq!((at.line, at.column, at.width), (2, 8, 3));
        assert_eq!(at.text, "bb = [ \"x\" ]");
        assert_eq!(
            render(&at, &"no"),
            "f.toml:2:8: no\n  |\n2 | bb = [ \"x\" ]\n  |        ^^^"
        );
    }
}
