//! LaTeX problem statements (`problem.en.tex`, the most common in contest
//! archives) as Markdown with math, which the web renders with KaTeX: the
//! subset the Problem Package Format asks judging systems to render — the
//! `Input`, `Output` and `Interaction` sections, lists, verbatim blocks,
//! tables, figures and illustrations, font commands, quotes, dashes and
//! `\constant` — converted by a small parser of its own, so that the same
//! conversion runs wherever a package is imported (an AWS Lambda has no
//! TeX). Math (`$…$`, `$$…$$`, `\[…\]`, `\(…\)`) passes through untouched;
//! commands it does not know leave their arguments' text.

use std::collections::BTreeMap;

/// Markdown for a LaTeX statement body; `constants` fill `\constant{name}`.
pub fn to_markdown(tex: &str, constants: &BTreeMap<String, String>) -> String {
    let text = strip_comments(tex);
    let mut c = Converter {
        s: text.chars().collect(),
        i: 0,
        constants,
    };
    let out = c.run(None);
    tidy(&out)
}

struct Converter<'a> {
    s: Vec<char>,
    i: usize,
    constants: &'a BTreeMap<String, String>,
}

/// Environments whose body is kept verbatim.
const VERBATIM: &[&str] = &["verbatim", "lstlisting", "Verbatim", "minted"];
/// Math environments, passed through as display math.
const MATH_ENVS: &[&str] = &[
    "equation",
    "equation*",
    "align",
    "align*",
    "gather",
    "gather*",
    "eqnarray",
    "eqnarray*",
];

