//! C# as today's programs are written, for Mono's compiler (C# 7): the
//! front end turns what the .NET SDK's compiler accepts and mcs does not
//! into what mcs does, keeping the program's line numbers for its messages.
//!
//! - **Top-level statements** become the body of a `Program.Main`, which
//!   takes `args` and may `await` and `return` an exit code; functions
//!   declared among them become methods of `Program`; types declared after
//!   them stay where they are.
//! - **An async `Main`** (`static async Task Main`, `Task<int>`) gets the
//!   synchronous entry point mcs wants, which waits for it.
//! - **Implicit usings**: the namespaces the SDK imports for a console
//!   program (`System`, `System.IO`, `System.Linq`, …), unless the program
//!   imports them itself.
//!
//! What C# 8 and later added to the language itself (records, switch
//! expressions, local functions that capture, `global using`…) stays out of
//! reach of mcs; the README says so.

/// Namespaces a .NET console project imports implicitly.
const IMPLICIT_USINGS: &[&str] = &[
    "System",
    "System.Collections.Generic",
    "System.IO",
    "System.Linq",
    "System.Net.Http",
    "System.Threading",
    "System.Threading.Tasks",
];

/// Modifiers that may precede a type declaration.
const TYPE_MODIFIERS: &[&str] = &[
    "public",
    "private",
    "protected",
    "internal",
    "static",
    "abstract",
    "sealed",
    "partial",
    "unsafe",
    "readonly",
    "ref",
    "new",
    "file",
];

const TYPE_KEYWORDS: &[&str] = &[
    "class",
    "struct",
    "interface",
    "enum",
    "record",
    "delegate",
    "namespace",
];

