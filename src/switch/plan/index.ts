/**
 * The unit plan of a switch, pure: what to stop, start, restart and reload, decided from what the
 * caller read (switch/load.ts), and its printed forms. Nothing here touches the machine.
 */
export * from "./activation.ts";
export { planFstab } from "./fstab.ts";
export { type ActiveUnit, activeUnitsFrom, clonePlan, type Decisions, emptyPlan, type ListedUnit, listsToPersist, type PlanInput, sortUnits, type UnitPlan, visible, withdraw } from "./model.ts";
export { cannotBeRestartedDirectly } from "./modified.ts";
export { planSwitch, planSwitchReadingFragments } from "./planner.ts";
export * from "./print.ts";
export * from "./user.ts";
