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
//! (`&a [`, `!!seq [`) do not hide it. When in doubt it counts less. (The
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

/// `Err((line, column))` (1-based, in characters) of the first `[` or `{`
/// that opens a level deeper than [`MAX_DEPTH`].
pub(crate) fn check(text: &str) -> Result<(), (usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<Quote> = None;
    // Inside a block scalar: lines indented deeper than this are its text.
    let mut block_scalar: Option<usize> = None;
    let mut prev = Prev::NodeStart;
    for (n, line) in text.split('\n').enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        if depth == 0 && quote.is_none() {
            prev = Prev::NodeStart;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
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
            match c {
                ' ' | '\t' | '\r' => {}
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
                    // The rest of the line is the header (and a comment).
                    block_scalar = Some(indent);
                    break;
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
                '-' | '?' if at_node && spaced(next) => prev = Prev::NodeStart,
                ':' if spaced(next) => prev = Prev::NodeStart,
                _ => prev = Prev::Other,
            }
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
}
