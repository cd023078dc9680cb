import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";

/**
 * README's set-up installs with `npm ci`, which refuses a lockfile that is
 * out of sync with package.json or misses a package some locked package
 * depends on ("Missing: X from lock file"). npm has been known to leave the
 * other platforms' optional binaries (@swc/core-*, @esbuild/*) out of a
 * lockfile it regenerates with node_modules present (npm/cli#4828), and
 * `npm ci` then fails on those platforms only. tests/unit/workflows.test.ts
 * checks every optional package has its entry; these checks cover the rest.
 */

interface LockedPackage {
  version?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  link?: boolean;
}

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as Manifest;
const lock = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package-lock.json"), "utf8")) as {
  lockfileVersion: number;
  packages: Record<string, LockedPackage>;
};

/** Where node finds `name` from the package at `from`: its own node_modules, then each enclosing one. */
function resolveLocked(from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base === "" ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (lock.packages[candidate]) {
      return candidate;
    }
    if (base === "") {
      return undefined;
    }
    const up = base.lastIndexOf("/node_modules/");
    base = up < 0 ? "" : base.slice(0, up);
  }
}

test("the lockfile is a v2/v3 lockfile with a packages map, the form npm ci installs from", () => {
  expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
  expect(Object.keys(lock.packages).length).toBeGreaterThan(1);
});

test("its root entry declares exactly package.json's dependencies (npm ci's sync check)", () => {
  const root = lock.packages[""];
  expect(root.dependencies ?? {}).toEqual(manifest.dependencies ?? {});
  expect(root.devDependencies ?? {}).toEqual(manifest.devDependencies ?? {});
  expect(root.optionalDependencies ?? {}).toEqual(manifest.optionalDependencies ?? {});
});

test("every required dependency of every locked package has an entry of its own", () => {
  const missing: string[] = [];
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (entry.link) {
      continue;
    }
    const required = {
      ...entry.dependencies,
      ...(location === "" ? entry.devDependencies : {}),
      ...Object.fromEntries(Object.entries(entry.peerDependencies ?? {}).filter(([name]) => !entry.peerDependenciesMeta?.[name]?.optional)),
    };
    for (const name of Object.keys(required)) {
      if (resolveLocked(location, name) === undefined) {
        missing.push(`${location || "(root)"} -> ${name}`);
      }
    }
  }
  expect(missing).toEqual([]);
});

test("the platform binaries of the native tools are all locked, not only this machine's", () => {
  const swc = Object.keys(lock.packages).filter((location) => /^node_modules\/@swc\/core-/.test(location));
  const esbuild = Object.keys(lock.packages).filter((location) => /^node_modules\/@esbuild\//.test(location));
  // Linux, macOS and Windows builds at least, whatever platform wrote the lockfile.
  for (const platform of ["linux", "darwin", "win32"]) {
    expect({ platform, swc: swc.some((l) => l.includes(platform)) }).toEqual({ platform, swc: true });
    expect({ platform, esbuild: esbuild.some((l) => l.includes(platform)) }).toEqual({ platform, esbuild: true });
  }
});
