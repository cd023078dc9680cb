import { deployStack } from "./infra";

// Pulumi runs an exported function and uses its result as the stack outputs.
export = () => deployStack();
