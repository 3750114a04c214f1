/**
 * The one way the admin API activates a rules version (docs/admin.md, "Maker-checker"): at once, audited before it
 * is made, or, with maker-checker, as a proposal for an approver. Used by the rules routes and by "block this card".
 */
import type { RuleVersionStore } from '../routing/versions.js';
import type { Principal } from './auth.js';
import { plain, type AdminContext } from './http.js';
import { PendingActivations, type PendingActivation } from './pending-activations.js';

/** The active version and its content hash, or null. */
export async function activeHash(store: RuleVersionStore): Promise<{ version: number; hash: string } | null> {
  const a = await store.active();
  return a ? { version: a.version, hash: (await store.get(a.version)).hash } : null;
}

/** Activates a version, audited before it is made (the proposer, with maker-checker, in the entry's detail). */
export async function activateAudited(ctx: AdminContext, p: Principal, version: number, comment: string, proposedBy?: string): Promise<unknown> {
  const { rules: store, audit } = ctx;
  const target = await store.get(version);
  const before = await activeHash(store);
  if (before?.version === version) {
    const a = (await store.active())!;
    return plain({ ...a, hash: target.hash, changed: false });
  }
  const a = await audit.change(
    {
      actor: p.name,
      role: p.role,
      action: 'rules.activate',
      target: `rules version ${version}`,
      beforeHash: before?.hash ?? null,
      afterHash: target.hash,
      detail: { version, previous: before?.version ?? null, comment, ...(proposedBy ? { proposedBy, approvedBy: p.name } : {}) },
    },
    () => store.activate(version, { actor: p.name, comment: proposedBy ? `${comment} (proposed by ${proposedBy}, approved by ${p.name})` : comment }),
  );
  return plain({ ...a, hash: target.hash, changed: true });
}

/** Activates now (200), or with maker-checker records a proposal for an approver (202), audited either way. */
export async function activateOrPropose(
  ctx: AdminContext,
  p: Principal,
  version: number,
  comment: string,
): Promise<{ status: 200; body: unknown } | { status: 202; body: PendingActivation }> {
  if (!ctx.deps.makerChecker) return { status: 200, body: await activateAudited(ctx, p, version, comment) };
  const target = await ctx.rules.get(version); // 404 for a version that does not exist
  const pending = await new PendingActivations(ctx.deps.pool).propose(version, comment, p.name);
  await ctx.audit.record({
    actor: p.name,
    role: p.role,
    action: 'rules.propose',
    target: `rules version ${version}`,
    afterHash: target.hash,
    detail: { version, pending: pending.id, comment },
  });
  return { status: 202, body: pending };
}
