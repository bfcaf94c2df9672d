// The `piston-client` npm package, unchanged, against coderun's Piston
// API: a run, a program of two files, a compile error, a runtime error.
// The token rides as the password of the server URL (Basic authorization,
// as the client sends no header of its own).
//
// Usage: node piston_client.mjs BASE_URL TOKEN
import assert from "node:assert/strict";
import piston from "piston-client";

const [url, token] = process.argv.slice(2);
const server = new URL(`${url}/piston`);
server.username = "token";
server.password = token;
const client = piston({ server: server.toString() });

const runtimes = await client.runtimes();
assert.ok(Array.isArray(runtimes), JSON.stringify(runtimes));
assert.ok(runtimes.some((r) => r.language === "python" && r.aliases.includes("py")));

const hello = await client.execute("python", "print('Hello, ' + input())", { stdin: "ann", args: [] });
assert.equal(hello.run.stdout, "Hello, ann\n", JSON.stringify(hello));
assert.equal(hello.run.code, 0);
assert.equal(hello.language, "python");

const twoFiles = await client.execute({
  language: "python",
  files: [
    { name: "main.py", content: "import util, sys\nprint(util.twice(sys.argv[1]))" },
    { name: "util.py", content: "def twice(s):\n    return s * 2" },
  ],
  args: ["ab"],
});
assert.equal(twoFiles.run.output, "abab\n", JSON.stringify(twoFiles));

const broken = await client.execute("c++", "int main( {");
assert.equal(broken.compile.code, 1, JSON.stringify(broken));
assert.match(broken.compile.output, /error/);

const crash = await client.execute("python", "raise SystemExit(3)", { args: [] });
assert.equal(crash.run.code, 3, JSON.stringify(crash));

const slow = await client.execute("python", "while True: pass", { args: [], runTimeout: 500 });
assert.equal(slow.run.signal, "SIGKILL", JSON.stringify(slow));

// Without the token: refused, nothing run.
const anonymous = await piston({ server: `${url}/piston` }).execute("python", "print(1)", { args: [] });
assert.equal(anonymous.error?.code, "unauthorized", JSON.stringify(anonymous));

console.log("piston-client: runtimes, a run, two files, a compile error, a runtime error, a time-out");
