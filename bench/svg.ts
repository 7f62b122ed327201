/**
 * A small line chart as SVG text (no dependency): linear axes from zero, one polyline with dots per
 * series, an optional dashed goal line. Enough for the committed scaling chart.
 */

/** One x value and the y value of each named series at it. */
export interface ChartPoint { x: number; series: Record<string, number> }

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A "nice" axis maximum and step (1, 2 or 5 times a power of ten) covering `max`. */
function niceAxis(max: number, ticks = 5): { top: number; step: number } {
  const raw = max / ticks || 1;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

/** Renders the chart. */
export function scalingChart(points: ChartPoint[], opts: { title: string; xLabel: string; yLabel: string; goalMs?: number }): string {
  const W = 720, H = 420, L = 70, R = 200, T = 40, B = 55;
  const pw = W - L - R, ph = H - T - B;
  const names = [...new Set(points.flatMap((p) => Object.keys(p.series)))];
  const xMax = niceAxis(Math.max(...points.map((p) => p.x)));
  const yData = Math.max(...points.flatMap((p) => Object.values(p.series)), opts.goalMs ?? 0);
  const yMax = niceAxis(yData * 1.05);
  const sx = (x: number) => L + (x / xMax.top) * pw;
  const sy = (y: number) => T + ph - (y / yMax.top) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
  ];
  for (let y = 0; y <= yMax.top + 1e-9; y += yMax.step) {
    out.push(`<line x1="${L}" x2="${L + pw}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${+y.toFixed(6)}</text>`);
  }
  for (let x = 0; x <= xMax.top + 1e-9; x += xMax.step) {
    out.push(`<line x1="${sx(x).toFixed(1)}" x2="${sx(x).toFixed(1)}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`,
      `<text x="${sx(x).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${+x.toFixed(6)}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${L + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text transform="translate(18 ${T + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  if (opts.goalMs !== undefined) {
    out.push(`<line x1="${L}" x2="${L + pw}" y1="${sy(opts.goalMs).toFixed(1)}" y2="${sy(opts.goalMs).toFixed(1)}" stroke="#888" stroke-dasharray="6 4"/>`,
      `<text x="${L + pw - 4}" y="${(sy(opts.goalMs) - 5).toFixed(1)}" text-anchor="end" fill="#555">goal ${opts.goalMs} ms</text>`);
  }
  names.forEach((name, i) => {
    const c = COLOURS[i % COLOURS.length];
    const pts = points.filter((p) => name in p.series).map((p) => [sx(p.x), sy(p.series[name]!)] as const);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ")}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${c}"/>`);
    const ly = T + 10 + i * 20;
    out.push(`<line x1="${L + pw + 15}" x2="${L + pw + 35}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"/>`,
      `<text x="${L + pw + 40}" y="${ly + 4}">${esc(name)}</text>`);
  });
  out.push("</svg>", "");
  return out.join("\n");
}
