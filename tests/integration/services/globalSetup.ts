import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { readCoordinates, startServices, stopServices, SERVICES_FILE } from "./services";

export default async function globalSetup(): Promise<void> {
  // A run that crashed before its teardown leaves its services behind: stop them first.
  if (existsSync(SERVICES_FILE)) await stopServices(readCoordinates()).catch(() => undefined);
  const coords = await startServices();
  mkdirSync(dirname(SERVICES_FILE), { recursive: true });
  writeFileSync(SERVICES_FILE, JSON.stringify(coords, null, 2));
  process.env.DRSTACK_SERVICES_FILE = SERVICES_FILE;
}
