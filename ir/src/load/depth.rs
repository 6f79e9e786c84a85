//! A guard against nesting so deep that the recursive loaders would overflow the stack.
//!
//! saphyr builds its tree recursively, and so do moat's node conversion and
//! serde. A few kilobytes of `- - - ...` would otherwise abort the process
//! instead of producing a diagnostic.

use saphyr_parser::{Event, Marker, Parser};

/// The deepest nesting of collections that moat loads, far above what
/// Kubernetes objects need.
pub const MAX_DEPTH: usize = 100;

/// Where `text` first nests deeper than [`MAX_DEPTH`], or `None` when it does not.
///
/// A cheap scan of the text rules out nearly every file; only a text whose
/// bound exceeds the limit is walked through the event parser, which does
/// not recurse. A syntax error ends the walk early: the loader stops at the
/// same event, so it never gets deeper than the walk did.
pub fn too_deep(text: &str) -> Option<Marker> {
    if depth_bound(text) <= MAX_DEPTH {
        return None;
    }
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(span.start);
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// An upper bound on the nesting depth of `text`.
///
/// A block collection's descendants on later lines are indented at least as
/// far as the collection, and only a sequence under a mapping key shares its
/// parent's column. So a node on a line nests at most two levels per column
/// of indentation, plus one level per `-`, `?` or `:` on its own line, plus
/// the depth of enclosing flow collections (`[` and `{`).
fn depth_bound(text: &str) -> usize {
    let mut block = 0;
    let mut flow: usize = 0;
    let mut max_flow = 0;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let mut indicators = 0;
        for byte in line.bytes() {
            match byte {
                b'-' | b'?' | b':' => indicators += 1,
                b'[' | b'{' => {
                    flow += 1;
                    max_flow = max_flow.max(flow);
                }
                b']' | b'}' => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
        block = block.max(2 * indent + indicators);
    }
    block + 3 + max_flow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_manifest_skips_walk() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: {app: web}\n";
        assert!(depth_bound(text) <= MAX_DEPTH);
        assert!(too_deep(text).is_none());
    }

    #[test]
    fn bound_is_above_real_depth() {
        let text = "- - - a:\n      - - b\n";
        assert!(depth_bound(text) >= 6);
    }

    #[test]
    fn deep_sequences_are_found() {
        let text = format!("{}x\n", "- ".repeat(MAX_DEPTH + 1));
        let mark = too_deep(&text).unwrap();
        assert_eq!(mark.line(), 1);
        assert_eq!(mark.col(), 2 * MAX_DEPTH);
    }

    #[test]
    fn limit_itself_is_allowed() {
        let text = format!("{}x\n", "- ".repeat(MAX_DEPTH));
        assert!(too_deep(&text).is_none());
    }

    #[test]
    fn long_dashed_line_is_not_deep() {
        let text = format!("note: \"{}\"\n", "-".repeat(500));
        assert!(depth_bound(&text) > MAX_DEPTH);
        assert!(too_deep(&text).is_none());
    }
}
