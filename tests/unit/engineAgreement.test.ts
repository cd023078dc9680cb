/**
 * The program (infra/engines.ts) and the backup code (lambdas/core/engine.ts)
 * each keep the list of engines, because the program never imports lambdas/.
 * This test is where the two meet: a new engine is added to both or to neither.
 */
import { DATABASE_ENGINES } from "../../infra/engines";
import { BACKUP_ENGINES, engineOfUrl } from "../../lambdas/core/engine";

describe("the engines of the program and of the backup code", () => {
  it("are the same list", () => {
    expect([...BACKUP_ENGINES]).toEqual([...DATABASE_ENGINES]);
  });

  it("each engine's URL scheme names it for the backup code", () => {
    for (const engine of DATABASE_ENGINES) expect(engineOfUrl(`${engine}://user@host/db`)).toBe(engine);
  });
});
