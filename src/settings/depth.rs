//! A cheap look at a YAML text's nesting before the YAML parser sees it.
//!
//! The parser takes time quadratic in the depth of flow collections
//! (`[[[[…]]]]`, `{a: {b: …}}`): 100,000 levels, a 200 KB file, took 23.6 s,
//! on the main loop at a reload. reachd's files need a handful of levels, so
//! a text nested deeper than [`MAX_DEPTH`] is refused, in one linear pass,
//! at the bracket that goes too deep. (Block nesting, by indentation, costs
//! the parser linear time and is bounded by its own recursion limit.)
//!
//! The scan knows just enough YAML to count only real flow brackets: not
//! those in quoted scalars, comments, block scalars (`|`, `>`) or inside a
//! plain scalar (`a[1]`); anchors and tags before a collection
//! (`&a [`, `!!seq [`) do not hide it. It splits lines where the parser
//! does (`\r` too). A block scalar's text is the lines the parser takes for
//! it: indented deeper than the node that owns it (the key before `: |`,
//! the `-` of `- |`), at least as deep as its first line, so a sibling key
//! after it (`- name: |` … `  labels: [[…`) is read again; where unsure
//! it skips less, never text the parser would read as YAML. (The
//! one place it may count a bracket that is text is the start of a
//! continuation line of a multi-line plain scalar; a valid file would need
//! dozens of those, unclosed, to reach the limit, far above the handful of
//! levels reachd's files use.)

/// The deepest flow nesting accepted.
pub(crate) const MAX_DEPTH: usize = 64;

/// The previous significant character, as far as where a node may start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of a line in block context, `- `, `? `, `: `: a node may start.
    NodeStart,
    /// `[`, `{` or `,` inside a flow collection: a node may start.
    FlowStart,
    /// Anything else: we are inside (or after) a scalar.
    Other,
}

enum Quote {
    Single,
    Double,
}

/// A block scalar (`|`, `>`) being skipped: which lines are its text.
///
/// As the YAML parser (libyaml) decides: its text is indented at least
/// `indent`, given by an indentation indicator (`|2`: the owner's column
/// plus 2) or else the most indented of its leading empty lines and its
/// first non-empty line, and never less than the owner's column plus 1.
/// Empty lines are text; the first non-empty line indented less ends it.
struct BlockScalar {
    /// The column (0-based) of the node that owns it: the key before `: |`,
    /// or the `-`, `?`, `:` right before the `|`.
    owner: usize,
    /// The indentation of its text, once known.
    indent: Option<usize>,
    /// The most spaces on an empty line before its first non-empty line.
    blank: usize,
}

impl BlockScalar {
    /// Whether the line (`spaces` leading spaces, nothing else if `empty`)
    /// is text of the scalar.
    fn takes(&mut self, spaces: usize, empty: bool) -> bool {
        match self.indent {
            Some(indent) => empty || spaces >= indent,
            None if empty => {
                self.blank = self.blank.max(spaces);
                true
            }
            None => {
                let indent = spaces.max(self.blank).max(self.owner + 1);
                self.indent = Some(indent);
                spaces >= indent
            }
        }
    }
}

