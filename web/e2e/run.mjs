// The browser test: a real `coderun serve` on a free port with the built
// front end, driven in headless Chromium (Debian's) by playwright-core.
// A setter imports a problem on the Admin page; a user signs in with the
// dev login, runs Python in the playground, solves the problem (AC) and
// fails it (WA), finds both in the history and the solve on the profile.
// Screenshots of each page go to e2e/artifacts/.
//
//   node e2e/run.mjs        (CODERUN_BIN, CHROMIUM override the defaults)

import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, "..");
const root = resolve(web, "..");
const bin = process.env.CODERUN_BIN ?? join(root, "target", "debug", "coderun");
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifacts = join(here, "artifacts");
mkdirSync(artifacts, { recursive: true });

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`  ok  ${what}`);
}

/// A small problem package: Python references, two tests.
function echoPackage(dir) {
  const files = {
    // The line back unchanged: letters' case matters.
    "problem.yaml": "name: Echo a line\nvalidator_flags: case_sensitive\nlimits:\n  memory: 256\n",
    "problem_statement/problem.en.md": "Read one line of at most $10^5$ characters and print it back, unchanged.\n\n$$|s| \\le 10^5$$\n",
    "data/sample/1.in": "hello\n",
    "data/sample/1.ans": "hello\n",
    "data/secret/2.in": "coderun judges\n",
    "data/secret/2.ans": "coderun judges\n",
    "submissions/accepted/echo.py": "print(input())\n",
    "submissions/wrong_answer/upper.py": "print(input().upper())\n",
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, "echo", name)), { recursive: true });
    writeFileSync(join(dir, "echo", name), text);
  }
  const archive = join(dir, "echo.tar.gz");
  execFileSync("tar", ["-czf", archive, "-C", dir, "echo"]);
  return archive;
}

const data = mkdtempSync(join(tmpdir(), "coderun-e2e-"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data", join(data, "data"), "--web", join(web, "dist"), "--workers", "2", "--dev-login", "true"], {
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, RUST_LOG: "warn" },
});
let browser;
let failed = false;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {}
    if (i > 300 || server.exitCode !== null) throw new Error("coderun serve did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const config = await (await fetch(`${base}/config.json`)).json();
  check(config.mode === "local" && config.dev_login === true, "the server offers the dev login (local mode, loopback)");

  browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  const signIn = async (user, roles = []) => {
    await page.getByTestId("login-button").click();
    await page.getByTestId("dev-user").fill(user);
    for (const r of roles) await page.getByTestId(`dev-role-${r}`).check();
    await page.getByTestId("dev-login-submit").click();
    await page.getByTestId("user-name").filter({ hasText: user }).waitFor();
  };
  const setCode = async (code) => {
    const content = page.locator('[data-testid="editor"] .cm-content');
    await content.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type(code);
  };

  console.log("setter imports a problem");
  await page.goto(base);
  await shot("01-playground-signed-out");
  await signIn("sam", ["setter"]);
  await page.goto(`${base}/#/admin`);
  await page.getByTestId("package-input").setInputFiles(echoPackage(data));
  await page.getByTestId("import-button").click();
  await page.getByTestId("verify-report").waitFor({ timeout: 120_000 });
  check((await page.getByTestId("verify-report").innerText()).includes("0 disagreements"), "the package verified: every submission got its expected verdict");
  await shot("02-admin-import");
  await page.getByRole("button", { name: "Sign out" }).click();

  console.log("a user runs code in the playground");
  await page.goto(`${base}/#/playground`);
  await signIn("ann");
  await page.getByTestId("language-select").selectOption("python3");
  await page.getByTestId("stdin-input").fill("world\n");
  await page.getByTestId("run-button").click();
  await page.getByTestId("run-output").filter({ hasText: "Hello, world!" }).waitFor();
  await page.getByTestId("run-status").filter({ hasText: "Finished" }).waitFor();
  check(true, "Python hello printed its output");
  await shot("03-playground-run");
  const options = await page.getByTestId("language-select").locator("option").count();
  check(options >= 25, `the language list follows the table (${options} languages)`);
  await page.getByTestId("language-select").selectOption("ruby");
  await page.locator(".cm-content").filter({ hasText: "puts" }).waitFor();
  check((await page.locator(".cm-content span").count()) > 0, "Ruby's starter is highlighted");
  await page.getByTestId("stdin-input").fill("ruby\n");
  await page.getByTestId("run-button").click();
  await page.getByTestId("run-output").filter({ hasText: "Hello, ruby!" }).waitFor();
  check(true, "Ruby's starter greets its input");
  await shot("03b-playground-ruby");
  await page.getByTestId("language-select").selectOption("python3");

  console.log("the user solves the problem, then fails it");
  await page.getByRole("link", { name: "Problems", exact: true }).click();
  await page.getByTestId("problem-list").waitFor();
  await shot("04-problems");
  await page.getByTestId("problem-link").filter({ hasText: "Echo a line" }).click();
  await page.locator(".statement .katex").first().waitFor();
  check(true, "the statement shows its math");
  await page.getByTestId("language-select").selectOption("python3");
  await setCode("print(input())");
  await page.getByTestId("submit-button").click();
  await page.getByTestId("verdict").filter({ hasText: /^(AC|WA|TLE|MLE|OLE|RE|CE|IE)$/ }).waitFor({ timeout: 120_000 });
  check((await page.getByTestId("verdict").innerText()) === "AC", "the right solution is accepted");
  const acTests = await page.getByTestId("test-verdict").allInnerTexts();
  check(acTests.length === 2 && acTests.every((v) => v === "AC"), `AC on every test (${acTests.join(", ")})`);
  await shot("05-problem-accepted");
  await setCode("print(input().upper())");
  await page.getByTestId("submit-button").click();
  await page.getByTestId("verdict").filter({ hasText: "WA" }).waitFor({ timeout: 120_000 });
  const waTests = await page.getByTestId("test-verdict").allInnerTexts();
  check(waTests.includes("WA"), `WA on a test (${waTests.join(", ")})`);
  await shot("06-problem-wrong-answer");

  console.log("history and profile");
  await page.getByRole("link", { name: "Submissions", exact: true }).click();
  await page.getByTestId("submission-row").nth(1).waitFor();
  const rows = await page.getByTestId("submission-row").allInnerTexts();
  check(rows.length === 2 && rows.some((r) => r.includes("AC")) && rows.some((r) => r.includes("WA")), "both submissions are in the history");
  await shot("07-submissions");
  await page.getByTestId("submission-row").first().getByRole("link").first().click();
  await page.getByTestId("verdict").waitFor();
  await shot("08-submission");
  await page.getByRole("link", { name: "Profile", exact: true }).click();
  await page.getByTestId("solved-count").waitFor();
  check((await page.getByTestId("solved-count").innerText()) === "1", "the profile counts the solve");
  await shot("09-profile");

  console.log("a phone's screen");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/playground`);
  await page.getByTestId("run-button").waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  check(!overflow, "the playground fits 390 px without scrolling sideways");
  await shot("10-playground-phone");
  await page.goto(`${base}/#/problems/echo`);
  await page.getByTestId("submit-button").waitFor();
  await shot("11-problem-phone");

  console.log("the server goes away");
  server.kill("SIGTERM");
  await new Promise((r) => server.once("exit", r));
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole("link", { name: "Problems", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "cannot be reached" }).waitFor();
  check(true, "an unreachable server is said so");
  await shot("12-offline");
  console.log("browser test passed");
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser?.close();
  if (server.exitCode === null) server.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
