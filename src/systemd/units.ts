/**
 * Unit records as the Manager reports them, converted from D-Bus wire values. Pure.
 */

/** One row of ListUnits / ListUnitsByPatterns. */
export interface UnitListEntry {
  name: string;
  description: string;
  loadState: string;
  activeState: string;
  subState: string;
  /** Non-empty when this unit is an alias that follows another one. */
  following: string;
  /** The unit's object path. */
  path: string;
  /** 0 when no job is queued. */
  jobId: number;
  jobType: string;
  jobPath: string;
}

/** Converts the `a(ssssssouso)` reply of ListUnits / ListUnitsByPatterns. */
export function parseUnitList(rows: unknown): UnitListEntry[] {
  if (!Array.isArray(rows)) throw new Error(`ListUnits reply is not an array: ${String(rows)}`);
  return rows.map((r) => {
    const [name, description, loadState, activeState, subState, following, path, jobId, jobType, jobPath] = r as unknown[];
    return {
      name: String(name), description: String(description), loadState: String(loadState),
      activeState: String(activeState), subState: String(subState), following: String(following),
      path: String(path), jobId: Number(jobId), jobType: String(jobType), jobPath: String(jobPath),
    };
  });
}

/** The unit state a switch and `stagehand systemd show` look at. */
export interface UnitProperties {
  id: string;
  description: string;
  loadState: string;
  activeState: string;
  subState: string;
  /** The unit file systemd loaded ("" for generated or transient units without one). */
  fragmentPath: string;
  /** Drop-ins in effect. */
  dropInPaths: string[];
  /** CLOCK_REALTIME µs of the last activation (0 if never). */
  activeEnterTimestamp: number;
  /** Services only. */
  mainPID?: number;
  execMainStatus?: number;
  nRestarts?: number;
  result?: string;
}

/** A D-Bus integer (u/i arrive as number, t/x as bigint) as a number. */
export function toNumber(v: unknown): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number") return v;
  return Number(v ?? 0);
}

/** Builds UnitProperties from GetAll of org.freedesktop.systemd1.Unit (and .Service, if any). */
export function unitPropertiesFrom(unit: Record<string, unknown>, service?: Record<string, unknown>): UnitProperties {
  const props: UnitProperties = {
    id: String(unit.Id ?? ""),
    description: String(unit.Description ?? ""),
    loadState: String(unit.LoadState ?? ""),
    activeState: String(unit.ActiveState ?? ""),
    subState: String(unit.SubState ?? ""),
    fragmentPath: String(unit.FragmentPath ?? ""),
    dropInPaths: Array.isArray(unit.DropInPaths) ? unit.DropInPaths.map(String) : [],
    activeEnterTimestamp: toNumber(unit.ActiveEnterTimestamp),
  };
  if (service) {
    props.mainPID = toNumber(service.MainPID);
    props.execMainStatus = toNumber(service.ExecMainStatus);
    props.nRestarts = toNumber(service.NRestarts);
    props.result = String(service.Result ?? "");
  }
  return props;
}

/** Whether a unit name has a type with a Service interface. */
export function isServiceUnit(name: string): boolean {
  return name.endsWith(".service");
}