/// Words that start a statement, never a local function's return type.
const STATEMENT_WORDS: &[&str] = &[
    "await",
    "return",
    "throw",
    "yield",
    "new",
    "var",
    "using",
    "if",
    "for",
    "foreach",
    "while",
    "do",
    "switch",
    "try",
    "lock",
    "goto",
    "break",
    "continue",
    "checked",
    "unchecked",
    "fixed",
    "typeof",
    "default",
    "case",
    "else",
    "const",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Word,
    Punct(u8),
    /// A string, character or number literal.
    Literal,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// The program as mcs accepts it (unchanged when nothing needs changing).
pub fn for_mcs(source: &str) -> String {
    let tokens = lex(source.as_bytes());
    let text = |t: &Token| &source[t.start..t.end];
    let word = |i: usize| tokens.get(i).filter(|t| t.kind == Kind::Word).map(&text);
    let punct = |i: usize, c: u8| tokens.get(i).is_some_and(|t| t.kind == Kind::Punct(c));

    // Using directives (and extern aliases, assembly attributes) first.
    let mut i = 0;
    let mut imported: Vec<String> = Vec::new();
    loop {
        if word(i) == Some("global") && word(i + 1) == Some("using") {
            i += 1;
        }
        if word(i) == Some("extern") && word(i + 1) == Some("alias") {
            i = skip_past(&tokens, i, b';');
        } else if word(i) == Some("using") && is_directive(&tokens, source, i) {
            let end = skip_past(&tokens, i, b';');
            let name: String = tokens[i + 1..end - 1].iter().map(&text).collect();
            imported.push(name);
            i = end;
        } else if punct(i, b'[') && word(i + 1) == Some("assembly") {
            i = skip_group(&tokens, i);
        } else {
            break;
        }
    }
    let first_token = tokens.first().map_or(source.len(), |t| t.start);
    let usings: String = IMPLICIT_USINGS
        .iter()
        .filter(|u| !imported.iter().any(|i| i == *u))
        .map(|u| format!("using {u}; "))
        .collect();
    let mut out = String::with_capacity(source.len() + 512);
    out.push_str(&source[..first_token]);
    out.push_str(&usings);

    // `global using` is C# 10: the directive is this file's anyway.
    let prefix_end = tokens.get(i).map_or(source.len(), |t| t.start);
    let mut prefix = source[first_token..prefix_end].to_string();
    for t in tokens[..i].iter().rev() {
        if text(t) == "global" {
            prefix.replace_range(t.start - first_token..t.end - first_token, "      ");
        }
    }
    if i >= tokens.len() || is_declaration(&tokens, source, i) || word(i) == Some("namespace") {
        out.push_str(&prefix);
        out.push_str(&async_main(source, &tokens, prefix_end));
        return out;
    }
    out.push_str(&prefix);

    // Top-level statements, up to the first type declared after one.
    let mut end = i;
    let mut functions: Vec<(usize, usize)> = Vec::new();
    let mut at_statement = true;
    while end < tokens.len() {
        if at_statement && is_declaration(&tokens, source, end) {
            break;
        }
        if at_statement {
            if let Some(f) = local_function(&tokens, source, end) {
                functions.push((end, f));
                end = f;
                continue;
            }
        }
        let t = tokens[end];
        match t.kind {
            Kind::Punct(b'{' | b'(' | b'[') => {
                end = skip_group(&tokens, end);
                at_statement = t.kind == Kind::Punct(b'{');
            }
            Kind::Punct(b';') => {
                end += 1;
                at_statement = true;
            }
            _ => {
                end += 1;
                at_statement = false;
            }
        }
    }
    let body_start = tokens[i].start;
    let body_end = tokens[end - 1].end;
    let returns_value = tokens[i..end]
        .windows(2)
        .any(|w| text(&w[0]) == "return" && w[1].kind != Kind::Punct(b';'));
    let task = if returns_value {
        "System.Threading.Tasks.Task<int>"
    } else {
        "System.Threading.Tasks.Task"
    };
    let entry = entry_point("__CoderunMain(args)", returns_value);
    out.push_str(&format!(
        "static partial class Program {{ static async {task} __CoderunMain(string[] args) {{ "
    ));
    // The statements, with the functions among them blanked out (their
    // lines kept) and moved into the class.
    let mut at = body_start;
    for &(from, to) in &functions {
        let (fs, fe) = (tokens[from].start, tokens[to - 1].end);
        out.push_str(&source[at..fs]);
        out.extend(source[fs..fe].chars().filter(|c| *c == '\n'));
        at = fe;
    }
    out.push_str(&source[at..body_end]);
    if returns_value {
        out.push_str(" return 0;");
    }
    out.push_str(" }\n");
    out.push_str(&entry);
    for &(from, to) in &functions {
        let (fs, fe) = (tokens[from].start, tokens[to - 1].end);
        let is_static = tokens[from..to].iter().any(|t| text(t) == "static");
        out.push_str(&format!("\n#line {}\n", line_of(source, fs)));
        if !is_static {
            out.push_str("static ");
        }
        out.push_str(&source[fs..fe]);
    }
    out.push_str("\n}\n");
    out.push_str(&format!("#line {}\n", line_of(source, body_end)));
    // What followed the last statement on its line, then the types.
    let rest = &source[body_end..];
    out.push_str(&" ".repeat(column_of(source, body_end)));
    out.push_str(&async_main(rest, &lex(rest.as_bytes()), 0));
    out
}

/// The synchronous entry point mcs needs for an async main, `call`: it
/// waits for it, then ends the process with its exit code. Mono's own end
/// after `Main` returns waits for every foreground thread, and a thread-pool
/// worker started while the last continuation ran counts as one until it
/// has marked itself background: that end hung until the run was killed in
/// about one run in 25 under load (measured bare, outside the sandbox: 2 of
/// 45 runs of the seeds' example, none of 135 with this entry point).
/// `Environment.Exit` does not wait for the threads; a program whose
/// foreground threads outlive an async main sees them end with it.
fn entry_point(call: &str, returns_int: bool) -> String {
    if returns_int {
        format!(
            "static int Main(string[] args) {{ int code = {call}.GetAwaiter().GetResult(); \
             System.Environment.Exit(code); return code; }}"
        )
    } else {
        format!(
            "static void Main(string[] args) {{ {call}.GetAwaiter().GetResult(); \
             System.Environment.Exit(System.Environment.ExitCode); }}"
        )
    }
}

/// `source[from..]` with every `static async Task[<int>] Main(...)` given
/// the synchronous entry point that mcs needs.
fn async_main(source: &str, tokens: &[Token], from: usize) -> String {
    let text = |t: &Token| &source[t.start..t.end];
    let mut out = String::new();
    let mut at = from;
    for (n, t) in tokens.iter().enumerate() {
        if t.start < from
            || text(t) != "Main"
            || !tokens
                .get(n + 1)
                .is_some_and(|t| t.kind == Kind::Punct(b'('))
        {
            continue;
        }
        // Back over the return type and modifiers to the member's start.
        let mut s = n;
        let mut is_async = false;
        let mut returns_int = false;
        while s > 0 {
            let p = &tokens[s - 1];
            match p.kind {
                Kind::Word => {
                    is_async |= text(p) == "async";
                    returns_int |= text(p) == "int" && s < n;
                }
                Kind::Punct(b'<' | b'>' | b'.') => {}
                _ => break,
            }
            s -= 1;
        }
        if !is_async || tokens[s..n].iter().all(|t| text(t) != "static") {
            continue;
        }
        let close = skip_group(tokens, n + 1);
        let takes_args = close > n + 3;
        let call = if takes_args {
            "__CoderunMain(args)"
        } else {
            "__CoderunMain()"
        };
        let entry = entry_point(call, returns_int);
        out.push_str(&source[at..tokens[s].start]);
        out.push_str(&entry);
        out.push(' ');
        out.push_str(&source[tokens[s].start..t.start]);
        out.push_str("__CoderunMain");
        at = t.end;
    }
    out.push_str(&source[at..]);
    out
}

/// Whether `using` at `i` is a directive (`using A.B;`, `using static
/// A.B;`, `using X = A.B;`), not a statement (`using (…)`, `using var …`).
fn is_directive(tokens: &[Token], source: &str, i: usize) -> bool {
    let mut j = i + 1;
    if tokens
        .get(j)
        .is_some_and(|t| &source[t.start..t.end] == "static")
    {
        j += 1;
    }
    let mut last_word = false;
    while let Some(t) = tokens.get(j) {
        match t.kind {
            Kind::Word if !last_word && &source[t.start..t.end] != "var" => last_word = true,
            Kind::Punct(b'.' | b':' | b'<' | b'>' | b',') => last_word = false,
            Kind::Punct(b'=') => return last_word,
            Kind::Punct(b';') => return last_word,
            _ => return false,
        }
        j += 1;
    }
    false
}

/// Whether a type (or namespace) declaration starts at `i`.
fn is_declaration(tokens: &[Token], source: &str, mut i: usize) -> bool {
    loop {
        let Some(t) = tokens.get(i) else {
            return false;
        };
        let w = &source[t.start..t.end];
        match t.kind {
            Kind::Punct(b'[') => i = skip_group(tokens, i),
            Kind::Word if TYPE_MODIFIERS.contains(&w) => i += 1,
            Kind::Word => return TYPE_KEYWORDS.contains(&w),
            _ => return false,
        }
    }
}

/// A local function declared at `i` (`int Sq(int x) => x * x;`, `static
/// async Task<int> F() { … }`): the token index just past it.
fn local_function(tokens: &[Token], source: &str, i: usize) -> Option<usize> {
    let word = |j: usize| {
        tokens
            .get(j)
            .filter(|t| t.kind == Kind::Word)
            .map(|t| &source[t.start..t.end])
    };
    let mut j = i;
    while matches!(word(j), Some("static" | "async" | "unsafe" | "extern")) {
        j += 1;
    }
    // The return type: a name with generic arguments, arrays, `?`.
    let ty = word(j)?;
    if STATEMENT_WORDS.contains(&ty) {
        return None;
    }
    j += 1;
    loop {
        match tokens.get(j)?.kind {
            Kind::Punct(b'.') if word(j + 1).is_some() => j += 2,
            Kind::Punct(b'<') => j = skip_angles(tokens, j)?,
            Kind::Punct(b'?') => j += 1,
            Kind::Punct(b'[') if tokens.get(j + 1)?.kind == Kind::Punct(b']') => j += 2,
            _ => break,
        }
    }
    word(j)?;
    j += 1;
    if tokens.get(j)?.kind == Kind::Punct(b'<') {
        j = skip_angles(tokens, j)?;
    }
    if tokens.get(j)?.kind != Kind::Punct(b'(') {
        return None;
    }
    j = skip_group(tokens, j);
    // Constraints, then a body or an expression.
    while let Some(t) = tokens.get(j) {
        match t.kind {
            Kind::Punct(b'{') => return Some(skip_group(tokens, j)),
            Kind::Punct(b'=') if tokens.get(j + 1)?.kind == Kind::Punct(b'>') => {
                return Some(skip_past(tokens, j, b';'));
            }
            Kind::Word if &source[t.start..t.end] == "where" => {
                j = (j..tokens.len()).find(|&k| {
                    matches!(tokens[k].kind, Kind::Punct(b'{'))
                        || (tokens[k].kind == Kind::Punct(b'=')
                            && tokens
                                .get(k + 1)
                                .is_some_and(|t| t.kind == Kind::Punct(b'>')))
                })?;
            }
            _ => return None,
        }
    }
    None
}

/// Past the matching `>` of the `<` at `i`, if the tokens between could be
/// type arguments.
fn skip_angles(tokens: &[Token], i: usize) -> Option<usize> {
    let mut depth = 0;
    for (j, t) in tokens.iter().enumerate().skip(i) {
        match t.kind {
            Kind::Punct(b'<') => depth += 1,
            Kind::Punct(b'>') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            Kind::Word | Kind::Punct(b',' | b'.' | b'?' | b'[' | b']' | b'(' | b')') => {}
            _ => return None,
        }
    }
    None
}

/// Past the token that closes the bracket at `i` (or past `i` if it opens
/// none).
fn skip_group(tokens: &[Token], i: usize) -> usize {
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().skip(i) {
        match t.kind {
            Kind::Punct(b'{' | b'(' | b'[') => depth += 1,
            Kind::Punct(b'}' | b')' | b']') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return j + 1;
                }
            }
            _ if depth == 0 => return j + 1,
            _ => {}
        }
    }
    tokens.len()
}

