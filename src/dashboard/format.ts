/** Numbers for people: thousands separators and units, in the browser's locale. */
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function count(n: number): string {
  return integer.format(n);
}

/** Rates: one decimal below 100, whole numbers above. */
export function rate(n: number, unit: string): string {
  return `${n < 100 ? decimal.format(n) : integer.format(n)} ${unit}`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number, suffix = ''): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? integer.format(value) : decimal.format(value)} ${BYTE_UNITS[unit]}${suffix}`;
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const parts: string[] = [];
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) parts.push(`${count(days)} d`);
  if (hours > 0 || days > 0) parts.push(`${hours} h`);
  if (days === 0) parts.push(`${minutes} min`);
  return parts.join(' ');
}

export function since(iso: string | null): string {
  if (iso === null) return '—';
  const date = new Date(iso);
  return `${date.toLocaleString()} (${duration((Date.now() - date.getTime()) / 1000)} ago)`;
}

export function protocolName(version: number): string {
  return version === 5 ? 'MQTT 5.0' : version === 4 ? 'MQTT 3.1.1' : 'MQTT 3.1';
}

/** Session Expiry Interval for people; 0xFFFFFFFF never expires. */
export function expiry(seconds: number): string {
  if (seconds === 0) return 'ends with connection';
  if (seconds >= 0xffffffff) return 'never';
  return duration(seconds);
}
