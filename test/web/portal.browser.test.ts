// End to end in real Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// against the server started in-process: a subject disputes a record, a reviewer
// upholds it, the subject sees the restriction lifted, and the public counts change.
// Screenshots of every page go to test-output/screenshots/.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { webFixture } from "./helpers.js";

const CHROMIUM = process.env.STANDING_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`SKIPPED web browser tests: ${CHROMIUM} is missing (CI installs it in .ci/run: apt-get install -y chromium)`);

const SHOTS = join(import.meta.dirname, "..", "..", "test-output", "screenshots");

describe.skipIf(!hasChromium)("web portal in Chromium", () => {
  let fx: Awaited<ReturnType<typeof webFixture>>;
  let base = "";
  let browser: Browser;
  let shot = 0;
  const jsBytes = new Map<string, number>();

  beforeAll(async () => {
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    fx = await webFixture();
    // A checkpoint asks about the debtor, so "who looked me up" has a row.
    const asked = await fx.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: `Bearer ${fx.keys.checkpoint}` }, payload: { subject: { scheme: "national-id", value: "d-1" }, context: "air-travel" } });
    expect(asked.json()).toMatchObject({ decision: "deny" });
    await fx.app.listen({ port: 0, host: "127.0.0.1" });
    const addr = fx.app.server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await fx?.close();
  });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on("response", (res) => {
      const type = res.headers()["content-type"] ?? "";
      if (type.includes("javascript")) void res.body().then((b) => jsBytes.set(res.url(), b.length), () => undefined);
    });
    return { context, page };
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    shot++;
    await page.screenshot({ path: join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${base}/login`);
    // Keyboard only: tab to the key field, type, press Enter.
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(() => document.activeElement?.id === "key")) break;
    }
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("key");
    await page.keyboard.type(key);
    await Promise.all([page.waitForURL(/\/(me|console)/), page.keyboard.press("Enter")]);
  }

  /** Every form control has a label, there is one h1, the page has a language, and text meets WCAG AA contrast. */
  async function accessible(page: Page): Promise<void> {
    const report = await page.evaluate(() => {
      const unlabelled = [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
        .filter((el) => {
          const e = el as HTMLInputElement;
          return !(e.labels && e.labels.length > 0) && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby");
        })
        .map((el) => el.outerHTML.slice(0, 80));
      const parse = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
      const lum = (rgb: number[]): number => {
        const [r, g, b] = rgb.slice(0, 3).map((v) => {
          const s = v / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        }) as [number, number, number];
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const bg = (el: Element | null): number[] => {
        for (let e = el; e; e = e.parentElement) {
          const c = parse(getComputedStyle(e).backgroundColor);
          if (c.length >= 3 && (c.length < 4 || (c[3] as number) > 0.5)) return c;
        }
        return [255, 255, 255];
      };
      const low: string[] = [];
      for (const el of document.querySelectorAll("body *")) {
        if (el.closest("svg") || el.closest(".skip")) continue;
        const own = [...el.childNodes].some((n) => n.nodeType === 3 && (n.textContent ?? "").trim() !== "");
        if (!own) continue;
        const st = getComputedStyle(el);
        if (st.visibility === "hidden" || st.display === "none") continue;
        const a = lum(parse(st.color));
        const b = lum(bg(el));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < 4.5) low.push(`${el.tagName} "${(el.textContent ?? "").trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
      }
      return { unlabelled, low, h1: document.querySelectorAll("h1").length, lang: document.documentElement.lang, main: document.querySelectorAll("main").length, scripts: document.querySelectorAll("script").length };
    });
    expect(report.unlabelled, "form controls without a label").toEqual([]);
    expect(report.low, "text below 4.5:1 contrast").toEqual([]);
    expect(report.h1).toBe(1);
    expect(report.lang).toBe("en");
    expect(report.main).toBe(1);
    expect(report.scripts).toBe(0);
  }

  const text = (page: Page, sel: string): Promise<string> => page.locator(sel).first().innerText();

  it("the public portal shows the rulebook and the counts, with no script, and is keyboard- and screen-reader-friendly", async () => {
    const { context, page } = await newPage();
    await page.goto(`${base}/`);
    expect(await page.title()).toContain("Standing");
    expect(await text(page, "#stat-disputes-opened")).toBe("0");
    expect(await text(page, 'tr[data-context="air-travel"] td.active')).toBe("1");
    expect(await page.locator("main").innerText()).toContain("Several Provisions of the Supreme People's Court");
    await accessible(page);
    // The first Tab reaches the skip link.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await screenshot(page, "public-overview");
    for (const [path, name] of [["/rulebook", "rulebook"], ["/stats", "stats"], ["/versions", "versions"], ["/login", "login"]] as const) {
      await page.goto(`${base}${path}`);
      await accessible(page);
      await screenshot(page, name);
    }
    expect(await page.locator("svg.chart").count()).toBe(0); // login has no chart
    await page.goto(`${base}/stats`);
    expect(await page.locator("svg.chart[role=img]").count()).toBeGreaterThanOrEqual(3);
    expect([...jsBytes.values()].reduce((a, b) => a + b, 0)).toBeLessThan(100 * 1024);
    await context.close();
  });

  it("a subject signs in with their key (a session in an HttpOnly, SameSite=Strict cookie, never the key), reads their file and files a dispute with evidence", async () => {
    const { context, page } = await newPage();
    await signIn(page, fx.keys.subject);
    expect(new URL(page.url()).pathname).toBe("/me");
    const cookie = (await context.cookies()).find((c) => c.name === "standing_session");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(cookie?.value).not.toContain(fx.keys.subject.slice(17));
    expect(await page.evaluate(() => document.cookie)).toBe("");
    await expect(page.locator('#restrictions tr[data-measure="no-flights-debtor"]').isVisible()).resolves.toBe(true);
    expect(await page.locator("#timeline + svg.chart, svg.chart").count()).toBeGreaterThan(0);
    expect(await page.locator("#lookups").innerText()).toContain("(1)");
    expect(await page.locator("main").innerText()).toContain("test checkpoint");
    await accessible(page);
    await screenshot(page, "subject-file");

    await page.selectOption("#record", { label: /court\.judgment\.default c-1/ } as never).catch(async () => {
      const value = await page.locator("#record option", { hasText: "c-1" }).getAttribute("value");
      await page.selectOption("#record", value as string);
    });
    await page.fill("#grounds", "The judgment in case K-1 was paid in full on 2026-10-15; the court has the receipt.");
    await page.fill("#evidence", "receipt://bank/2026-10-15/K-1");
    await Promise.all([page.waitForURL(/done=filed/), page.click("text=File the dispute")]);
    expect(await text(page, "#flash")).toContain("dispute was filed");
    expect(await text(page, "#dispute-table .dispute-status")).toBe("open");
    await screenshot(page, "subject-dispute-filed");

    // A subject key does not open the console.
    const res = await page.goto(`${base}/console/disputes`);
    expect(res?.status()).toBe(403);
    await screenshot(page, "subject-refused-console");
    await context.close();
  });

  it("a reviewer sees the dispute with its deadline countdown, once the source has answered, and proposes to uphold it with a reason; a second reviewer confirms", async () => {
    // The court stands by its record: only then may a reviewer decide.
    const [filed] = await fx.standing.reads.listDisputes({ status: "open", limit: 1 });
    await fx.standing.answerDispute(filed?.id as string, "court", "confirm", "The judgment is on the court's file as entered.");
    const { context, page } = await newPage();
    await signIn(page, fx.keys.reviewer);
    await screenshot(page, "console-home");
    await page.click("text=Dispute queue");
    const card = page.locator("article[data-dispute]").first();
    expect(await card.locator(".countdown").innerText()).toMatch(/days? .*left|hours? .*left/);
    expect(await card.innerText()).toContain("receipt://bank/2026-10-15/K-1");
    await accessible(page);
    await screenshot(page, "console-dispute-queue");
    await card.locator("input[value=upheld]").check();
    await card.locator("textarea[name=reason]").fill("The court's own receipt shows the judgment was paid before the record was made.");
    await Promise.all([page.waitForURL(/done=decided/), card.locator("button[type=submit]").click()]);
    expect(await text(page, "#flash")).toContain("decision was recorded");
    expect(await page.locator("main").innerText()).toContain("uphold-proposed");
    await screenshot(page, "console-dispute-proposed");
    await context.close();

    const second = await newPage();
    await signIn(second.page, fx.keys.secondReviewer);
    await second.page.click("text=Dispute queue");
    const again = second.page.locator("article[data-dispute]").first();
    expect(await again.innerText()).toContain("a second reviewer confirms or rejects");
    await again.locator("input[value=upheld]").check();
    await again.locator("textarea[name=reason]").fill("Checked the receipt against the court's ledger myself.");
    await Promise.all([second.page.waitForURL(/done=decided/), again.locator("button[type=submit]").click()]);
    expect(await second.page.locator("main").innerText()).toContain("upheld");
    await screenshot(second.page, "console-dispute-decided");
    await second.context.close();
  });

  it("the subject sees the restriction lifted, and the public counts change", async () => {
    const { context, page } = await newPage();
    await signIn(page, fx.keys.subject);
    await expect(page.locator("#no-restrictions").isVisible()).resolves.toBe(true);
    expect(await text(page, "#dispute-table .dispute-status")).toBe("upheld");
    expect(await page.locator('tr[data-record="c-1"] .status').innerText()).toBe("removed after a dispute");
    await screenshot(page, "subject-restriction-lifted");
    await page.click("text=Sign out");
    await page.waitForURL(/done=signed-out/);
    expect(await text(page, "#stat-disputes-opened")).toBe("1");
    expect(await text(page, "#stat-disputes-overturned")).toBe("1");
    expect(await text(page, 'tr[data-context="air-travel"] td.active')).toBe("0");
    expect(await text(page, 'tr[data-source="court"] td.overturned')).toBe("1");
    await screenshot(page, "public-after-dispute");
    await context.close();
  });

  it("an admin finds a subject and links a quarantined identifier", async () => {
    const { context, page } = await newPage();
    await signIn(page, fx.keys.admin);
    await page.goto(`${base}/console/subjects`);
    await page.fill("#identifier", "national-id:d-2");
    await Promise.all([page.waitForURL(/identifier=/), page.click("button:has-text('Search')")]);
    expect(await page.locator("h1").nth(0).innerText()).toBe("Find a subject");
    expect(await page.locator("main").innerText()).toContain("blood.donation");
    await screenshot(page, "console-subject-search");
    await page.goto(`${base}/console/quarantine`);
    expect(await page.locator('tr[data-quarantine="a-1"]').count()).toBe(1);
    await accessible(page);
    await screenshot(page, "console-quarantine");
    await page.fill("#known", "national-id:d-2");
    await page.fill("#extra", "passport:P-9");
    await Promise.all([page.waitForURL(/done=linked/), page.click("text=Link and release")]);
    expect(await page.locator('tr[data-quarantine="a-1"]').count()).toBe(0);
    await screenshot(page, "console-quarantine-linked");
    await context.close();
  });

  it("a policy author lints, compares and publishes a new version, which the public version history shows with a diff", async () => {
    const { context, page } = await newPage();
    await signIn(page, fx.keys.policyAuthor);
    await page.goto(`${base}/console/policy`);
    await Promise.all([page.waitForLoadState(), page.click("button[value=lint]")]);
    expect(await text(page, "#policy-result")).toContain("Compiles");
    await screenshot(page, "console-policy-lint");
    const draft = (await page.inputValue("#text"))
      .replace("version: 2026.1.0", "version: 2026.2.0")
      .replace("effective: 2026-01-01T00:00:00+08:00", "effective: 2026-11-09T00:00:00+00:00")
      .replace("    notice: P3D", "    notice: P5D");
    await page.fill("#text", draft);
    await Promise.all([page.waitForLoadState(), page.click("button[value=diff]")]);
    expect(await page.locator("#policy-result table.diff tr.add").count()).toBe(3);
    await screenshot(page, "console-policy-diff");
    await Promise.all([page.waitForLoadState(), page.click("button[value=propose]")]);
    expect(await text(page, "#policy-result")).toContain("municipal-credit@2026.2.0 proposed");
    await screenshot(page, "console-policy-proposed");
    // Proposed is not published; the author has no way to approve it.
    expect(await page.locator("button[value=approve]").count()).toBe(0);
    await context.close();

    // A policy approver approves it, which publishes it.
    const second = await newPage();
    await signIn(second.page, fx.keys.policyApprover);
    await second.page.goto(`${base}/console/policy`);
    const card = second.page.locator("article[data-proposal]").first();
    expect(await card.innerText()).toContain("municipal-credit@2026.2.0");
    expect(await card.innerText()).toContain("policy-author key");
    await Promise.all([second.page.waitForLoadState(), card.locator("button[value=approve]").click()]);
    expect(await text(second.page, "#policy-result")).toContain("municipal-credit@2026.2.0 published");
    expect(await text(second.page, "#policy-result")).toContain("approved by policy-approver key");
    await screenshot(second.page, "console-policy-approved");
    const page2 = second.page;
    await page2.goto(`${base}/versions`);
    expect(await page2.locator('tr[data-version="municipal-credit@2026.2.0"] td.who-proposed').innerText()).toContain("policy-author key");
    expect(await page2.locator('tr[data-version="municipal-credit@2026.2.0"] td.who-approved').innerText()).toContain("policy-approver key");
    expect(await page2.locator("main").innerText()).toContain("Changes from municipal-credit@2026.1.0");
    expect(await page2.locator("table.diff tr.del").first().innerText()).toContain("version: 2026.1.0");
    await screenshot(page2, "versions-with-diff");
    await second.context.close();
  });

  it("signing in opens a session, signing out ends it, and revoking the key ends it too", async () => {
    const { context, page } = await newPage();
    await signIn(page, fx.keys.auditor);
    const [cookie] = await context.cookies();
    expect(cookie?.name).toBe("standing_session");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Strict");
    expect(cookie?.value).not.toContain(fx.keys.auditor.slice(17));
    await page.goto(`${base}/console`);
    expect(page.url()).toBe(`${base}/console`);
    // Sign out: the cookie goes, and the old token, sent again by hand, opens nothing.
    await Promise.all([page.waitForURL(/done=signed-out/), page.click("text=Sign out")]);
    expect(await page.locator("#flash").innerText()).toContain("signed out");
    await context.addCookies([{ ...(cookie as NonNullable<typeof cookie>) }]);
    await page.goto(`${base}/console`);
    expect(page.url()).toContain("/login?next=");
    // Signed in again, then the key is revoked: the next page asks to sign in.
    await signIn(page, fx.keys.auditor);
    await page.goto(`${base}/console/journal`);
    expect(page.url()).toBe(`${base}/console/journal`);
    expect(await fx.standing.revokeKey(fx.keys.auditor.split("_")[1] as string)).toBe(true);
    await page.goto(`${base}/console/journal`);
    expect(page.url()).toContain("/login?next=");
    await screenshot(page, "signed-out-after-revocation");
    await context.close();
  });

  it("an auditor verifies the journal (a key of its own)", async () => {
    const auditor = (await fx.standing.createKey({ role: "auditor", label: "second auditor" })).key;
    const { context, page } = await newPage();
    await signIn(page, auditor);
    await page.goto(`${base}/console/journal`);
    expect(await text(page, "#journal-result")).toContain("Verified");
    await screenshot(page, "console-journal");
    await context.close();
  });
});
