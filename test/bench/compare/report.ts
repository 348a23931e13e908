/**
 * The comparison as text: a table per scenario (every metric, every broker, the ratios against
 * the issue's targets) and one markdown summary of the headline figures for the README.
 * Medians over the runs that produced figures; a run that did not is never averaged away: its
 * status shows in the cell or in a note under the table.
 */
import { PEER_LABELS, type PeerKind } from '../lib/peers.js';
import { median } from '../lib/stats.js';
import { GENERATOR_BUSY_PERCENT, type Metrics, type Scenario } from './scenario.js';
import type { RunOutcome, ScenarioOutcomes } from './run-compare.js';

export const ALL_KINDS: readonly PeerKind[] = ['midge-memory', 'midge-level', 'mosquitto', 'aedes'];

/** Why a broker has no runs at all: 'n/a (3.1.1 only)', 'not installed'. */
export type Absences = Partial<Record<PeerKind, string>>;

export interface PeerFigures {
  medians: Metrics | undefined;
  /** Set when no run produced figures: 'died', 'timeout', … */
  failure: string | undefined;
  /** Runs that did not finish cleanly, one line each. */
  notes: string[];
  isGeneratorBusy: boolean;
}

export function peerFigures(outcomes: RunOutcome[]): PeerFigures {
  const withMetrics = outcomes.filter((o) => o.metrics);
  const notes = outcomes.flatMap((o, i) => (o.status === 'ok' ? [] : [`run ${i + 1}: ${o.status}${o.note ? ` — ${o.note}` : ''}`]));
  if (withMetrics.length === 0) {
    const statuses = [...new Set(outcomes.map((o) => o.status))].join('/');
    return { medians: undefined, failure: statuses, notes, isGeneratorBusy: false };
  }
  const medians: Metrics = {};
  for (const key of Object.keys(withMetrics[0]!.metrics!)) medians[key] = median(withMetrics.map((o) => o.metrics![key]!));
  return { medians, failure: undefined, notes, isGeneratorBusy: (medians.generatorCpuPercent ?? 0) >= GENERATOR_BUSY_PERCENT };
}

export function formatNumber(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  // Small figures keep a decimal so 0.8 does not print as 1.
  const d = digits === 0 && Math.abs(value) < 10 && value !== Math.round(value) ? 1 : digits;
  return value.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : undefined;
}

function formatRatio(value: number | undefined, target?: number): string {
  if (value === undefined) return '–';
  const text = value.toFixed(2);
  return target === undefined ? text : `${text} (≥ ${target} ${value >= target ? '✓' : '✗'})`;
}

