export { webRoutes, type WebOptions } from "./routes.js";
export { html, raw, escapeHtml, Html } from "./html.js";
export { lineDiff, hunks } from "./diff.js";
