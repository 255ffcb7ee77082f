import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

// SQL, pragmas and the SQLite driver belong to src/store/<engine>/ only: the shell talks
// to a store through its port (src/store/types.ts), so a PostgreSQL store is a sibling,
// not a rewrite. A literal that reads like SQL anywhere else fails the lint.
const sqlText = "/\\b(SELECT\\s.+\\sFROM|INSERT\\s+(OR\\s+\\w+\\s+)?INTO|UPDATE\\s+\\w+\\s+SET|DELETE\\s+FROM|CREATE\\s+(TABLE|INDEX|TRIGGER)|PRAGMA\\s)\\b/i";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "data/", "test-output/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    // A forgotten await on the async store or services is a lost write or an unhandled rejection.
    files: ["src/**/*.ts", "test/**/*.ts", "bench/**/*.ts"],
    languageOptions: { parserOptions: { project: "./tsconfig.check.json", tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
    },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/store/**", "src/index.ts", "src/**/*.test.ts", "src/**/test-helpers.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "better-sqlite3", message: "only src/store/sqlite/ talks to SQLite; use the store port (src/store/types.ts)" },
            { name: "pg", message: "only src/store/postgres/ talks to PostgreSQL; use the store port (src/store/types.ts)" },
          ],
          patterns: [
            { group: ["**/store/sqlite/*", "**/store/sqlite"], message: "open a store through src/store/open.ts; only the store knows its engine" },
            { group: ["**/store/postgres/*", "**/store/postgres"], message: "open a store through src/store/open.ts; only the store knows its engine" },
            { group: ["pg-*", "postgres"], message: "only src/store/postgres/ talks to PostgreSQL" },
          ],
        },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: `Literal[value=${sqlText}]`, message: "SQL belongs in src/store/<engine>/; add a method to the store port instead" },
        { selector: `TemplateElement[value.raw=${sqlText}]`, message: "SQL belongs in src/store/<engine>/; add a method to the store port instead" },
      ],
    },
  },
);
