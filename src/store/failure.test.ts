import { describe, expect, it } from "vitest";
import { storageFailure } from "./failure.js";

describe("which engine errors mean the storage failed", () => {
  it("given the PostgreSQL driver's codeless errors for a connection that ended, then each is storage-unavailable", () => {
    for (const message of ["Connection terminated unexpectedly", "Connection terminated", "Client has encountered a connection error and is not queryable"]) {
      expect(storageFailure(new Error(message))?.code).toBe("storage-unavailable");
    }
  });

  it("given a server's SQLSTATE for a terminated backend or a full disk, then its storage code", () => {
    expect(storageFailure(Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }))?.code).toBe("storage-unavailable");
    expect(storageFailure(Object.assign(new Error("could not extend file"), { code: "53100" }))?.code).toBe("storage-full");
  });

  it("given a bug's error, even one whose message mentions a connection, then it is not a storage failure", () => {
    expect(storageFailure(new Error("Connection terminated unexpectedly while parsing the policy"))).toBeUndefined();
    expect(storageFailure(new TypeError("x is undefined"))).toBeUndefined();
    expect(storageFailure("Connection terminated")).toBeUndefined();
  });
});