/// Past the first `c` at bracket depth 0 from `i`.
fn skip_past(tokens: &[Token], mut i: usize, c: u8) -> usize {
    while i < tokens.len() {
        match tokens[i].kind {
            Kind::Punct(p) if p == c => return i + 1,
            Kind::Punct(b'{' | b'(' | b'[') => i = skip_group(tokens, i),
            _ => i += 1,
        }
    }
    tokens.len()
}

fn line_of(source: &str, at: usize) -> usize {
    source[..at].bytes().filter(|b| *b == b'\n').count() + 1
}

fn column_of(source: &str, at: usize) -> usize {
    at - source[..at].rfind('\n').map_or(0, |n| n + 1)
}

/// C#'s tokens, enough to tell statements from declarations: words,
/// punctuation and literals, with comments, preprocessor lines and the
/// insides of strings (verbatim, interpolated, raw) skipped.
fn lex(s: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < s.len() {
        let c = s[i];
        let start = i;
        match c {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'#' if line_start => {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if s.get(i + 1) == Some(&b'/') => {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < s.len() && !(s[i] == b'*' && s.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(s.len());
                continue;
            }
            _ => {}
        }
        line_start = false;
        let kind = if c == b'"'
            || c == b'\''
            || ((c == b'@' || c == b'$') && starts_string(&s[i..]))
        {
            i = skip_literal(s, i);
            Kind::Literal
        } else if c.is_ascii_digit() {
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.' || s[i] == b'_') {
                i += 1;
            }
            Kind::Literal
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'@' || c >= 0x80 {
            i += 1;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_' || s[i] >= 0x80) {
                i += 1;
            }
            Kind::Word
        } else {
            i += 1;
            Kind::Punct(c)
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    tokens
}

/// `@"`, `$"`, `$@"`, `@$"`, `$$"""`…
fn starts_string(s: &[u8]) -> bool {
    let prefix = s.iter().take_while(|c| matches!(c, b'@' | b'$')).count();
    s.get(prefix) == Some(&b'"')
}

/// Past the string or character literal at `i`.
fn skip_literal(s: &[u8], mut i: usize) -> usize {
    let mut verbatim = false;
    let mut dollars = 0;
    while matches!(s.get(i), Some(b'@' | b'$')) {
        verbatim |= s[i] == b'@';
        dollars += usize::from(s[i] == b'$');
        i += 1;
    }
    let quote = s[i];
    // A raw string: three or more quotes, closed by as many.
    let quotes = s[i..].iter().take_while(|c| **c == b'"').count();
    if quote == b'"' && quotes >= 3 {
        i += quotes;
        while i < s.len() {
            if s[i..].iter().take_while(|c| **c == b'"').count() >= quotes {
                return i + quotes;
            }
            i += 1;
        }
        return s.len();
    }
    i += 1;
    while i < s.len() {
        match s[i] {
            b'\\' if !verbatim => i += 2,
            b'"' if verbatim && quote == b'"' && s.get(i + 1) == Some(&b'"') => i += 2,
            c if c == quote => return i + 1,
            b'{' if dollars > 0 && s.get(i + 1) == Some(&b'{') => i += 2,
            b'{' if dollars > 0 => i = skip_hole(s, i),
            b'\n' if !verbatim => return i,
            _ => i += 1,
        }
    }
    s.len()
}

/// Past an interpolation hole `{…}`, strings inside it included.
fn skip_hole(s: &[u8], mut i: usize) -> usize {
    let mut depth = 0;
    while i < s.len() {
        match s[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b'"' | b'\'' => {
                i = skip_literal(s, i);
                continue;
            }
            b'@' | b'$' if starts_string(&s[i..]) => {
                i = skip_literal(s, i);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_statements_become_an_async_main_with_args() {
        let src = "Console.WriteLine(\"passed arguments:\");\nforeach (var arg in args) {\n    Console.WriteLine(arg);\n}\nawait Task.Delay(1000);\n";
        let out = for_mcs(src);
        assert!(
            out.starts_with("using System; using System.Collections.Generic;"),
            "{out}"
        );
        assert!(out.contains("static async System.Threading.Tasks.Task __CoderunMain(string[] args) { Console.WriteLine"), "{out}");
        assert!(out.contains("static void Main(string[] args)"), "{out}");
        // The statements keep their lines.
        let line =
            |text: &str, needle: &str| text[..text.find(needle).unwrap()].matches('\n').count();
        assert_eq!(
            line(&out, "await Task.Delay"),
            line(src, "await Task.Delay")
        );
    }

    #[test]
    fn a_returned_exit_code_functions_and_types_after_the_statements() {
        let src = "using System;\n\nint Square(int x) => x * x;\nvar p = new Point { X = 3 };\nConsole.WriteLine(Square(p.X));\nreturn 2;\n\nclass Point { public int X; }\n";
        let out = for_mcs(src);
        assert!(!out.contains("using System; using System;"), "{out}");
        assert!(out.contains("Task<int> __CoderunMain"), "{out}");
        assert!(
            out.contains("static int Main(string[] args) { int code = __CoderunMain(args)"),
            "{out}"
        );
        assert!(
            out.contains("#line 3\nstatic int Square(int x) => x * x;"),
            "{out}"
        );
        assert!(out.contains("#line 6\n"), "{out}");
        assert!(
            out.trim_end().ends_with("class Point { public int X; }"),
            "{out}"
        );
    }

    #[test]
    fn classic_programs_keep_their_text_and_get_an_entry_for_an_async_main() {
        let classic =
            "using System;\nclass P { static void Main() { Console.WriteLine(\"{\"); } }\n";
        assert!(for_mcs(classic).ends_with(classic));
        let asynchronous = "using System.Threading.Tasks;\nclass P {\n    public static async Task<int> Main(string[] args) { await Task.Yield(); return 1; }\n}\n";
        let out = for_mcs(asynchronous);
        assert!(out.contains("static int Main(string[] args) { int code = __CoderunMain(args).GetAwaiter().GetResult(); System.Environment.Exit(code); return code; } public static async Task<int> __CoderunMain(string[] args)"), "{out}");
    }

    #[test]
    fn strings_comments_and_using_statements_are_not_mistaken_for_structure() {
        let src = "// class X {\nusing var r = new System.IO.StringReader(@\"a \"\" }\");\nvar s = $\"{(r.ReadLine() is string l ? \"{\" + l : \"\")} }}\";\n/* } */ Console.WriteLine(s);\n";
        let out = for_mcs(src);
        assert!(
            out.contains("__CoderunMain(string[] args) { using var r"),
            "{out}"
        );
        assert!(out.contains("Console.WriteLine(s); }"), "{out}");
    }
}
