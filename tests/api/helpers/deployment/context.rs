//! The image's build context as Docker sees it: the sources of the Dockerfile's `COPY`
//! instructions, and whether `.dockerignore` leaves a path out (its rules: the last
//! pattern that matches decides, `!` takes a path back in, a pattern that matches a
//! directory takes all under it, `*` and `?` stay within a path segment, `**` spans
//! any number of them).

/// The sources of every `COPY` that reads the build context (not `--from=` a stage),
/// in order; continued lines are joined first.
pub fn copied_sources(dockerfile: &str) -> Vec<String> {
    let joined = dockerfile.replace("\\\n", " ");
    let mut sources = Vec::new();
    for line in joined.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("COPY")) {
            continue;
        }
        let words: Vec<&str> = words.collect();
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let args: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
        // The last argument is the destination.
        if let Some((_, from)) = args.split_last() {
            sources.extend(from.iter().map(|s| s.trim_end_matches('/').to_owned()));
        }
    }
    sources
}

/// The patterns of a `.dockerignore` file: comments and blank lines dropped, leading
/// `/` and `./` and trailing `/` taken off.
pub fn ignore_patterns(dockerignore: &str) -> Vec<String> {
    dockerignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (bang, rest) = l.strip_prefix('!').map_or(("", l), |r| ("!", r));
            let rest = rest.trim_start_matches("./").trim_start_matches('/');
            format!("{bang}{}", rest.trim_end_matches('/'))
        })
        .collect()
}

/// Whether `patterns` leave the context path `path` (`/`-separated, relative) out.
pub fn excluded(patterns: &[String], path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = false;
    for pattern in patterns {
        let (include, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern.as_str()),
        };
        let parts: Vec<&str> = pattern.split('/').collect();
        // The path itself, or a directory above it.
        let matches = (1..=segments.len()).any(|n| glob(&parts, &segments[..n]));
        if matches {
            out = !include;
        }
    }
    out
}

fn glob(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            glob(rest, path)
                || path
                    .split_first()
                    .is_some_and(|(_, tail)| glob(pattern, tail))
        }
        (Some((p, rest)), Some((s, tail))) => {
            segment(p.as_bytes(), s.as_bytes()) && glob(rest, tail)
        }
        _ => false,
    }
}

fn segment(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            segment(rest, name)
                || name
                    .split_first()
                    .is_some_and(|(_, tail)| segment(pattern, tail))
        }
        (Some((b'?', rest)), Some((_, tail))) => segment(rest, tail),
        (Some((p, rest)), Some((c, tail))) => p == c && segment(rest, tail),
        _ => false,
    }
}

#[test]
fn the_dockerignore_rules_are_docker_s() {
    let patterns = ignore_patterns("# c\ntarget/\n**/*.log\nbenches/results\n!keep.log\n/data\n");
    assert_eq!(
        patterns,
        ["target", "**/*.log", "benches/results", "!keep.log", "data"]
    );
    for path in [
        "target",
        "target/release/depot",
        "a/b/x.log",
        "x.log",
        "benches/results/r1/a",
        "data/x",
    ] {
        assert!(excluded(&patterns, path), "{path} is left out");
    }
    for path in [
        "src/main.rs",
        "benches/tsa_sign.rs",
        "keep.log",
        "datadir",
        "targets",
    ] {
        assert!(!excluded(&patterns, path), "{path} is kept");
    }
    let dockerfile = "FROM x AS b\nCOPY a.toml \\\n  b.lock ./\nCOPY --from=b /x /y\nCOPY --chmod=0755 s.sh /bin/s\nRUN cp a b\n";
    assert_eq!(copied_sources(dockerfile), ["a.toml", "b.lock", "s.sh"]);
}
