// The web layer without a browser: escaping, the line diff, statistics, sign-in,
// cookie flags, the CSRF defence and who may open which page.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { html, raw } from "../../src/web/html.js";
import { hunks, lineDiff } from "../../src/web/diff.js";
import { disputeStats, duration, median } from "../../src/web/stats.js";
import { plainDuration } from "../../src/web/public.js";
import type { DisputeRow } from "../../src/store/types.js";
import { webFixture } from "./helpers.js";

describe("html``", () => {
  it("escapes every interpolated string, in text and in attributes, and nests built fragments as they are", () => {
    const evil = `<script>alert("x")</script>' onload='x`;
    const out = html`<p title="${evil}">${evil}${html`<b>${"&"}</b>`}${[1, "<i>"]}${null}${false}${raw("<br>")}</p>`.text;
    expect(out).toBe(`<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x<b>&amp;</b>1&lt;i&gt;<br></p>`);
  });
});

describe("lineDiff", () => {
  it("finds the changed lines and keeps the rest, with line numbers on both sides", () => {
    const d = lineDiff("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n");
    expect(d.map((l) => `${l.op}${l.text}`)).toEqual([" a", "-b", "+B", " c", " d", "+e"]);
    expect(d.find((l) => l.text === "B")).toMatchObject({ a: null, b: 2 });
    expect(lineDiff("same\n", "same\n").every((l) => l.op === " ")).toBe(true);
    expect(lineDiff("", "x\n")).toEqual([{ op: "+", text: "x", a: null, b: 1 }]);
  });
  it("hunks keep context around changes and mark the gaps", () => {
    const before = Array.from({ length: 20 }, (_, i) => `l${i}`).join("\n");
    const after = before.replace("l10", "L10");
    const h = hunks(lineDiff(before, after), 2);
    expect(h[0]).toBeNull();
    expect(h.at(-1)).toBeNull();
    expect(h.filter((l) => l !== null).map((l) => l?.text)).toEqual(["l8", "l9", "l10", "L10", "l11", "l12"]);
  });
});

describe("statistics", () => {
  const d = (source: string, status: DisputeRow["status"], openedAt: number, closedAt: number | null): DisputeRow => ({
    id: `${source}-${openedAt}`, subjectId: 1, source, recordId: "r", grounds: "g", evidence: null, openedBy: "x", openedAt, deadlineAt: openedAt + 10, suspend: false, status, answerNote: null, answeredAt: null, decidedBy: null, reason: null, closedAt, counts: null,
  });
  it("counts disputes per source, overturned ones, and the median resolution time", () => {
    const s = disputeStats([d("court", "upheld", 0, 10), d("court", "dismissed", 0, 30), d("court", "open", 0, null), d("airline", "expired", 0, 20)]);
    expect(s).toMatchObject({ total: 4, open: 1, resolved: 3, overturned: 2, medianResolutionMs: 20 });
    expect(s.bySource).toEqual([
      { source: "airline", opened: 1, resolved: 1, overturned: 1, pending: 0 },
      { source: "court", opened: 3, resolved: 2, overturned: 1, pending: 1 },
    ]);
    expect(median([])).toBeNull();
    expect(median([1, 2, 3, 4])).toBe(2.5);
  });
  it("writes durations in words", () => {
    expect(plainDuration("P1Y6M")).toBe("1 year 6 months");
    expect(plainDuration("P7D")).toBe("7 days");
    expect(plainDuration("PT0S")).toBe("no time at all");
    expect(duration(3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000)).toBe("3 days 4 hours");
    expect(duration(30_000)).toBe("under a minute");
  });
});

