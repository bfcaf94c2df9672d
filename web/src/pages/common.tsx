import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api";
import { useApp } from "../context";
import { tone, verdictName } from "../format";

/// An API error as the user sees it: the server's own message.
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof ApiError || error instanceof Error ? error.message : String(error);
  return (
    <p className="error" role="alert" data-testid="error">
      {text}
    </p>
  );
}

export function Badge({ value, testid }: { value?: string | null; testid?: string }) {
  return (
    <span className={`badge ${tone(value)}`} data-testid={testid} title={verdictName(value)}>
      {value ?? "—"}
    </span>
  );
}

export function LanguageSelect({ value, onChange, id = "language" }: { value: string; onChange: (v: string) => void; id?: string }) {
  const { languages } = useApp();
  return (
    <label htmlFor={id} className="inline">
      Language
      <select id={id} data-testid="language-select" value={value} onChange={(e) => onChange(e.target.value)}>
        {languages.map((l) => (
          <option key={l.id} value={l.id}>
            {l.name}
          </option>
        ))}
      </select>
    </label>
  );
}

/// Calls `tick` every `ms` while `active`; stops on unmount.
export function useInterval(tick: () => void, ms: number, active: boolean) {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms, active]);
}

/// The code being written: a source per language (until edited, the
/// language's starter if given), and the language last used, remembered
/// across pages.
export function useCode(starter: Record<string, string> = {}) {
  const [language, setLanguage] = useState(() => localStorage.getItem("coderun.language") ?? "python3");
  const [sources, setSources] = useState<Record<string, string>>({});
  return {
    language,
    setLanguage: (id: string) => {
      setLanguage(id);
      localStorage.setItem("coderun.language", id);
    },
    source: sources[language] ?? starter[language] ?? "",
    setSource: (text: string) => setSources((s) => ({ ...s, [language]: text })),
  };
}
