import { BACKUP_IMAGE_CONTRACT } from "../../infra/backupContract";
import { EngineSwitchError, siteInstanceIdentifiers } from "../../infra/engineGuard";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LAMBDA_BUNDLES, lambdaBundleArchive, missingLambdaBundles, MissingLambdaBundleError, requireLambdaBundles } from "../../infra/lambdaBundles";
import { EvaluationError, evaluateStack } from "../../offline/evaluate";
import { evaluate } from "./evaluations";

jest.setTimeout(120_000);

/**
 * What must exist before anything changes: the Lambda bundles and the images
 * the site runs. Each is checked before any resource but the site's provider
 * is declared, and a missing one stops the program with the fix.
 */

const MISSING = `sha256:${"0".repeat(64)}`;

/** What was declared below the stack itself before the program stopped. */
function declared(error: EvaluationError): string[] {
  return error.resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack").map((resource) => resource.type);
}

describe("Lambda bundles", () => {
  test("every bundle is listed with the handler file build:lambdas writes", () => {
    const script = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")).scripts["build:lambdas"] as string;
    for (const bundle of Object.values(LAMBDA_BUNDLES)) {
      expect(script).toContain(`--outfile=${bundle.directory}/${bundle.entry}`);
    }
  });

  test("a missing bundle is an error naming it and the command that builds it", () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "drstack-bundles-"));
    try {
      expect(missingLambdaBundles(empty)).toEqual(["dist/lambdas/verify/handlers/verify.js", "dist/lambdas/guard/handlers/guard.js"]);
      expect(() => requireLambdaBundles(empty)).toThrow(MissingLambdaBundleError);
      expect(() => requireLambdaBundles(empty)).toThrow(
        /the Lambda bundles dist\/lambdas\/verify\/handlers\/verify.js, dist\/lambdas\/guard\/handlers\/guard.js do not exist; nothing was deployed. Fix: run `npm run build:lambdas`/,
      );
      expect(() => lambdaBundleArchive("verify", empty)).toThrow(MissingLambdaBundleError);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  test("a built bundle passes and becomes the archive of its directory", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "drstack-bundles-"));
    try {
      for (const name of ["verify", "guard"]) {
        fs.mkdirSync(path.join(root, `dist/lambdas/${name}/handlers`), { recursive: true });
        fs.writeFileSync(path.join(root, `dist/lambdas/${name}/handlers/${name}.js`), "exports.handler = async () => {};\n");
      }
      expect(missingLambdaBundles(root)).toEqual([]);
      expect(() => requireLambdaBundles(root)).not.toThrow();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  // Evaluated in a copy of the program without dist/, in a child process: the bundle check reads
  // the project's own files, and hiding them here would race the other test workers.
  test("the program stops on a missing bundle before it declares anything (not a warning)", () => {
    const root = path.join(__dirname, "..", "..");
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "drstack-nobundle-"));
    for (const entry of ["infra", "offline"]) {
      fs.cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true });
    }
    for (const file of fs.readdirSync(root).filter((name) => /^Pulumi(\..+)?\.yaml$/.test(name) || name === "package.json" || name === "tsconfig.json")) {
      fs.copyFileSync(path.join(root, file), path.join(copy, file));
    }
    fs.symlinkSync(path.join(root, "node_modules"), path.join(copy, "node_modules"), "dir");
    const script = [
      'const { evaluateStack } = require("./offline/evaluate");',
      'evaluateStack({ stack: "primary" }).then(',
      '  () => { console.log(JSON.stringify({ ok: true })); },',
      '  (e) => { console.log(JSON.stringify({ message: e.message, declared: e.resources.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => r.type) })); },',
      ");",
    ].join("\n");
    const result = spawnSync(path.join(root, "node_modules", ".bin", "tsx"), ["-e", script], { cwd: copy, encoding: "utf8", timeout: 100_000 });
    // rmSync removes the node_modules link, never what it points to.
    fs.rmSync(copy, { recursive: true, force: true });
    const outcome = JSON.parse(result.stdout.trim().split("\n").pop() ?? "{}") as { ok?: boolean; message?: string; declared?: string[] };
    expect(outcome.ok).toBeUndefined();
    expect(outcome.message).toMatch(/Lambda bundles dist\/lambdas\/verify\/handlers\/verify.js, dist\/lambdas\/guard\/handlers\/guard.js do not exist; nothing was deployed. Fix: run `npm run build:lambdas`/);
    expect(outcome.declared).toEqual([]);
  });
});

