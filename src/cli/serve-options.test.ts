import { afterEach, describe, expect, it, vi } from "vitest";
import { StandingError } from "../errors.js";
import { indexSnapshotFile, whileStorageStarts } from "./serve-options.js";

/** A step that fails `times` times with `error`, then answers. */
function failing(times: number, error: () => unknown): { step: () => Promise<string>; calls: () => number } {
  let n = 0;
  return {
    step: () => (n++ < times ? Promise.reject(error()) : Promise.resolve("started")),
    calls: () => n,
  };
}

describe("a start-up step while the storage is unavailable", () => {
  afterEach(() => vi.restoreAllMocks());

  it("given a connection cut under it (a backend ended, the driver's codeless error), then it is tried again and starts", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const cut = failing(2, () => Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }));
    expect(await whileStorageStarts("loading", cut.step, { unreachableMs: 0, cutMs: 5_000 })).toBe("started");
    expect(cut.calls()).toBe(3);
    const ended = failing(1, () => new Error("Connection terminated unexpectedly"));
    expect(await whileStorageStarts("loading", ended.step, { unreachableMs: 0, cutMs: 5_000 })).toBe("started");
  });

  it("given an embedded file that cannot be read, then it ends at once: a file does not come back by waiting", async () => {
    const io = failing(1, () => Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" }));
    await expect(whileStorageStarts("loading", io.step, { unreachableMs: 5_000, cutMs: 5_000 })).rejects.toMatchObject({ code: "SQLITE_IOERR" });
    expect(io.calls()).toBe(1);
  });

  it("given a database that cannot be reached, then it ends at once unless a wait for it was asked", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const down = (): StandingError => new StandingError("storage-unavailable", "cannot reach the PostgreSQL database", { cause: "ECONNREFUSED", stage: "connect" });
    const now = failing(1, down);
    await expect(whileStorageStarts("loading", now.step, { unreachableMs: 0, cutMs: 60_000 })).rejects.toBeInstanceOf(StandingError);
    expect(now.calls()).toBe(1);
    const waited = failing(1, down);
    expect(await whileStorageStarts("loading", waited.step, { unreachableMs: 5_000, cutMs: 5_000 })).toBe("started");
  });

  it("given any other error, then it is thrown at once", async () => {
    const bug = failing(1, () => new TypeError("x is undefined"));
    await expect(whileStorageStarts("loading", bug.step, { unreachableMs: 5_000, cutMs: 5_000 })).rejects.toBeInstanceOf(TypeError);
    expect(bug.calls()).toBe(1);
  });
});

describe("where serve keeps its decision index", () => {
  it("given an embedded database, a PostgreSQL store, a named file or off, when asked, then beside the file, nowhere, there, or nowhere", () => {
    expect(indexSnapshotFile(undefined, "/data/standing.db", {})).toBe("/data/standing.db.index");
    expect(indexSnapshotFile(undefined, ":memory:", {})).toBeUndefined();
    expect(indexSnapshotFile(undefined, "postgres://db/standing", {})).toBeUndefined();
    expect(indexSnapshotFile(undefined, "postgres://db/standing", { STANDING_INDEX_SNAPSHOT: "/var/lib/standing/index" })).toBe("/var/lib/standing/index");
    expect(indexSnapshotFile("/tmp/i", "/data/standing.db", { STANDING_INDEX_SNAPSHOT: "/elsewhere" })).toBe("/tmp/i");
    expect(indexSnapshotFile("off", "/data/standing.db", {})).toBeUndefined();
    expect(indexSnapshotFile(undefined, "/data/standing.db", { STANDING_INDEX_SNAPSHOT: "off" })).toBeUndefined();
  });
});

