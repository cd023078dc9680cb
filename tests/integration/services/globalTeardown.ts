import { rmSync } from "node:fs";
import { readCoordinates, stopServices, SERVICES_FILE } from "./services";

export default async function globalTeardown(): Promise<void> {
  await stopServices(readCoordinates());
  rmSync(SERVICES_FILE, { force: true });
}