describe("web pages over HTTP", () => {
  let fx: Awaited<ReturnType<typeof webFixture>>;
  const host = "standing.test";
  const origin = `http://${host}`;
  beforeAll(async () => {
    fx = await webFixture();
  });
  afterAll(async () => {
    await fx.close();
  });
  const cookie = (key: string) => ({ cookie: `standing_key=${encodeURIComponent(key)}`, host });
  const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const post = (url: string, body: Record<string, string>, headers: Record<string, string>) =>
    fx.app.inject({ method: "POST", url, payload: form(body), headers: { "content-type": "application/x-www-form-urlencoded", host, ...headers } });

  it("public pages need no key, carry no script and a strict content security policy, and stay out of the OpenAPI document", async () => {
    for (const url of ["/", "/rulebook", "/stats", "/versions", "/login"]) {
      const res = await fx.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers["content-type"]).toContain("text/html");
      expect(res.body).not.toMatch(/<script/i);
      expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
      expect(res.headers["x-frame-options"]).toBe("DENY");
    }
    const api = (await fx.app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(api.paths).some((p) => p === "/" || p.startsWith("/console") || p === "/me" || p.startsWith("/me/") || p === "/login")).toBe(false);
    expect((await fx.app.inject({ url: "/nope" })).json()).toMatchObject({ error: { code: "not-found" } });
  });

  it("the transparency portal publishes the journal key, its fingerprint and the latest signed head", async () => {
    const res = await fx.app.inject({ url: "/journal" });
    expect(res.statusCode).toBe(200);
    const k = (await fx.app.inject({ url: "/v1/journal/key" })).json() as { fingerprint: string };
    expect(res.body).toContain(`<span class="mono" id="journal-fingerprint">${k.fingerprint}</span>`);
    expect(res.body).toContain("BEGIN PUBLIC KEY");
    const head = (await fx.app.inject({ url: "/v1/journal/head" })).json() as { seq: number; hash: string };
    expect(res.body).toContain(head.hash);
    expect(res.body).toContain('href="/journal"');
  });

  it("odd query strings are answered, never a 500: a repeated ?next, a ?done naming no message", async () => {
    const twice = await fx.app.inject({ url: "/login?next=/me&next=/console" });
    expect(twice.statusCode).toBe(200);
    expect(twice.body).toContain('name="next" value=""');
    for (const done of ["constructor", "__proto__", "toString"]) {
      const res = await fx.app.inject({ url: `/?done=${done}` });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('id="flash"');
    }
    expect((await fx.app.inject({ url: "/?done=signed-out" })).body).toContain('id="flash"');
  });

  it("signing in sets an HttpOnly, SameSite=Strict cookie; machine keys and bad keys are refused", async () => {
    const ok = await post("/login", { key: fx.keys.subject }, { origin });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe("/me");
    const set = String(ok.headers["set-cookie"]);
    expect(set).toMatch(/^standing_key=/);
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect((await post("/login", { key: fx.keys.reviewer }, { origin })).headers.location).toBe("/console");
    expect((await post("/login", { key: "stk_000000000000_" + "A".repeat(43) }, { origin })).statusCode).toBe(401);
    const machine = await post("/login", { key: fx.keys.checkpoint }, { origin });
    expect(machine.statusCode).toBe(403);
    expect(machine.body).toContain("is for machines");
    expect(machine.headers["set-cookie"]).toBeUndefined();
    // an open redirect through ?next= is not possible
    expect((await post("/login", { key: fx.keys.subject, next: "//evil.example/" }, { origin })).headers.location).toBe("/me");
  });

  it("pages need the right key: anonymous goes to sign in, a subject key reads only its own file and no console page", async () => {
    const anon = await fx.app.inject({ url: "/me" });
    expect(anon.statusCode).toBe(303);
    expect(anon.headers.location).toBe("/login?next=%2Fme");
    const me = await fx.app.inject({ url: "/me", headers: cookie(fx.keys.subject) });
    expect(me.statusCode).toBe(200);
    expect(me.body).toContain("national-id:d-1");
    expect(me.body).not.toContain("national-id:d-2");
    for (const url of ["/console", "/console/subjects?identifier=national-id:d-2", "/console/disputes", "/console/quarantine", "/console/policy", "/console/journal"]) {
      expect((await fx.app.inject({ url, headers: cookie(fx.keys.subject) })).statusCode, url).toBe(403);
    }
    // each operator role sees its own pages only
    expect((await fx.app.inject({ url: "/console/policy", headers: cookie(fx.keys.reviewer) })).statusCode).toBe(403);
    expect((await fx.app.inject({ url: "/console/journal", headers: cookie(fx.keys.admin) })).statusCode).toBe(403);
    expect((await fx.app.inject({ url: "/console/policy", headers: cookie(fx.keys.policyAuthor) })).statusCode).toBe(200);
    expect((await fx.app.inject({ url: "/me", headers: cookie(fx.keys.reviewer) })).statusCode).toBe(403);
  });

  it("a form post from another origin, or with no origin at all, is refused (CSRF); from this origin it works", async () => {
    const record = JSON.stringify(["traffic-police", "t-1"]);
    const body = { record, grounds: "I was not driving that car on that day.", evidence: "doc://alibi" };
    const h = cookie(fx.keys.subject);
    expect((await post("/me/disputes", body, { ...h, origin: "http://evil.example" })).statusCode).toBe(403);
    expect((await post("/me/disputes", body, { ...h })).statusCode).toBe(403);
    expect((await post("/me/disputes", body, { ...h, origin, "sec-fetch-site": "cross-site" })).statusCode).toBe(403);
    expect((await post("/me/disputes", body, { ...h, referer: "http://evil.example/x" })).statusCode).toBe(403);
    expect(await fx.standing.reads.disputesOf(fx.debtorId)).toHaveLength(0);
    const ok = await post("/me/disputes", body, { ...h, origin });
    expect(ok.statusCode).toBe(303);
    expect(await fx.standing.reads.disputesOf(fx.debtorId)).toMatchObject([{ source: "traffic-police", recordId: "t-1", evidence: "doc://alibi", status: "open" }]);
    // a second dispute of the same record is explained, not a crash
    const again = await post("/me/disputes", body, { ...h, origin });
    expect(again.statusCode).toBe(409);
    expect(again.body).toContain("role=\"alert\"");
    // a subject cannot dispute another subject's record through the form, nor learn
    // that it exists: the answer is the one for a record that does not exist
    const other = await post("/me/disputes", { ...body, record: JSON.stringify(["blood-centre", "b-1"]) }, { ...h, origin });
    const none = await post("/me/disputes", { ...body, record: JSON.stringify(["blood-centre", "no-such-record"]) }, { ...h, origin });
    expect(other.statusCode).toBe(404);
    expect(none.statusCode).toBe(404);
    const alert = (page: string): string => /role="alert"[^>]*>([^<]*)</.exec(page)?.[1]?.replace(/b-1|no-such-record/, "X") ?? "";
    expect(alert(other.body)).toBe(alert(none.body));
    expect(alert(other.body)).not.toBe("");
  });

  it("a malformed Authorization header on a page gets an HTML refusal, never a 5xx", async () => {
    for (const url of ["/", "/me", "/console/journal"]) {
      const res = await fx.app.inject({ url, headers: { authorization: "Bearer " } });
      expect(res.statusCode, url).toBe(401);
      expect(res.headers["content-type"]).toContain("text/html");
    }
  });

  it("a revoked key in the cookie signs the browser out", async () => {
    const keyId = /^stk_([0-9a-f]{12})_/.exec(fx.keys.auditor)?.[1] as string;
    expect(await fx.standing.revokeKey(keyId)).toBe(true);
    const res = await fx.app.inject({ url: "/console/journal", headers: cookie(fx.keys.auditor) });
    expect(res.statusCode).toBe(303);
    expect(String(res.headers["set-cookie"])).toContain("Max-Age=0");
  });

  it("what sources wrote is escaped on every page", async () => {
    const linked = await post("/console/link", { known: "national-id:d-2", extra: "passport:P-9" }, { ...cookie(fx.keys.admin), origin });
    expect(linked.statusCode).toBe(303);
    const page = await fx.app.inject({ url: "/console/subjects?identifier=national-id:d-2", headers: cookie(fx.keys.admin) });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("X1 &lt;b&gt;");
    expect(page.body).not.toContain("X1 <b>");
    const search = await fx.app.inject({ url: `/console/subjects?identifier=${encodeURIComponent('x:"><script>1</script>')}`, headers: cookie(fx.keys.admin) });
    expect(search.statusCode).toBe(404);
    expect(search.body).not.toContain("<script>1");
  });

  it("after the minimum period, a subject applies to leave a list early from the recovery section", async () => {
    const own = await webFixture();
    try {
      own.clock.advance(366 * 86_400_000);
      await own.standing.advance();
      const h = { cookie: `standing_key=${encodeURIComponent(own.keys.subject)}`, host };
      const before = await own.app.inject({ url: "/me", headers: h });
      expect(before.body).toContain('action="/me/applications"');
      const res = await own.app.inject({ method: "POST", url: "/me/applications", payload: "list=judgment-defaulters", headers: { ...h, origin, "content-type": "application/x-www-form-urlencoded" } });
      expect(res.statusCode).toBe(303);
      expect((await own.standing.statement(own.debtorId)).lists.map((l) => l.list)).not.toContain("judgment-defaulters");
      const bad = await own.app.inject({ method: "POST", url: "/me/applications", payload: "list=aviation-banned", headers: { ...h, origin, "content-type": "application/x-www-form-urlencoded" } });
      expect(bad.statusCode).toBe(400);
      expect(bad.headers["content-type"]).toContain("text/html");
    } finally {
      await own.close();
    }
  });
});
