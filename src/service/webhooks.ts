import type { AttemptRecord, Outbox } from '../store/types.js';
import { requireAppToken, type ServiceContext } from './context.js';

/** Recent delivery attempts listed unless asked. */
const ATTEMPTS_DEFAULT = 100;

export interface WebhookStatus {
  endpoints: Array<{ id: string; url: string; events: unknown; batch: { maxEvents: number; maxDelayMs: number } | null; pending: number }>;
  attempts: AttemptRecord[];
}

/** The app's webhook endpoints with their pending deliveries, and recent attempts (app tokens). */
export function webhookService(store: Pick<Outbox, 'outboxDepth' | 'recentAttempts'>) {
  return {
    async status(ctx: ServiceContext, limit?: number): Promise<WebhookStatus> {
      requireAppToken(ctx.principal);
      const { app } = ctx;
      const endpoints = await Promise.all(
        app.webhooks.map(async (w) => ({
          id: w.id,
          url: w.url,
          events: w.events ?? 'all',
          batch: w.batch,
          pending: await store.outboxDepth(app.appId, w.id),
        })),
      );
      const attempts = await store.recentAttempts(app.appId, limit ?? ATTEMPTS_DEFAULT);
      return { endpoints, attempts };
    },
  };
}

export type WebhookService = ReturnType<typeof webhookService>;