describe("images exist in the site's own region", () => {
  test("the example stacks evaluate: both images are found in each site's region", async () => {
    for (const stack of ["primary", "secondary"]) {
      const evaluation = await evaluate(stack);
      expect(evaluation.invokes.filter((token) => token === "aws:ecr/getImage:getImage")).toHaveLength(2);
    }
  });

  test.each([
    ["appImageDigest", "drstack-backup", /appImageDigest = "sha256:0{64}": no such image in acme-shop-dr\/app in us-east-1 \(.*ImageNotFoundException.*\). Fix: push the release to acme-shop-dr\/app .*or pulumi -s secondary config set appImageDigest/],
    ["backupImageDigest", "app", /backupImageDigest = "sha256:0{64}": no such image in acme-shop-dr\/drstack-backup in us-east-1 .*Fix: run scripts\/publish-backup-image.sh \(it pushes the image to both regions\), then pulumi -s secondary config set backupImageDigest/],
  ])("a missing image named by %s stops the preview with the key and the fix, before anything but the provider is declared", async (key, _found, message) => {
    const failure = await evaluateStack({
      stack: "secondary",
      overrides: { [key]: MISSING, activeSite: "secondary" },
      stackReferences: { kind: "unreachable" },
      world: { absentImageDigests: [MISSING] },
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EvaluationError);
    const error = failure as EvaluationError;
    expect(error.message).toMatch(/^drstack cannot deploy: an image it runs is not in this site's region us-east-1; nothing was deployed:/);
    expect(error.message).toMatch(message);
    expect(declared(error)).toEqual(["pulumi:providers:aws"]);
  });

  test("a backup image published by an older drstack (no contract suffix on its tags) stops the preview before anything is declared", async () => {
    const digest = `sha256:${"1".repeat(64)}`;
    const failure = (await evaluateStack({ stack: "primary", overrides: { backupImageDigest: digest }, world: { staleBackupImageDigests: [digest] } }).catch((error: unknown) => error)) as EvaluationError;
    expect(failure).toBeInstanceOf(EvaluationError);
    expect(failure.message).toMatch(/^drstack cannot deploy: an image it runs is missing from or out of date in this site's region us-west-2; nothing was deployed:/);
    expect(failure.message).toMatch(
      new RegExp(`backupImageDigest = "${digest}": the image in acme-shop-dr/drstack-backup in us-west-2 is not one this drstack can run \\(no tag of it \\(0123456789ab-contract${BACKUP_IMAGE_CONTRACT - 1}\\) ends in -contract${BACKUP_IMAGE_CONTRACT}-postgres: .*\\)\\. Fix: run scripts/publish-backup-image.sh`),
    );
    expect(declared(failure)).toEqual(["pulumi:providers:aws"]);
  });

  test("a backup image built for another engine (its tag names postgres, the stack runs mysql) stops the preview before anything is declared", async () => {
    const failure = (await evaluateStack({ stack: "primary", overrides: { databaseEngine: "mysql" }, world: { backupImageEngine: "postgres" } }).catch((error: unknown) => error)) as EvaluationError;
    expect(failure).toBeInstanceOf(EvaluationError);
    expect(failure.message).toMatch(/no tag of it \(0123456789ab-contract3-postgres\) ends in -contract3-mysql: it was published by an older drstack, or for another databaseEngine/);
    expect(failure.message).toMatch(/Fix: run scripts\/publish-backup-image.sh .*builds for databaseEngine mysql/);
    expect(declared(failure)).toEqual(["pulumi:providers:aws"]);
  });

  test("the image built for the configured engine passes, for every engine", async () => {
    for (const engine of ["postgres", "mysql", "mariadb"]) {
      const evaluation = await evaluate("primary", { databaseEngine: engine, dbEngineVersion: "" });
      expect(evaluation.resources.length).toBeGreaterThan(1);
    }
  });
  test("both missing images are reported at once", async () => {
    const failure = (await evaluateStack({
      stack: "primary",
      overrides: { appImageDigest: MISSING, backupImageDigest: MISSING },
      world: { absentImageDigests: [MISSING] },
    }).catch((error: unknown) => error)) as EvaluationError;
    expect(failure.message).toMatch(/images it runs are not in this site's region us-west-2/);
    expect(failure.message).toMatch(/appImageDigest/);
    expect(failure.message).toMatch(/backupImageDigest/);
  });

});

describe("the database engine of a deployed site", () => {
  test.each([
    ["primary", "postgres", "mysql"],
    ["primary", "mysql", "mariadb"],
    ["secondary", "mariadb", "postgres"],
  ])("%s running %s with databaseEngine set to %s stops the preview with the key and the fix, before anything but the provider is declared", async (stack, running, configured) => {
    const failure = (await evaluateStack({
      stack,
      overrides: { databaseEngine: configured, dbEngineVersion: "" },
      stackReferences: { kind: "unreachable" },
      world: { deployedDatabaseEngine: running },
    }).catch((error: unknown) => error)) as EvaluationError;
    expect(failure).toBeInstanceOf(EvaluationError);
    expect(failure.cause).toBeInstanceOf(EngineSwitchError);
    expect(failure.message).toMatch(new RegExp(`^drstack cannot deploy: databaseEngine is ${configured}, but this site's database already runs `));
    expect(failure.message).toContain(`acme-shop-dr-${stack}-db is an RDS ${running} instance`);
    expect(failure.message).toContain(`RDS cannot change an instance's engine, and drstack never replaces a database`);
    expect(failure.message).toContain(`Fix: pulumi -s ${stack} config set databaseEngine ${running}`);
    expect(declared(failure)).toEqual(["pulumi:providers:aws"]);
  });

  test("a site whose instances run the configured engine, or do not exist yet, passes; the lookup asks for every generation of the site in its own region", async () => {
    const evaluation = await evaluate("primary", { primaryDatabaseGeneration: "2" });
    const lookups = evaluation.invokeCalls.filter(
      (call) => call.token === "aws:rds/getInstances:getInstances" && ((call.inputs.filters ?? []) as Array<{ name: string }>).some((filter) => filter.name === "engine"),
    );
    expect(lookups.map((call) => (call.inputs.filters as Array<{ name: string; values: string[] }>).find((filter) => filter.name === "engine")?.values).sort()).toEqual([["mariadb"], ["mysql"]]);
    for (const call of lookups) {
      expect((call.inputs.filters as Array<{ name: string; values: string[] }>).find((filter) => filter.name === "db-instance-id")?.values).toEqual(siteInstanceIdentifiers("acme-shop-dr", "primary", 2));
      expect(call.provider).toMatch(/pulumi:providers:aws::primary-aws/);
    }
  });
});
