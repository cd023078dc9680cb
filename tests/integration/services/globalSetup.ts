import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { startServices, SERVICES_FILE } from "./services";

export default async function globalSetup(): Promise<void> {
  const coords = await startServices();
  mkdirSync(dirname(SERVICES_FILE), { recursive: true });
  writeFileSync(SERVICES_FILE, JSON.stringify(coords, null, 2));
  process.env.DRSTACK_SERVICES_FILE = SERVICES_FILE;
}
