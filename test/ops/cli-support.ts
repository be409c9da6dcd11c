// What the command-line tests (cli-*.test.ts) share.

/** Runs the jobs a few at a time: many tsx starts at once on a busy 2-core machine meet runCli's timeout. */
export async function inBatches<T>(jobs: Array<() => Promise<T>>, size = 4): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < jobs.length; i += size) results.push(...(await Promise.all(jobs.slice(i, i + size).map((job) => job()))));
  return results;
}
