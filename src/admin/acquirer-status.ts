/**
 * AcquirerQueries from the real modules: acquirer links, the failure detector and the breakers. Remembers
 * each link's last connection failure (code and reason only) from its events.
 */
import type { AcquirerLink } from '../net/link/link.js';
import type { AcquirerQueries, AcquirerStatus } from './deps.js';
import type { ManualControl } from '../routing/manual-controls.js';

export interface AcquirerStatusSources {
  /** The links, or a function of the links running now (an activation adds, replaces and removes them). */
  links: readonly AcquirerLink[] | (() => readonly AcquirerLink[]);
  detector?: { health(id: string): { alive: boolean; score: number; volume: number; reason: string } };
  breakers?: { state(id: string): 'closed' | 'open' | 'half_open' | undefined };
  controls?: { get(kind: 'acquirer', id: string): ManualControl | undefined };
}

export class LinkStatusBoard implements AcquirerQueries {
  private readonly lastError = new Map<string, AcquirerStatus['lastError']>();
  private readonly offs: (() => void)[] = [];
  private readonly watched = new WeakSet<AcquirerLink>();

  constructor(private readonly s: AcquirerStatusSources) {
    this.links();
  }

  /** The links now, each one's 'failed' events followed from the first time it is seen. */
  private links(): readonly AcquirerLink[] {
    const links = typeof this.s.links === 'function' ? this.s.links() : this.s.links;
    for (const l of links) {
      if (this.watched.has(l)) continue;
      this.watched.add(l);
      const on = (e: { reason: string; code?: string }): void => {
        this.lastError.set(l.name, { code: e.code ?? null, reason: e.reason.slice(0, 200), at: new Date().toISOString() });
      };
      l.on('failed', on);
      this.offs.push(() => l.off('failed', on));
    }
    return links;
  }

  list(): AcquirerStatus[] {
    return this.links().map((l) => {
      const h = this.s.detector?.health(l.name);
      return {
        id: l.name,
        connections: { ready: l.readyCount, configured: l.options.connections },
        inFlight: l.inFlight,
        linkUp: l.readyCount > 0,
        breaker: this.s.breakers?.state(l.name) ?? (this.s.breakers ? 'closed' : 'unknown'),
        detector: h ? { alive: h.alive, score: h.score, volume: h.volume, reason: h.reason } : { alive: true, score: 0, volume: 0, reason: 'no detector' },
        lastError: this.lastError.get(l.name) ?? null,
        control: controlOf(this.s.controls?.get('acquirer', l.name)),
      };
    });
  }

  close(): void {
    for (const off of this.offs) off();
  }
}

function controlOf(c: ManualControl | undefined): AcquirerStatus['control'] {
  return c ? { state: c.state, reason: c.reason, actor: c.actor, expiresAt: c.expiresAt } : null;
}
