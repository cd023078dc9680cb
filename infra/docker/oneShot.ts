import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/**
 * A container that runs once per change of its arguments and must succeed:
 * the provider waits for it (`attach`) and records its exit code, and does
 * not treat a stopped container as a failure only with `mustRun: false`
 * (terraform-provider-docker #106, which added `attach`; `rm` with `attach`
 * fails the read, kreuzwerker/terraform-provider-docker #639). The provider's
 * create succeeds whatever the exit code, so the program fails the `up`
 * itself when it is not 0, showing the output; `succeeded` is an Output that
 * rejects then, and a resource that takes it as an input is not changed.
 * The failed run stays in the state: once its cause is fixed, the error
 * names the `--replace` that runs it again.
 */
export interface OneShot {
  container: docker.Container;
  /** Resolves to "0" once the container exited 0; rejects (failing the up) otherwise. */
  succeeded: pulumi.Output<string>;
}

export function oneShotContainer(name: string, args: Omit<docker.ContainerArgs, "attach" | "mustRun" | "logs" | "rm" | "restart">, opts: pulumi.CustomResourceOptions): OneShot {
  const container = new docker.Container(name, { ...args, attach: true, mustRun: false, logs: true, rm: false, restart: "no" }, { ...opts, deleteBeforeReplace: true });
  const succeeded = pulumi
    .all([container.exitCode, container.containerLogs, container.name, container.urn])
    .apply(([exitCode, logs, containerName, urn]) => oneShotOutcome({ exitCode, logs, containerName, urn, stack: pulumi.getStack() }));
  return { container, succeeded };
}

/** "0" for a run that exited 0 (or has not run: a preview); a RunError with its output and the way to run it again otherwise. */
export function oneShotOutcome(run: { exitCode: number | undefined | null; logs: string | undefined; containerName: string; urn: string; stack: string }): string {
  if (run.exitCode !== undefined && run.exitCode !== null && run.exitCode !== 0) {
    throw new pulumi.RunError(
      `${run.containerName} exited with ${run.exitCode}. Its output:\n${run.logs || "(none)"}\n` +
        `Fix the cause, then run it again: pulumi -s ${run.stack} up --replace '${run.urn}'`,
    );
  }
  return String(run.exitCode ?? 0);
}

/** Whether a container is one of these, from its inputs (the offline plan and the tests tell them apart by it). */
export function isOneShot(inputs: Record<string, unknown>): boolean {
  return inputs.attach === true && inputs.mustRun === false;
}
