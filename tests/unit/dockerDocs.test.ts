import { renderFailoverAllowList } from "../../docs/readmeBlocks";
import { fillOptionalBlocks, hasBlock, OPTIONAL_BLOCKS } from "../../docs/rehearsal";
import { OFFLINE_SECRET_PLACEHOLDER_PREFIX } from "../../infra/configSchema";

jest.setTimeout(120_000);

/** README's generated Docker blocks (docs/rehearsal.ts, `npm run docs:rehearsal`) and the allow-list table's Docker rows (docs/readmeBlocks.ts, `npm run docs`). */

const block = (name: string, body = "stale") => `<!-- ${name}:start -->\n${body}\n<!-- ${name}:end -->`;

describe("the Docker pair's README blocks", () => {
  test("are filled where README has their markers, as the tool prints them today, and never show a secret", async () => {
    const document = ["# Docker", block("docker-plan"), "prose the lead wrote", block("docker-rehearsal"), block("docker-objectives"), ""].join("\n\n");
    const filled = await fillOptionalBlocks(document);
    expect(filled).toContain("prose the lead wrote");
    expect(filled).not.toContain("stale");
    expect(filled).toMatch(/<!-- docker-plan:start -->\n`npm run plan -- --stack primary --stack-dir examples\/docker`:\n\n```text\ndrstack plan: stack primary \(site primary, active, region bern-dc1/);
    expect(filled).toContain("DRSTACK_WRITER_CLAIM: databaseMode writer, epoch 2");
    expect(filled).toContain("<!-- drstack diff --stack secondary --stack-dir examples/docker --rehearse-failover -->");
    expect(filled).toMatch(/secondary \(examples\/docker\): failover rehearsal \(activeSite=secondary\)/);
    expect(filled).toMatch(/<!-- docker-objectives:start -->\n`npm run plan -- --stack primary --stack-dir examples\/docker` \(the DR posture part\):\n\n```text\nDR posture \(objectivesEnforcement: error\)/);
    expect(filled).not.toContain(OFFLINE_SECRET_PLACEHOLDER_PREFIX);
    // Filling again changes nothing: the block is what the tool prints.
    expect(await fillOptionalBlocks(filled)).toBe(filled);
  });

  test("are left alone where README has no markers (the lead places them)", async () => {
    const document = "# README\n\nno Docker section yet\n";
    expect(await fillOptionalBlocks(document)).toBe(document);
    expect(OPTIONAL_BLOCKS.map(([name]) => name)).toEqual(["docker-plan", "docker-rehearsal", "docker-objectives"]);
    expect(hasBlock(block("docker-plan"), "docker-plan")).toBe(true);
    expect(hasBlock("<!-- docker-plan:start -->", "docker-plan")).toBe(false);
  });
});

describe("the failover allow-list table", () => {
  test("says which Docker containers a flip replaces and which env entries it may change", () => {
    const table = renderFailoverAllowList();
    expect(table).toContain("| `docker:index/container:Container` named `^(primary\\|secondary)-storage-claim$` | `envs` (only the entry `DRSTACK_WRITER_CLAIM`); replaces the resource |");
    expect(table).toContain("`envs` (only the entry `DRSTACK_BACKUPS_SCHEDULED`), `labels` (only the label `drstack.writer-epoch`); replaces the resource");
    expect(table).toContain("| the resource itself (removed or added) |");
  });
});
