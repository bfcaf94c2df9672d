// A CodeMirror 6 editor with the language's highlighting; Ctrl/Cmd+Enter
// runs the page's action.
import { useEffect, useRef } from "react";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";
import { StreamLanguage } from "@codemirror/language";
import { csharp } from "@codemirror/legacy-modes/mode/clike";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { basicSetup } from "codemirror";

export function languageExtension(id: string): Extension {
  switch (id) {
    case "python3":
      return python();
    case "c":
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
    case "csharp":
      return StreamLanguage.define(csharp);
    default:
      return [];
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
          lang.current.of(languageExtension(language)),
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
    view.current?.dispatch({ effects: lang.current.reconfigure(languageExtension(language)) });
  }, [language]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  return <div className="editor" data-testid="editor" ref={host} />;
}