function padTable(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`.trimEnd());
}

function digitsOf(scenario: Scenario, key: string): number {
  return scenario.metrics.find((m) => m.key === key)?.digits ?? 0;
}

export function scenarioTable(outcomes: ScenarioOutcomes, runs: number, absences: Absences): string[] {
  const { scenario } = outcomes;
  const figures = new Map<PeerKind, PeerFigures>();
  for (const kind of ALL_KINDS) if (outcomes.runs[kind]) figures.set(kind, peerFigures(outcomes.runs[kind]!));
  const rows: string[][] = [['broker', ...scenario.metrics.map((m) => m.label)]];
  for (const kind of ALL_KINDS) {
    const f = figures.get(kind);
    if (!f) rows.push([PEER_LABELS[kind], absences[kind] ?? 'not run']);
    else if (!f.medians) rows.push([PEER_LABELS[kind], f.failure!]);
    else rows.push([`${PEER_LABELS[kind]}${f.isGeneratorBusy ? ' †' : ''}`, ...scenario.metrics.map((m) => formatNumber(f.medians![m.key], m.digits))]);
  }
  const lines = [`\n${scenario.number}. ${scenario.title} — median of ${runs} (${outcomes.seconds.toFixed(0)} s)`, ...padTable(rows)];
  const value = (kind: PeerKind, key: string): number | undefined => figures.get(kind)?.medians?.[key];
  for (const h of scenario.headlines) {
    const parts = [
      `Midge memory/Mosquitto ${formatRatio(ratio(value('midge-memory', h.key), value('mosquitto', h.key)))}`,
      `Midge level/Mosquitto ${formatRatio(ratio(value('midge-level', h.key), value('mosquitto', h.key)), h.target?.mosquitto)}`,
      `Midge memory/Aedes ${formatRatio(ratio(value('midge-memory', h.key), value('aedes', h.key)), h.target?.aedes)}`,
      `Midge level/Aedes ${formatRatio(ratio(value('midge-level', h.key), value('aedes', h.key)), h.target?.aedes)}`,
    ];
    lines.push(`  ${h.label}: ${parts.join(' · ')}`);
  }
  for (const [kind, f] of figures) for (const note of f.notes) lines.push(`  note: ${PEER_LABELS[kind]} ${note}`);
  if ([...figures.values()].some((f) => f.isGeneratorBusy)) {
    lines.push(`  † load generator at ≥ ${GENERATOR_BUSY_PERCENT}% CPU while timed: this figure may be the generator's ceiling, not the broker's`);
  }
  return lines;
}

/** One markdown table of every scenario's headline figures, ready for the README. */
export function summaryMarkdown(all: ScenarioOutcomes[], absences: Absences, caption: string, generatorNote: string): string {
  const lines = [
    caption,
    '',
    '| scenario | Midge memory | Midge level | Mosquitto | Aedes | Midge level/Mosquitto | Midge/Aedes (memory / level) |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const footnotes: string[] = [];
  let isAnyGeneratorBusy = false;
  for (const outcomes of all) {
    const { scenario } = outcomes;
    const figures = new Map<PeerKind, PeerFigures>();
    for (const kind of ALL_KINDS) if (outcomes.runs[kind]) figures.set(kind, peerFigures(outcomes.runs[kind]!));
    for (const [kind, f] of figures) for (const note of f.notes) footnotes.push(`- ⚠ ${scenario.number}, ${PEER_LABELS[kind]} ${note}`);
    scenario.headlines.forEach((h, i) => {
      const value = (kind: PeerKind): number | undefined => figures.get(kind)?.medians?.[h.key];
      const cell = (kind: PeerKind): string => {
        const f = figures.get(kind);
        if (!f) return absences[kind] ?? 'not run';
        if (!f.medians) return f.failure!;
        const isBusy = f.isGeneratorBusy && h.canBeGeneratorBound === true;
        isAnyGeneratorBusy ||= isBusy;
        const busy = isBusy ? ' †' : '';
        return `${formatNumber(value(kind), digitsOf(scenario, h.key))}${busy}${f.notes.length ? ' ⚠' : ''}`;
      };
      const levelVsMosquitto = formatRatio(ratio(value('midge-level'), value('mosquitto')), h.target?.mosquitto);
      const memoryVsAedes = ratio(value('midge-memory'), value('aedes'));
      const levelVsAedes = ratio(value('midge-level'), value('aedes'));
      const vsAedes = absences.aedes
        ? absences.aedes
        : memoryVsAedes === undefined && levelVsAedes === undefined
          ? '–'
          : `${formatRatio(memoryVsAedes)} / ${formatRatio(levelVsAedes)}${h.target?.aedes !== undefined ? ` (≥ ${h.target.aedes} ${Math.min(memoryVsAedes ?? 0, levelVsAedes ?? 0) >= h.target.aedes ? '✓' : '✗'})` : ''}`;
      const label = i === 0 ? `${scenario.number}. ${h.label}` : h.label;
      lines.push(`| ${label} | ${ALL_KINDS.map(cell).join(' | ')} | ${levelVsMosquitto} | ${vsAedes} |`);
    });
  }
  lines.push('');
  if (generatorNote) lines.push(generatorNote, '');
  lines.push('Ratios are Midge ÷ peer of the figure in that row (for "lower is better" rows, below 1 favours Midge).');
  if (isAnyGeneratorBusy) lines.push(`† the load generator was at ≥ ${GENERATOR_BUSY_PERCENT}% CPU while timed: the figure may be its ceiling, not the broker's.`);
  if (footnotes.length) lines.push('', ...footnotes);
  return lines.join('\n');
}
