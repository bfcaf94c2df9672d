// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { extractMath, renderStatement } from "./markdown";

describe("statements", () => {
  it("renders Markdown with inline and display math", () => {
    const html = renderStatement("# Sum\n\nGiven $a$ and $b$, print $$a + b$$ in **one** line.");
    expect(html).toContain("<h1>Sum</h1>");
    expect(html).toContain("<strong>one</strong>");
    expect(html.match(/class="katex"/g)?.length).toBe(3);
    expect(html).toContain("katex-display");
  });
  it("leaves dollars in code and escaped dollars alone", () => {
    const { text, formulas } = extractMath("Cost: \\$5, `echo $HOME`, and\n```\nx = $y$\n```\n");
    expect(formulas).toEqual([]);
    expect(text).toContain("$5");
    expect(text).toContain("`echo $HOME`");
    expect(text).toContain("x = $y$");
  });
  it("points the package's images at the API and leaves other images alone", () => {
    const md = "![A graph](graph.png) ![](https://example.test/x.png) ![](/abs.png)";
    const html = renderStatement(md, undefined, "/problems/g%201/statement");
    expect(html).toContain('<img src="/problems/g%201/statement/graph.png" alt="A graph">');
    expect(html).toContain('src="https://example.test/x.png"');
    expect(html).toContain('src="/abs.png"');
  });
  it("removes scripts and handlers a statement might carry", () => {
    const html = renderStatement('Hi <img src=x onerror="alert(1)"><script>alert(2)</script> [x](javascript:alert(3))');
    expect(html).not.toMatch(/onerror|<script|javascript:/);
  });
});
