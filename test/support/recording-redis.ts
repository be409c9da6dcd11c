import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/store/redis/connect.js';

/** A client of the Redis at `url` that notes the name of every command it sends in `sent`. */
export async function recordingClient(url: string, sent: string[]): Promise<Redis> {
  const client = (await connectRedis({ url, commandTimeoutMs: 2000 })) as Redis;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: { name: string }, stream?: unknown) => {
    sent.push(command.name);
    return send(command as never, stream as never);
  }) as typeof client.sendCommand;
  return client;
}