/// `text`'s lines, split at every line break the YAML parser knows:
/// `\n`, `\r\n`, a lone `\r`, and NEL, LS, PS.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        let found = s
            .char_indices()
            .find(|&(_, c)| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'));
        match found {
            Some((at, c)) => {
                let mut next = at + c.len_utf8();
                if c == '\r' && s[next..].starts_with('\n') {
                    next += 1;
                }
                rest = Some(&s[next..]);
                Some(&s[..at])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// `Err((line, column))` (1-based, in characters) of the first `[` or `{`
/// that opens a level deeper than [`MAX_DEPTH`].
pub(crate) fn check(text: &str) -> Result<(), (usize, usize)> {
    // The parser skips a byte order mark, in no column.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut depth = 0usize;
    let mut quote: Option<Quote> = None;
    let mut block_scalar: Option<BlockScalar> = None;
    let mut prev = Prev::NodeStart;
    // In block context, on this line: the column of the block collection
    // the node being read belongs to (a key's before its `: `, a `-`'s, a
    // `?`'s), and where that node started, props included (a key's column).
    let mut owner: Option<usize> = None;
    let mut node: Option<usize> = None;
    // The owner of a value still to come on a later line (after `key:`,
    // `-`), or `None` when the last line ended within or after a scalar.
    // A document may be one scalar: the parser's column 0 stands for it.
    let mut pending: Option<usize> = Some(0);
    for (n, line) in lines(text).enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(scalar) = &mut block_scalar {
            let empty = line.chars().all(|c| matches!(c, ' ' | '\t'));
            if scalar.takes(indent, empty) {
                continue;
            }
            block_scalar = None;
        }
        let block = depth == 0 && quote.is_none();
        if block {
            prev = Prev::NodeStart;
            owner = None;
            node = None;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            let column = i;
            i += 1;
            match quote {
                Some(Quote::Single) => {
                    if c == '\'' {
                        if next == Some('\'') {
                            i += 1;
                        } else {
                            quote = None;
                            prev = Prev::Other;
                        }
                    }
                    continue;
                }
                Some(Quote::Double) => {
                    if c == '\\' {
                        i += 1;
                    } else if c == '"' {
                        quote = None;
                        prev = Prev::Other;
                    }
                    continue;
                }
                None => {}
            }
            let at_node = prev != Prev::Other;
            let spaced = |c: Option<char>| c.is_none_or(char::is_whitespace);
            if depth == 0 && at_node && node.is_none() && !matches!(c, ' ' | '\t' | '\r' | '#') {
                // What may be a key starts here (unless it is `-`, `?`, `:`
                // or `|`, which do not read it).
                node = Some(column);
            }
            match c {
                ' ' | '\t' | '\r' => {}
                // The parser skips a byte order mark at the start of a line.
                '\u{feff}' if column == 0 => node = None,
                '#' if i == 1 || chars[i - 2].is_whitespace() => break,
                '[' | '{' if depth > 0 || at_node => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err((n + 1, i));
                    }
                    prev = Prev::FlowStart;
                }
                ']' | '}' if depth > 0 => {
                    depth -= 1;
                    prev = Prev::Other;
                }
                ',' if depth > 0 => prev = Prev::FlowStart,
                '\'' if at_node => quote = Some(Quote::Single),
                '"' if at_node => quote = Some(Quote::Double),
                '|' | '>' if depth == 0 && at_node => {
                    // Owned by this line's key, `-`, `?`, `:`, or else by
                    // a value still to come from an earlier line; if none,
                    // the line continues a plain scalar: this is text.
                    match owner.or(pending) {
                        Some(owner) => {
                            // The rest of the line is the header (and a
                            // comment), maybe with an indentation indicator.
                            let header = chars[i..].iter().take(2);
                            let header = header.take_while(|c| matches!(c, '+' | '-' | '0'..='9'));
                            let given = header.filter_map(|c| c.to_digit(10)).next();
                            block_scalar = Some(BlockScalar {
                                owner,
                                indent: given.map(|k| owner + k as usize),
                                blank: 0,
                            });
                            pending = None;
                            break;
                        }
                        None => prev = Prev::Other,
                    }
                }
                '&' | '!' if at_node => {
                    // An anchor or a tag: the node is what follows it.
                    while i < chars.len() && !chars[i].is_whitespace() {
                        if depth > 0 && matches!(chars[i], ',' | '[' | ']' | '{' | '}') {
                            break;
                        }
                        i += 1;
                    }
                }
                '-' | '?' if at_node && spaced(next) => {
                    if depth == 0 {
                        // A sequence entry or a complex key: a new node.
                        owner = Some(column);
                        node = None;
                    }
                    prev = Prev::NodeStart;
                }
                ':' if spaced(next) => {
                    if depth == 0 {
                        // After a key, its column; alone, an explicit value.
                        owner = node.or(Some(column));
                    }
                    prev = Prev::NodeStart;
                }
                _ => prev = Prev::Other,
            }
        }
        if block_scalar.is_none() && depth == 0 && quote.is_none() {
            if prev == Prev::NodeStart {
                // `key:`, `-`: the value may come on a later line. A line
                // with nothing (or only props, a comment) leaves it as is.
                pending = owner.or(pending);
            } else {
                pending = None;
            }
        } else if block_scalar.is_none() {
            pending = None;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn counts_flow_nesting() {
        assert_eq!(check(&format!("a: {}\n", deep(64))), Ok(()));
        assert_eq!(check(&format!("a: {}\n", deep(65))), Err((1, 68)));
        assert_eq!(check(&format!("- {}\n", deep(100_000))), Err((1, 67)));
        // Mixed, over several lines, after a comment line.
        let text = format!("# [[[[\nx:\n  {}\n  {}\n", "{a: [".repeat(32), "{");
        assert_eq!(check(&text), Err((4, 3)));
        // Anchors and tags do not hide a collection.
        assert_eq!(check(&format!("a: &x !!seq {}\n", deep(65))), Err((1, 77)));
        assert_eq!(check(&format!("a: [&x {}]\n", deep(64))), Err((1, 71)));
    }

    #[test]
    fn valid_files_with_many_brackets_pass() {
        let many = "[".repeat(200);
        for text in [
            // Quoted scalars, single and double, with escapes, over lines.
            format!("a: \"{many}\\\" {many}\"\nb: '{many}'' {many}'\n"),
            format!("a: [\"{many}\", '{many}']\n"),
            format!("a: \"{many}\n  {many}\"\n"),
            // Comments.
            format!("a: 1 # {many}\n# {many}\n"),
            // Block scalars, literal and folded, with indicators.
            format!("a: |\n  {many}\n\n  {many}\nb: >-\n  {many}\nc: 1\n"),
            format!("- |2\n   {many}\n- x\n"),
            // Brackets inside plain scalars.
            format!("a: x{many}\nb: it's {many}\nexpect: \"^R1[>#]$\"\nc: a{{b}}\n"),
            format!("a: [x{}]\n", "y".repeat(10)),
        ] {
            assert_eq!(check(&text), Ok(()), "{text}");
        }
        // A real file.
        let example = include_str!("../../config/reachd.example.yaml");
        assert_eq!(check(example), Ok(()));
    }

    #[test]
    fn flow_context_after_a_block_scalar_and_quotes() {
        // The block scalar ends at a line as indented as its key.
        let text = format!("a: |\n  {}\nb: {}\n", "[".repeat(100), deep(65));
        assert_eq!(check(&text), Err((3, 68)));
        // A quote inside a plain scalar is no quote: the brackets after it count.
        let text = format!("a: it's\nb: {}\n", deep(65));
        assert_eq!(check(&text), Err((2, 68)));
    }

    #[test]
    fn a_block_scalar_ends_at_its_owners_indentation() {
        let over = deep(65);
        for (text, at) in [
            // A sibling key after a block scalar in a sequence entry: the
            // scalar's parent is the key's column (2), not the line's (0).
            (format!("- name: |\n    x\n  labels: {over}\n"), (3, 75)),
            (
                format!("- name: |\n    x\n  labels: {}\n", deep(20_000)),
                (3, 75),
            ),
            (
                format!("- &a name: >-\n    x\n\n  labels: {over}\n"),
                (4, 75),
            ),
            // `- |`: the dash's column; text as deep as its first line.
            (format!("- |\n    x\n  labels: {over}\n"), (3, 75)),
            (format!("- |\n  x\n- {over}\n"), (3, 67)),
            // Nested sequences: the key's column, 4.
            (
                format!("- - key: |\n      x\n    labels: {over}\n"),
                (3, 77),
            ),
            (format!("- - |\n    x\n  - {over}\n"), (3, 69)),
            // A complex key and its value.
            (format!("? |\n  x\n: {over}\n"), (3, 67)),
            (format!("? a\n: |\n  x\nb: {over}\n"), (4, 68)),
            // An indentation indicator counts from the owner's column.
            (format!("- name: |2\n      x\n  labels: {over}\n"), (3, 75)),
            // The parser takes the text's indentation from leading empty lines too.
            (format!("a: |\n     \n  x: {over}\n"), (3, 70)),
            // The header alone on its line: owned by the key before it.
            (format!("- a:\n    |\n    x\n  b: {over}\n"), (4, 70)),
        ] {
            assert_eq!(check(&text), Err(at), "{text}");
        }
    }

    #[test]
    fn line_breaks_and_byte_order_marks_as_the_parser_reads_them() {
        let over = deep(65);
        // `\r` (and NEL, LS, PS) end a line, a comment, a block scalar.
        for (text, line) in [
            (format!("a: 1 # c\rb: {over}\r"), 2),
            (format!("a: |\r  x\rb: {over}\r"), 3),
            (format!("a: |\r\n  x\r\nb: {over}\r\n"), 3),
            (format!("a: 1 # c\u{85}b: {over}"), 2),
            (format!("a: 1 # c\u{2028}b: {over}"), 2),
        ] {
            assert_eq!(check(&text), Err((line, 68)), "{text:?}");
        }
        // A byte order mark takes no column, and hides no collection.
        assert_eq!(check(&format!("\u{feff}{over}")), Err((1, 65)));
        assert_eq!(check(&format!("\u{feff}a: {over}")), Err((1, 68)));
    }

    #[test]
    fn block_scalars_next_to_sibling_keys_pass() {
        let many = "[".repeat(200);
        for text in [
            format!(
                "devices:\n  - name: r1\n    description: |\n      {many}\n\n        {many}\n                     labels: {{a: b}}\n  - name: r2\n    banner: >-\n      {many}\nnotes: |\n  {many}\n"
            ),
            format!("- - key: |\n      {many}\n    other: [1]\n  - x\n- y\n"),
            format!("- |\n  {many}\n- x\n"),
            format!("- |\n  {many}\n  {many}\n"),
            format!("? |\n  {many}\n: |\n  {many}\n"),
            format!("a:\n  |\n  {many}\nb: 1\n"),
            format!("a:\n  # c\n  &x |\n  {many}\nb: 1\n"),
            format!("a: &x !!str |+\n  {many}\n\nb: 1\n"),
            format!("a: |1\n {many}\n"),
            format!("- a: |2-\n     {many}\n    {many}\n  b: 1\n"),
            format!("a: |\r\n  {many}\r\nb: 1\r\n"),
            format!("\u{feff}a: |\n  {many}\n"),
            // A `|` continuing a plain scalar is text, as are the brackets after it.
            format!("a: b\n  | {many}\n"),
        ] {
            assert_eq!(check(&text), Ok(()), "{text}");
        }
        for file in [
            include_str!("../../config/reachd.example.yaml"),
            include_str!("../../config/reachd.yaml"),
            include_str!("../../config/devices.scrapli.yaml"),
            include_str!("../../config/web-config.example.yml"),
            include_str!("../../tests/data/devices_asyncssh.yaml"),
            include_str!("../../tests/data/devices_asynctelnet.yaml"),
        ] {
            assert_eq!(check(file), Ok(()));
        }
    }
}
