// Problem statements: Markdown with TeX math ($…$ inline, $$…$$ display),
// rendered by marked and KaTeX, then sanitised (setters write them, users
// read them).
import "katex/dist/katex.min.css";
import DOMPurify from "dompurify";
import katex from "katex";
import { Marked } from "marked";

const marked = new Marked({ gfm: true, breaks: false });

/// Replaces math with placeholders Markdown leaves alone, returning the
/// text and the rendered formulas.
export function extractMath(src: string): { text: string; formulas: string[] } {
  const formulas: string[] = [];
  const render = (tex: string, display: boolean) => {
    formulas.push(katex.renderToString(tex, { displayMode: display, throwOnError: false, output: "html" }));
    return `@@MATH${formulas.length - 1}@@`;
  };
  // Code spans and blocks keep their dollars.
  const code: string[] = [];
  let text = src.replace(/```[\s\S]*?```|`[^`\n]*`/g, (m) => {
    code.push(m);
    return `@@CODE${code.length - 1}@@`;
  });
  text = text
    .replace(/\$\$([\s\S]+?)\$\$/g, (_, tex) => render(tex.trim(), true))
    .replace(/(^|[^\\$])\$([^$\n]+?)\$/g, (_, pre, tex) => pre + render(tex, false))
    .replace(/\\\$/g, "$");
  text = text.replace(/@@CODE(\d+)@@/g, (_, i) => code[Number(i)]);
  return { text, formulas };
}

/// Points a statement's images named as files of its package
/// (`![graph](graph.png)`) at the URL they are served from.
export function resolveImages(src: string, imageBase: string): string {
  return src.replace(/(!\[[^\]]*\]\()([^)\s]+)/g, (m, head: string, target: string) =>
    /^([a-z][a-z0-9+.-]*:|\/|#)/i.test(target) ? m : `${head}${imageBase}/${encodeURIComponent(target)}`,
  );
}

/// `imageBase`: where the statement's images are served
/// (`…/problems/{id}/statement`).
export function renderStatement(src: string, purify: typeof DOMPurify = DOMPurify, imageBase?: string): string {
  const { text, formulas } = extractMath(imageBase === undefined ? src : resolveImages(src, imageBase));
  const html = (marked.parse(text, { async: false }) as string).replace(/@@MATH(\d+)@@/g, (_, i) => formulas[Number(i)]);
  return purify.sanitize(html, { USE_PROFILES: { html: true, mathMl: true, svg: true } });
}
