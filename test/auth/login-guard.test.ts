import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyGate } from '../../src/auth/concurrency-gate.js';
import { LoginGuard } from '../../src/auth/login-guard.js';
import { ApiError } from '../../src/domain/errors.js';
import { at } from '../support/at.js';

/** A task that runs until `release()` is called. */
function held() {
  let release!: () => void;
  const done = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { release, task: () => done };
}

describe('ConcurrencyGate', () => {
  it('runs at most `limit` tasks, queues `queueMax` more in order, refuses the rest at once', async () => {
    const gate = new ConcurrencyGate(2, 3, () => new Error('busy'));
    const started: number[] = [];
    const tasks = Array.from({ length: 6 }, () => held());
    const runs = tasks.map((t, i) =>
      gate.run(async () => {
        started.push(i);
        await t.task();
        return i;
      }),
    );
    await assert.rejects(at(runs, 5), /busy/);
    await Promise.resolve();
    assert.deepEqual(started, [0, 1]);
    at(tasks, 1).release();
    assert.equal(await runs[1], 1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [0, 1, 2]);
    for (const t of tasks) t.release();
    assert.deepEqual(await Promise.all(runs.slice(0, 5)), [0, 1, 2, 3, 4]);
  });
});

describe('LoginGuard', () => {
  const limits = { loginFailuresPerUser: 2, loginFailuresPerApp: 3, loginFailureWindowS: 60, loginConcurrencyPerApp: 1 };
  const locked = (scope: string) => (err: unknown) =>
    err instanceof ApiError && err.status === 429 && err.description.includes(`this ${scope}`);

  it('counts failures per user and per app, and does not run the check once over', async () => {
    const guard = new LoginGuard(limits);
    let checks = 0;
    const wrong = async () => {
      checks++;
      return false;
    };
    assert.equal(await guard.attempt('app1', 'u', wrong), false);
    assert.equal(await guard.attempt('app1', 'u', wrong), false);
    await assert.rejects(guard.attempt('app1', 'u', wrong), locked('user'));
    assert.equal(checks, 2);
    assert.equal(await guard.attempt('app1', 'v', wrong), false);
    await assert.rejects(
      guard.attempt('app1', 'w', async () => true),
      locked('app'),
    );
    assert.equal(await guard.attempt('app2', 'u', async () => true), true, 'another app');
  });

  it('gives back the attempts that succeed', async () => {
    const guard = new LoginGuard(limits);
    for (let i = 0; i < 10; i++) assert.equal(await guard.attempt('app1', 'u', async () => true), true);
  });
});
