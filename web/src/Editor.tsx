// A CodeMirror 6 editor with the language's highlighting; Ctrl/Cmd+Enter
// runs the page's action.
import { useContext, useEffect, useRef } from "react";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { php } from "@codemirror/lang-php";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";
import { StreamLanguage, type StreamParser } from "@codemirror/language";
import { csharp, kotlin, scala } from "@codemirror/legacy-modes/mode/clike";
import { commonLisp } from "@codemirror/legacy-modes/mode/commonlisp";
import { d } from "@codemirror/legacy-modes/mode/d";
import { erlang } from "@codemirror/legacy-modes/mode/erlang";
import { fortran } from "@codemirror/legacy-modes/mode/fortran";
import { haskell } from "@codemirror/legacy-modes/mode/haskell";
import { lua } from "@codemirror/legacy-modes/mode/lua";
import { oCaml } from "@codemirror/legacy-modes/mode/mllike";
import { pascal } from "@codemirror/legacy-modes/mode/pascal";
import { perl } from "@codemirror/legacy-modes/mode/perl";
import { ruby } from "@codemirror/legacy-modes/mode/ruby";
import { scheme } from "@codemirror/legacy-modes/mode/scheme";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { Ctx } from "./context";

/// Syntaxes without a mode of their own, highlighted as their nearest kin.
const LEGACY: Record<string, StreamParser<unknown>> = {
  csharp,
  kotlin,
  scala,
  commonlisp: commonLisp,
  d,
  erlang,
  fortran,
  haskell,
  lua,
  ocaml: oCaml,
  pascal,
  perl,
  ruby,
  elixir: ruby,
  scheme,
  shell,
};

/// The editor's support for a syntax the language table names
/// (`highlight` of `GET /languages`); plain text for one it lacks.
export function languageExtension(highlight: string): Extension {
  switch (highlight) {
    case "python":
    case "nim":
      return python();
    case "cpp":
      return cpp();
    case "java":
      return java();
    case "go":
      return go();
    case "rust":
      return rust();
    case "javascript":
      return javascript();
    case "typescript":
      return javascript({ typescript: true });
    case "php":
      return php();
    default:
      return LEGACY[highlight] ? StreamLanguage.define(LEGACY[highlight]) : [];
  }
}

interface Props {
  value: string;
  language: string;
  onChange: (v: string) => void;
  onRun?: () => void;
  label: string;
}

export function Editor({ value, language, onChange, onRun, label }: Props) {
  const languages = useContext(Ctx)?.languages ?? [];
  const highlight = languages.find((l) => l.id === language)?.highlight ?? language;
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const lang = useRef(new Compartment());
  const callbacks = useRef({ onChange, onRun });
  callbacks.current = { onChange, onRun };

  useEffect(() => {
    const run = () => {
      callbacks.current.onRun?.();
      return true;
    };
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          keymap.of([{ key: "Mod-Enter", run, preventDefault: true }]),
          basicSetup,
          lang.current.of(languageExtension(highlight)),
          EditorView.contentAttributes.of({ "aria-label": label }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) callbacks.current.onChange(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
    // The editor is made once; value and language follow below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    view.current?.dispatch({ effects: lang.current.reconfigure(languageExtension(highlight)) });
  }, [highlight]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  return <div className="editor" data-testid="editor" ref={host} />;
}
