import type pg from 'pg';

/**
 * Runs `fn` inside BEGIN … COMMIT on one pooled connection; any error rolls back and is rethrown, and the
 * connection always goes back to the pool: destroyed when its ROLLBACK failed, so no caller inherits a
 * transaction left open. (A connection that died is dropped by the pool itself, and createPool's clients
 * carry a permanent 'error' listener, so its death between two queries of `fn` is no crash.)
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let rolledBack = true;
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (e) {
    await client.query('rollback').catch(() => {
      rolledBack = false;
    });
    throw e;
  } finally {
    client.release(rolledBack ? undefined : true);
  }
}
