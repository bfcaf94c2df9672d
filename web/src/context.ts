import { createContext, useContext } from "react";
import type { Api, ClientConfig, Language } from "./api";
import type { Session } from "./auth";

export interface AppContext {
  api: Api;
  session: Session | null;
  config: ClientConfig | null;
  languages: Language[];
  setSession: (s: Session | null) => void;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const c = useContext(Ctx);
  if (!c) throw new Error("useApp outside <App>");
  return c;
}

/// Each language's starter program (the table's, from `GET /languages`).
export function starters(languages: Language[]): Record<string, string> {
  return Object.fromEntries(languages.map((l) => [l.id, l.hello]));
}
