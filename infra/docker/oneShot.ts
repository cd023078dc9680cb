import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/**
 * A container that runs once per change of its arguments and must succeed:
 * the provider waits for it (`attach`) and records its exit code, and does
 * not treat a stopped container as a failure only with `mustRun: false`
 * (terraform-provider-docker #106, which added `attach`; `rm` with `attach`
 * fails the read, kreuzwerker/terraform-provider-docker #639). The program
 * fails the `up` itself when the exit code is not 0, showing its output.
 */
export function oneShotContainer(name: string, args: Omit<docker.ContainerArgs, "attach" | "mustRun" | "logs" | "rm" | "restart">, opts: pulumi.CustomResourceOptions): docker.Container {
  const container = new docker.Container(name, { ...args, attach: true, mustRun: false, logs: true, rm: false, restart: "no" }, { ...opts, deleteBeforeReplace: true });
  pulumi.all([container.exitCode, container.containerLogs, container.name]).apply(([exitCode, logs, containerName]) => {
    // Unknown in a preview; the exit code exists once the container ran.
    if (exitCode !== undefined && exitCode !== null && exitCode !== 0) {
      throw new pulumi.RunError(`${containerName} exited with ${exitCode}; nothing after it was changed. Its output:\n${logs ?? "(none)"}`);
    }
  });
  return container;
}

/** Whether a container is one of these, from its inputs (the offline plan and the tests tell them apart by it). */
export function isOneShot(inputs: Record<string, unknown>): boolean {
  return inputs.attach === true && inputs.mustRun === false;
}
