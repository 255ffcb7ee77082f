// The published JSON Schema of the policy language (written to
// schema/policy.schema.json so editors autocomplete). It checks shapes only; the
// guardrails are semantic and live in compile.ts, so a missing basis or duration is
// reported as the guardrail it breaks rather than as a schema error.
const name = { type: "string", pattern: "^[A-Za-z][A-Za-z0-9_]*([.\\-][A-Za-z0-9_]+)*$", maxLength: 120 };
const duration = { type: "string", pattern: "^P", description: "ISO 8601 duration, e.g. P3M, P1Y, P180D" };
const cel = { type: "string", minLength: 1, maxLength: 4000, description: "A CEL expression" };
const text = { type: "string", maxLength: 10000 };
const typeList = { oneOf: [name, { type: "array", items: name, minItems: 1 }] };
const trigger = {
  oneOf: [
    name,
    { type: "array", items: name, minItems: 1 },
    {
      type: "object",
      additionalProperties: false,
      required: ["on"],
      properties: { on: typeList, when: cel },
    },
  ],
};
// Kinds are checked by the compiler, not here, so that a kind that would name a person
// ("person", "name") is reported as the guardrail it breaks rather than as a bad value.
const fieldKind = {
  type: "string",
  maxLength: 40,
  description: "amount | count | duration | date | reference | enum | text (string, number, integer, boolean are deprecated spellings)",
  examples: ["amount", "count", "duration", "date", "reference", "enum", "text"],
};

export const policySchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://standing.example/schema/policy.schema.json",
  title: "Standing policy",
  type: "object",
  additionalProperties: false,
  required: ["standing", "policy", "version", "effective", "timezone", "severity", "records", "score"],
  properties: {
    standing: { const: 1, description: "Language version" },
    policy: name,
    version: { type: "string", minLength: 1, maxLength: 64 },
    title: text,
    description: text,
    effective: { type: "string", description: "ISO 8601 instant with offset" },
    timezone: { type: "string", description: "IANA time zone for calendar arithmetic" },
    severity: {
      type: "object",
      additionalProperties: false,
      required: ["minor", "general", "serious"],
      properties: { minor: duration, general: duration, serious: duration },
    },
    identifiers: {
      type: "object",
      propertyNames: name,
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        properties: { registers: { type: "boolean" }, description: text },
      },
    },
    records: {
      type: "object",
      minProperties: 1,
      propertyNames: name,
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        required: ["category", "sources"],
        properties: {
          category: name,
          severity: { enum: ["minor", "general", "serious"] },
          sources: { type: "array", items: name, minItems: 1 },
          fields: {
            type: "object",
            propertyNames: name,
            additionalProperties: {
              oneOf: [
                fieldKind,
                {
                  type: "object",
                  additionalProperties: false,
                  properties: {
                    kind: fieldKind,
                    type: { ...fieldKind, description: "Deprecated spelling of kind" },
                    values: { type: "array", minItems: 1, maxItems: 100, uniqueItems: true, items: { type: "string", minLength: 1, maxLength: 64 }, description: "The values of an enum field" },
                    required: { type: "boolean" },
                    description: text,
                  },
                },
              ],
            },
          },
          evidence: { enum: ["required", "optional"] },
          description: text,
          dispute: {
            type: "object",
            additionalProperties: false,
            properties: { deadline: duration, suspend: { type: "boolean" } },
          },
        },
      },
    },
    score: {
      type: "object",
      additionalProperties: false,
      required: ["base", "tiers"],
      properties: {
        base: { type: "number" },
        tiers: { type: "object", minProperties: 1, propertyNames: name, additionalProperties: { type: "number" } },
      },
    },
    points: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["rule", "on", "points"],
        properties: {
          rule: name,
          on: typeList,
          when: cel,
          points: { oneOf: [{ type: "number" }, cel] },
          for: duration,
          cap: {
            type: "object",
            additionalProperties: false,
            required: ["total", "per"],
            properties: { total: { type: "number" }, per: duration },
          },
          description: text,
        },
      },
    },
    lists: {
      type: "object",
      propertyNames: name,
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        required: ["effect"],
        properties: {
          effect: { enum: ["restrict", "privilege"] },
          enter: trigger,
          leave: trigger,
          for: duration,
          "early-exit": {
            type: "object",
            additionalProperties: false,
            required: ["after"],
            properties: { after: duration },
            description: "Recovery by rule: the subject may apply to leave once this long has passed since entry",
          },
          when: cel,
          description: text,
        },
      },
    },
    contexts: {
      type: "object",
      propertyNames: name,
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        required: ["related"],
        properties: {
          related: { type: "array", items: name },
          why: { type: "string" },
          description: text,
        },
      },
    },
    measures: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["measure", "context", "effect", "lists"],
        properties: {
          measure: name,
          context: name,
          effect: { enum: ["deny", "privilege"] },
          lists: { type: "array", items: name, minItems: 1 },
          code: { type: "string", pattern: "^[A-Z0-9][A-Z0-9_.-]*$", maxLength: 64 },
          basis: { type: "string" },
          notice: {
            oneOf: [
              duration,
              {
                type: "object",
                additionalProperties: false,
                required: ["period"],
                properties: { period: duration, reason: { type: "string" } },
              },
            ],
          },
          description: text,
        },
      },
    },
    screening: {
      type: "object",
      additionalProperties: false,
      properties: {
        names: {
          type: "object",
          additionalProperties: false,
          properties: {
            threshold: { type: "number", minimum: 0, maximum: 1 },
            outcome: { type: "string" },
          },
        },
      },
    },
  },
} as const;
