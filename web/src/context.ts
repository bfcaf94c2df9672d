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

/// Example programs the playground starts with.
export const HELLO: Record<string, string> = {
  python3: 'name = input()\nprint(f"Hello, {name}!")\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    char name[100];\n    if (scanf("%99s", name) == 1) printf("Hello, %s!\\n", name);\n    return 0;\n}\n',
  cpp: '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    std::cin >> name;\n    std::cout << "Hello, " << name << "!\\n";\n}\n',
  java: 'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        String name = new Scanner(System.in).next();\n        System.out.println("Hello, " + name + "!");\n    }\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar name string\n\tfmt.Scan(&name)\n\tfmt.Printf("Hello, %s!\\n", name)\n}\n',
  rust: 'use std::io::stdin;\n\nfn main() {\n    let mut name = String::new();\n    stdin().read_line(&mut name).unwrap();\n    println!("Hello, {}!", name.trim());\n}\n',
  javascript: 'const name = require("fs").readFileSync(0, "utf8").trim();\nconsole.log(`Hello, ${name}!`);\n',
  csharp: 'using System;\n\nclass Program {\n    static void Main() {\n        var name = Console.ReadLine();\n        Console.WriteLine($"Hello, {name}!");\n    }\n}\n',
};