impl Converter<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn starts(&self, pat: &str) -> bool {
        pat.chars()
            .enumerate()
            .all(|(k, c)| self.s.get(self.i + k) == Some(&c))
    }

    /// Converts until the end, or until `\end{until}`.
    fn run(&mut self, until: Option<&str>) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    if self.starts("\\[") {
                        self.i += 2;
                        let body = self.math("\\]");
                        out.push_str(&format!("\n\n$$\n{}\n$$\n\n", body.trim()));
                    } else if self.starts("\\(") {
                        self.i += 2;
                        let body = self.math("\\)");
                        out.push_str(&format!("${}$", body.trim()));
                    } else if self.starts("\\\\") {
                        self.i += 2;
                        self.skip_optional();
                        out.push_str("  \n");
                    } else {
                        let name = self.command_name();
                        if name == "end" {
                            let env = self.group().unwrap_or_default();
                            if until == Some(env.as_str()) {
                                return out;
                            }
                            continue;
                        }
                        out.push_str(&self.command(&name));
                    }
                }
                '$' => {
                    let display = self.starts("$$");
                    let fence = if display { "$$" } else { "$" };
                    self.i += fence.len();
                    let body = self.math(fence);
                    if display {
                        out.push_str(&format!("\n\n$$\n{}\n$$\n\n", body.trim()));
                    } else {
                        out.push_str(&format!("${body}$"));
                    }
                }
                '{' | '}' => self.i += 1,
                '~' => {
                    out.push('\u{a0}');
                    self.i += 1;
                }
                '`' if self.starts("``") => {
                    out.push('“');
                    self.i += 2;
                }
                '\'' if self.starts("''") => {
                    out.push('”');
                    self.i += 2;
                }
                '-' if self.starts("---") => {
                    out.push('—');
                    self.i += 3;
                }
                '-' if self.starts("--") => {
                    out.push('–');
                    self.i += 2;
                }
                '*' | '_' | '#' => {
                    // Markdown would read these.
                    out.push('\\');
                    out.push(c);
                    self.i += 1;
                }
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        out
    }

    /// Text up to `end` (consumed), raw.
    fn take_until(&mut self, end: &str) -> String {
        let mut body = String::new();
        while self.i < self.s.len() && !self.starts(end) {
            if self.s[self.i] == '\\' && self.i + 1 < self.s.len() {
                body.push(self.s[self.i]);
                self.i += 1;
            }
            body.push(self.s[self.i]);
            self.i += 1;
        }
        self.i = (self.i + end.chars().count()).min(self.s.len());
        body
    }

    /// Math up to `end`, as is but for `\constant{name}`.
    fn math(&mut self, end: &str) -> String {
        let mut body = self.take_until(end);
        for (name, value) in self.constants {
            body = body.replace(&format!("\\constant{{{name}}}"), value);
        }
        body
    }

    /// After `\`: the command's name (letters, or one other character).
    fn command_name(&mut self) -> String {
        self.i += 1;
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '*')
        {
            self.i += 1;
        }
        if self.i == start {
            self.i += 1;
            return self.s.get(start).map(|c| c.to_string()).unwrap_or_default();
        }
        let name: String = self.s[start..self.i].iter().collect();
        name
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.i += 1;
        }
    }

    /// `[…]`, skipped.
    fn skip_optional(&mut self) -> Option<String> {
        self.skip_spaces();
        if self.peek() != Some('[') {
            return None;
        }
        self.i += 1;
        Some(self.take_until("]"))
    }

    /// `{…}`, raw (braces balanced).
    fn group(&mut self) -> Option<String> {
        self.skip_spaces();
        if self.peek() != Some('{') {
            return None;
        }
        self.i += 1;
        let mut depth = 1;
        let mut body = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '\\' => {
                    body.push(c);
                    if let Some(n) = self.peek() {
                        body.push(n);
                        self.i += 1;
                    }
                    continue;
                }
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            body.push(c);
        }
        Some(body)
    }

    /// `{…}` converted.
    fn arg(&mut self) -> String {
        let raw = self.group().unwrap_or_default();
        self.convert(&raw)
    }

    fn convert(&self, raw: &str) -> String {
        let mut inner = Converter {
            s: raw.chars().collect(),
            i: 0,
            constants: self.constants,
        };
        inner.run(None)
    }

    fn command(&mut self, name: &str) -> String {
        match name {
            "textbf" => format!("**{}**", self.arg()),
            "emph" | "textit" | "textsl" => format!("*{}*", self.arg()),
            "texttt" => format!("`{}`", self.group().unwrap_or_default()),
            "underline" | "textsc" | "textrm" | "textsf" | "mbox" | "text" | "sout" => self.arg(),
            "section" | "section*" | "subsection" | "subsection*" | "paragraph" => {
                let level = if name.starts_with("sub") { "###" } else { "##" };
                format!("\n\n{level} {}\n\n", self.arg())
            }
            "problemname" => {
                self.group();
                String::new()
            }
            "illustration" => {
                let _width = self.group();
                let file = self.group().unwrap_or_default();
                let caption = self.arg();
                format!("\n\n![{}]({})\n\n", caption.trim(), file.trim())
            }
            "includegraphics" => {
                self.skip_optional();
                format!("![]({})", self.group().unwrap_or_default().trim())
            }
            "url" => format!("<{}>", self.group().unwrap_or_default()),
            "href" => {
                let url = self.group().unwrap_or_default();
                format!("[{}]({url})", self.arg())
            }
            "constant" => {
                let key = self.group().unwrap_or_default();
                self.constants.get(key.trim()).cloned().unwrap_or(key)
            }
            "ldots" | "dots" | "textellipsis" => "…".into(),
            "item" => {
                self.skip_optional();
                "\n\u{1}".into()
            }
            "begin" => {
                let env = self.group().unwrap_or_default();
                self.environment(&env)
            }
            // Escaped characters: literal, but for those Markdown (or the
            // statement's math) would read.
            "%" | "&" | "{" | "}" => name.into(),
            "$" | "#" | "_" => format!("\\{name}"),
            " " => " ".into(),
            "noindent" | "bf" | "it" | "tt" | "small" | "normalsize" | "large" | "Large"
            | "tiny" | "scriptsize" | "footnotesize" | "centering" | "hline" | "nextsample"
            | "remainingsamples" | "medskip" | "bigskip" | "smallskip" | "newline" | "par"
            | "vspace" | "hspace" | "label" | "caption*" => {
                if matches!(name, "vspace" | "hspace" | "label") {
                    self.group();
                }
                if matches!(name, "newline" | "par") {
                    "\n\n".into()
                } else {
                    String::new()
                }
            }
            "caption" => format!("\n\n*{}*\n\n", self.arg()),
            "footnote" => format!(" ({})", self.arg()),
            // Anything else: its arguments' text.
            _ => {
                self.skip_optional();
                let mut out = String::new();
                while self.peek() == Some('{') {
                    out.push_str(&self.arg());
                }
                out
            }
        }
    }

    fn environment(&mut self, env: &str) -> String {
        if VERBATIM.contains(&env) {
            self.skip_optional();
            let body = self.take_until(&format!("\\end{{{env}}}"));
            return format!("\n\n```\n{}\n```\n\n", body.trim_matches('\n'));
        }
        if MATH_ENVS.contains(&env) {
            let body = self.math(&format!("\\end{{{env}}}"));
            return format!("\n\n$$\n{}\n$$\n\n", body.trim());
        }
        match env {
            "Input" | "Output" | "Interaction" | "Scoring" => {
                let body = self.run(Some(env));
                format!("\n\n## {env}\n\n{}\n\n", body.trim())
            }
            "itemize" | "enumerate" => {
                let body = self.run(Some(env));
                let marker = if env == "itemize" { "-" } else { "1." };
                let items: Vec<String> = body
                    .split('\u{1}')
                    .skip(1)
                    .map(|item| {
                        format!(
                            "{marker} {}",
                            item.split_whitespace().collect::<Vec<_>>().join(" ")
                        )
                    })
                    .collect();
                format!("\n\n{}\n\n", items.join("\n"))
            }
            "quote" | "quotation" => {
                let body = self.run(Some(env));
                let quoted: Vec<String> = body.trim().lines().map(|l| format!("> {l}")).collect();
                format!("\n\n{}\n\n", quoted.join("\n"))
            }
            "tabular" => {
                let _columns = self.group();
                let body = self.take_until("\\end{tabular}");
                format!("\n\n{}\n\n", self.table(&body))
            }
            "figure" | "wrapfigure" | "center" | "flushleft" | "flushright" | "minipage" => {
                self.skip_optional();
                if env == "wrapfigure" || env == "minipage" {
                    self.group();
                    if env == "wrapfigure" {
                        self.group();
                    }
                }
                format!("\n\n{}\n\n", self.run(Some(env)).trim())
            }
            _ => self.run(Some(env)),
        }
    }

    /// A `tabular` body as a Markdown table (its first row the header).
    fn table(&self, body: &str) -> String {
        let rows: Vec<Vec<String>> = body
            .split("\\\\")
            .map(|r| r.replace("\\hline", "").replace("\\cline", ""))
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                r.split('&')
                    .map(|cell| self.convert(cell.trim()).trim().replace('|', "\\|"))
                    .collect()
            })
            .collect();
        let Some(width) = rows.iter().map(Vec::len).max() else {
            return String::new();
        };
        let line = |cells: &[String]| {
            let mut cells = cells.to_vec();
            cells.resize(width, String::new());
            format!("| {} |", cells.join(" | "))
        };
        let mut out = vec![line(&rows[0]), format!("|{}", "---|".repeat(width))];
        out.extend(rows[1..].iter().map(|r| line(r)));
        out.join("\n")
    }
}

