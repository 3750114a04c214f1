/**
 * The HAProxy configuration in front of N switch instances (docs/deploy.md, "Behind HAProxy"): one TCP
 * frontend on the PSP port, balanced by least connections over the instances' PSP ports, each instance
 * checked by its readiness endpoint (`GET /health/ready` on its admin port), and one HTTP frontend over the
 * instances' admin servers (console, API, metrics of whichever instance answers).
 *
 * When an instance stops answering its check it is taken out and the PSP sessions it carried are cut
 * (`on-marked-down shutdown-sessions`), so PSP clients reconnect through HAProxy to a live instance instead of
 * waiting on a half-open connection. A dead process's sockets are closed by its kernel at once anyway.
 */

export interface HaproxyInstance {
  name: string;
  host: string;
  pspPort: number;
  adminPort: number;
}

export interface HaproxyLayout {
  /** Where PSPs connect (host:port). */
  pspBind: string;
  /** Where the admin API and console are reached through HAProxy (host:port); null: no admin frontend. */
  adminBind: string | null;
  instances: readonly HaproxyInstance[];
  /** Readiness check period (ms); an instance is out after 2 failed checks and back after 1 good one. */
  checkIntervalMs?: number;
  /** Longest idle time of a PSP session (ms): PSP links are long-lived, echo-tested by the PSP. */
  pspIdleTimeoutMs?: number;
}

export function haproxyConfig(l: HaproxyLayout): string {
  const inter = l.checkIntervalMs ?? 500;
  const idle = l.pspIdleTimeoutMs ?? 3_600_000;
  const lines = [
    '# Generated for the switch instances behind HAProxy (docs/deploy.md, "Behind HAProxy").',
    'global',
    '  log stderr format short local0 notice',
    '',
    'defaults',
    '  log global',
    '  timeout connect 2s',
    '  retries 2',
    '',
    'frontend psp',
    '  mode tcp',
    `  bind ${l.pspBind}`,
    `  timeout client ${idle}ms`,
    '  default_backend switch_psp',
    '',
    'backend switch_psp',
    '  mode tcp',
    '  balance leastconn',
    `  timeout server ${idle}ms`,
    '  option httpchk',
    '  http-check send meth GET uri /health/ready',
    '  http-check expect status 200',
    `  default-server inter ${inter}ms fastinter ${Math.max(100, Math.floor(inter / 2))}ms fall 2 rise 1 on-marked-down shutdown-sessions`,
    ...l.instances.map((i) => `  server ${i.name} ${i.host}:${i.pspPort} check port ${i.adminPort}`),
  ];
  if (l.adminBind) {
    lines.push(
      '',
      'frontend admin',
      '  mode http',
      `  bind ${l.adminBind}`,
      '  timeout client 60s',
      '  default_backend switch_admin',
      '',
      'backend switch_admin',
      '  mode http',
      '  balance roundrobin',
      '  timeout server 60s',
      '  option httpchk',
      '  http-check send meth GET uri /health/ready',
      '  http-check expect status 200',
      `  default-server inter ${inter}ms fall 2 rise 1`,
      ...l.instances.map((i) => `  server ${i.name} ${i.host}:${i.adminPort} check`),
    );
  }
  return lines.join('\n') + '\n';
}
