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
  /** A session per fixture key, opened as signing in does: the cookie carries the session's token, never the key. */
  const tokens = new Map<string, string>();
  beforeAll(async () => {
    fx = await webFixture();
    for (const key of Object.values(fx.keys)) {
      const p = await fx.standing.authenticate(`Bearer ${key}`);
      if (p.kind === "key") tokens.set(key, (await fx.standing.openSession(p)).token);
    }
  });
  afterAll(async () => {
    await fx.close();
  });
  const cookie = (key: string) => ({ cookie: `standing_session=${tokens.get(key) ?? "none"}`, host });
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

  it("signing in sets an HttpOnly, SameSite=Strict session cookie that is not the key; machine keys and bad keys are refused", async () => {
    const ok = await post("/login", { key: fx.keys.subject }, { origin });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe("/me");
    const set = String(ok.headers["set-cookie"]);
    expect(set).toMatch(/^standing_session=[A-Za-z0-9_-]{43};/);
    expect(set).not.toContain(fx.keys.subject);
    expect(set).not.toContain(fx.keys.subject.slice(17));
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect(set).not.toContain("Secure"); // plain http, no proxy trusted
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

  it("a session is opaque and server-side: the key as a cookie opens nothing; signing out ends it for good; it expires when idle or old", async () => {
    const own = await webFixture();
    try {
      const asKey = await own.app.inject({ url: "/me", headers: { cookie: `standing_session=${encodeURIComponent(own.keys.subject)}`, host } });
      expect(asKey.statusCode).toBe(303);
      expect((await own.app.inject({ url: "/me", headers: { cookie: `standing_key=${encodeURIComponent(own.keys.subject)}`, host } })).statusCode).toBe(303);
      const signIn = async (key: string): Promise<string> => {
        const r = await own.app.inject({ method: "POST", url: "/login", payload: new URLSearchParams({ key }).toString(), headers: { "content-type": "application/x-www-form-urlencoded", host, origin } });
        expect(r.statusCode).toBe(303);
        return String(r.headers["set-cookie"]).split(";")[0] as string;
      };
      const c = await signIn(own.keys.subject);
      expect((await own.app.inject({ url: "/me", headers: { cookie: c, host } })).statusCode).toBe(200);
      const out = await own.app.inject({ method: "POST", url: "/logout", headers: { cookie: c, host, origin } });
      expect(out.statusCode).toBe(303);
      expect(String(out.headers["set-cookie"])).toMatch(/^standing_session=;/);
      // The same cookie, kept by someone, opens nothing any more, and is cleared.
      const replay = await own.app.inject({ url: "/me", headers: { cookie: c, host } });
      expect(replay.statusCode).toBe(303);
      expect(String(replay.headers["set-cookie"])).toMatch(/^standing_session=;/);
      // Idle for two hours: over. Used within them: it goes on, up to twelve hours.
      const idle = await signIn(own.keys.subject);
      own.clock.advance(2 * 3_600_000);
      expect((await own.app.inject({ url: "/me", headers: { cookie: idle, host } })).statusCode).toBe(303);
      const busy = await signIn(own.keys.subject);
      for (let h = 0; h < 11; h++) {
        own.clock.advance(3_600_000);
        expect((await own.app.inject({ url: "/me", headers: { cookie: busy, host } })).statusCode, `hour ${h + 1}`).toBe(200);
      }
      own.clock.advance(3_600_000);
      expect((await own.app.inject({ url: "/me", headers: { cookie: busy, host } })).statusCode).toBe(303);
    } finally {
      await own.close();
    }
  });

  it("revoking the key ends its sessions at once, also when another process revokes it", async () => {
    const own = await webFixture();
    try {
      const signIn = async (key: string): Promise<string> => {
        const r = await own.app.inject({ method: "POST", url: "/login", payload: new URLSearchParams({ key }).toString(), headers: { "content-type": "application/x-www-form-urlencoded", host, origin } });
        return String(r.headers["set-cookie"]).split(";")[0] as string;
      };
      const c = await signIn(own.keys.reviewer);
      expect((await own.app.inject({ url: "/console", headers: { cookie: c, host } })).statusCode).toBe(200);
      // Another process on the same file (the CLI) revokes the key; the server learns it from the change feed.
      const { Standing } = await import("../../src/standing.js");
      const { SqliteStore } = await import("../../src/store/sqlite/store.js");
      const { join } = await import("node:path");
      const other = new Standing(new SqliteStore(join(own.dir, "standing.db")), own.clock);
      const keyId = own.keys.reviewer.split("_")[1] as string;
      expect(await other.revokeKey(keyId)).toBe(true);
      await other.close();
      await own.standing.catchUp();
      const after = await own.app.inject({ url: "/console", headers: { cookie: c, host } });
      expect(after.statusCode).toBe(303);
      expect(after.headers.location).toBe("/login?next=%2Fconsole");
    } finally {
      await own.close();
    }
  });

  it("failed sign-ins are limited per key id and per address: 429 with Retry-After on the form, even for the right key", async () => {
    const own = await webFixture();
    try {
      const attempt = (key: string, ip = "10.0.0.1") => own.app.inject({ method: "POST", url: "/login", remoteAddress: ip, payload: new URLSearchParams({ key }).toString(), headers: { "content-type": "application/x-www-form-urlencoded", host, origin } });
      const right = own.keys.admin;
      const wrong = `${right.slice(0, -1)}${right.endsWith("A") ? "B" : "A"}`;
      for (let i = 0; i < 5; i++) expect((await attempt(wrong, `10.0.1.${i}`)).statusCode).toBe(401);
      const limited = await attempt(right, "10.0.2.1");
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
      expect(limited.headers["content-type"]).toContain("text/html");
      expect(limited.body).toContain("Too many failed sign-ins");
      expect(limited.headers["set-cookie"]).toBeUndefined();
      // Another key from another address is not held up.
      expect((await attempt(own.keys.reviewer, "10.0.3.1")).statusCode).toBe(303);
      // One address trying many keys is held up too.
      for (let i = 0; i < 20; i++) expect((await attempt(`stk_${i.toString(16).padStart(12, "0")}_${"A".repeat(43)}`, "10.0.4.1")).statusCode).toBe(401);
      expect((await attempt(own.keys.subject, "10.0.4.1")).statusCode).toBe(429);
      expect((await attempt(own.keys.subject, "10.0.4.2")).statusCode).toBe(303);
    } finally {
      await own.close();
    }
  });

  it("behind a proxy it is told to trust, a request that came over https gets a Secure cookie; without that setting the header is ignored", async () => {
    const { buildServer } = await import("../../src/api/server.js");
    const own = await webFixture();
    const proxied = buildServer(own.standing, { trustProxy: true });
    try {
      const login = (app: typeof proxied) => app.inject({ method: "POST", url: "/login", payload: new URLSearchParams({ key: own.keys.subject }).toString(), headers: { "content-type": "application/x-www-form-urlencoded", host, origin: `https://${host}`, "x-forwarded-proto": "https" } });
      const behind = await login(proxied);
      expect(behind.statusCode).toBe(303);
      expect(String(behind.headers["set-cookie"])).toContain("Secure");
      const direct = await login(own.app);
      // Not trusted: the request is http, so an https Origin is another origin (CSRF) and no Secure cookie is set.
      expect(direct.statusCode).toBe(403);
      expect(direct.headers["set-cookie"]).toBeUndefined();
    } finally {
      await proxied.close();
      await own.close();
    }
  });

  it("after the minimum period, a subject applies to leave a list early from the recovery section", async () => {
    const own = await webFixture();
    try {
      own.clock.advance(366 * 86_400_000);
      await own.standing.advance();
      const signIn = await own.app.inject({ method: "POST", url: "/login", payload: new URLSearchParams({ key: own.keys.subject }).toString(), headers: { "content-type": "application/x-www-form-urlencoded", host, origin } });
      const h = { cookie: String(signIn.headers["set-cookie"]).split(";")[0] as string, host };
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
