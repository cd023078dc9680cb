/**
 * Minimal on-the-fly TypeScript loader for running drstack's TypeScript
 * sources without a build step: `node -r ./bin/ts-register.js file.ts`.
 * Transpiles only (no type checking; `npm run typecheck` does that) with the
 * @swc/core the project already uses for jest, honouring .swcrc.
 */
"use strict";
const { transformSync } = require("@swc/core");
const { readFileSync } = require("node:fs");

require.extensions[".ts"] = function compileTs(module, filename) {
  const { code } = transformSync(readFileSync(filename, "utf8"), {
    filename,
    swcrc: true,
    sourceMaps: "inline",
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
  });
  module._compile(code, filename);
};