/// Removes `%` comments (not `\%`).
fn strip_comments(tex: &str) -> String {
    tex.lines()
        .map(|line| {
            let mut prev = '\0';
            let cut = line.char_indices().find(|&(_, c)| {
                let is = c == '%' && prev != '\\';
                prev = c;
                is
            });
            match cut {
                Some((i, _)) => &line[..i],
                None => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paragraphs separated by one blank line, lines without trailing spaces
/// (but for Markdown's line breaks).
fn tidy(md: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in md.lines() {
        let line = if line.ends_with("  ") && !line.trim().is_empty() {
            format!("{}  ", line.trim())
        } else {
            line.trim().to_string()
        };
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&line);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(tex: &str) -> String {
        let mut constants = BTreeMap::new();
        constants.insert("max_n".to_string(), "1000".to_string());
        to_markdown(tex, &constants)
    }

    #[test]
    fn a_contest_statement_becomes_markdown_with_its_math() {
        let tex = r"\problemname{Add}
% a comment
Given $n \le \constant{max_n}$ numbers, print their \textbf{sum}. It is ``easy'' --- really.
\begin{Input}
The input has $n$ and then:
\begin{itemize}
  \item the first number;
  \item the \emph{second} one.
\end{itemize}
\end{Input}
\begin{Output}
One line: $$ \sum_{i=1}^{n} a_i $$
\end{Output}
";
        let out = md(tex);
        assert!(
            out.starts_with(
                "Given $n \\le 1000$ numbers, print their **sum**. It is “easy” — really."
            ),
            "{out}"
        );
        assert!(out.contains("## Input\n\nThe input has $n$ and then:\n\n- the first number;\n- the *second* one."), "{out}");
        assert!(
            out.contains("## Output\n\nOne line:\n\n$$\n\\sum_{i=1}^{n} a_i\n$$"),
            "{out}"
        );
        assert!(
            !out.contains("comment") && !out.contains("problemname"),
            "{out}"
        );
    }

    #[test]
    fn verbatim_tables_figures_and_escapes() {
        let tex = r"\begin{verbatim}
a_b * c
\end{verbatim}
\begin{tabular}{|l|r|}
\hline
Name & Value \\ \hline
$x_1$ & 10\% \\
\end{tabular}
\illustration{0.3}{graph.png}{A graph}
Use \texttt{std::cin} and 50\% of \url{https://example.com}; a_b*c, \$5 \_x.";
        let out = md(tex);
        assert!(out.contains("```\na_b * c\n```"), "{out}");
        assert!(
            out.contains("| Name | Value |\n|---|---|\n| $x_1$ | 10% |"),
            "{out}"
        );
        assert!(out.contains("![A graph](graph.png)"), "{out}");
        assert!(
            out.contains("Use `std::cin` and 50% of <https://example.com>; a\\_b\\*c, \\$5 \\_x."),
            "{out}"
        );
    }
}
