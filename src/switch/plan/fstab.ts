/** The fstab pass of the planner: ng's comparison of the running and the new /etc/fstab. */
import { automountUnitName, mountUnitName } from "../../fstab/escape.ts";
import { parseFstab } from "../../fstab/fstab.ts";
import { add, type PlanInput, sortUnits, type UnitPlan } from "./model.ts";

/** The fstab pass: changed mounts restart or remount, removed ones stop, removed swaps go off. */
export function planFstab(plan: UnitPlan, input: PlanInput): void {
  const cur = parseFstab(input.oldFstab ?? "");
  const next = parseFstab(input.newFstab ?? "");
  for (const mountpoint of sortUnits(Object.keys(cur.filesystems))) {
    const c = cur.filesystems[mountpoint]!;
    const mountUnit = mountUnitName(mountpoint);
    const n = Object.hasOwn(next.filesystems, mountpoint) ? next.filesystems[mountpoint] : undefined;
    if (n) {
      if (c.fsType !== n.fsType || c.device !== n.device) {
        const what = c.fsType !== n.fsType ? `type ${c.fsType} -> ${n.fsType}` : `device ${c.device} -> ${n.device}`;
        if (mountpoint === "/" || mountpoint === "/nix") {
          if (c.options !== n.options) add(plan.reload, mountUnit, `fstab: ${what} and options changed for ${mountpoint}; / and /nix are only remounted`);
          else add(plan.skip, mountUnit, `fstab: ${what} for ${mountpoint}; / and /nix are never unmounted`);
        } else {
          add(plan.restart, mountUnit, `fstab: ${what} for ${mountpoint}`);
        }
      } else if (c.options !== n.options) {
        add(plan.reload, mountUnit, `fstab: options ${c.options} -> ${n.options} for ${mountpoint} (remount)`);
      }
    } else if (c.options.includes("x-systemd.automount")) {
      add(plan.stop, automountUnitName(mountpoint), `fstab: ${mountpoint} removed (stopping the automount stops the mount)`);
    } else {
      add(plan.stop, mountUnit, `fstab: ${mountpoint} removed`);
    }
  }
  for (const device of sortUnits(Object.keys(cur.swaps))) {
    if (!Object.hasOwn(next.swaps, device)) plan.swapsToStop.push({ device, reason: "fstab: swap entry removed (turned off with swapoff)" });
  }
}

