import type { StepDeclaration } from "../../../src/graph/step.ts";

/** A shell step declaration with defaults, for tests. */
export function step(name: string, after: string[] = [], extra: Partial<StepDeclaration> = {}): StepDeclaration {
  return { name, kind: "shell", after, before: [], supportsDryActivation: false, text: "", options: {}, source: "test.toml", ...extra };
}
