// Stream-name patterns as the hub matches them (docs/protocol.md, "Model"):
// `*` is one whole segment or a glob inside one segment, `**` is any number
// of segments (including none). Patterns not starting with `$sys/` never
// match system streams. Pure functions; no state.

function segmentMatches(pattern: string, segment: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === segment;
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(segment);
}

function matchFrom(pat: string[], pi: number, seg: string[], si: number): boolean {
  if (pi === pat.length) return si === seg.length;
  if (pat[pi] === '**') {
    for (let k = si; k <= seg.length; k++) {
      if (matchFrom(pat, pi + 1, seg, k)) return true;
    }
    return false;
  }
  if (si === seg.length) return false;
  return segmentMatches(pat[pi], seg[si]) && matchFrom(pat, pi + 1, seg, si + 1);
}

/** True when `stream` is matched by `pattern`. */
export function matchPattern(pattern: string, stream: string): boolean {
  if (stream.startsWith('$sys/') && !pattern.startsWith('$sys/')) return false;
  return matchFrom(pattern.split('/'), 0, stream.split('/'), 0);
}
