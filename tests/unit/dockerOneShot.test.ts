import { oneShotOutcome } from "../../infra/docker/oneShot";

/**
 * The provider's create of an attached container succeeds whatever its exit
 * code (kreuzwerker terraform-provider-docker: attach waits, then the read
 * records exit_code), so infra/docker/oneShot.ts fails the `up` itself with
 * this outcome; the agent takes it as an input (tests/unit/dockerSite.test.ts).
 */
const run = { logs: "mc: <ERROR> Unable to connect to s3.zurich-dc2.shop.example.ch:9000", containerName: "shop-dr-primary-writer-claim", urn: "urn:pulumi:primary::drstack::docker:index/container:Container::primary-storage-claim", stack: "primary" };

test("exit 0, or no run yet (a preview), resolves", () => {
  expect(oneShotOutcome({ ...run, exitCode: 0 })).toBe("0");
  expect(oneShotOutcome({ ...run, exitCode: undefined })).toBe("0");
});

test("a non-zero exit fails the up with the container's output and the --replace that runs it again", () => {
  expect(() => oneShotOutcome({ ...run, exitCode: 3 })).toThrow(
    /^shop-dr-primary-writer-claim exited with 3\. Its output:\nmc: <ERROR> Unable to connect.*\nFix the cause, then run it again: pulumi -s primary up --replace 'urn:pulumi:primary::drstack::docker:index\/container:Container::primary-storage-claim'$/s,
  );
  expect(() => oneShotOutcome({ ...run, exitCode: 1, logs: "" })).toThrow(/Its output:\n\(none\)/);
});
