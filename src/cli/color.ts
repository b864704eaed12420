/**
 * Whether a stream gets colours when no flag says otherwise, as Node's own tty module decides it
 * (and https://no-color.org, https://force-color.org): FORCE_COLOR set to anything but "0" or
 * "false" turns them on even for a pipe; otherwise NO_COLOR (any non-empty value) or TERM=dumb turns
 * them off; otherwise a terminal gets them and a pipe or file does not. `--no-color` beats all of it.
 */
export function colorWanted(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}
