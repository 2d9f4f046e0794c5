import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const HEAP_GROWING = '--heap-growing-percent=';

/**
 * `--heap-growing-percent=30` (start:prod, the image) keeps RSS down under load, but while the store
 * loads it makes V8 collect the whole growing heap every 30%: with a million items, a quarter of the
 * start-up time was the collector, and start to ready took 5.1 s instead of 3.7 s (bench/README.md,
 * "Scale"). So the heap grows at V8's own pace until the service is ready, and at the configured one
 * from then on. V8 reads the flag at each collection, so setting it at run time takes effect.
 * Returns the function that puts the configured pace back; a no-op when none was configured.
 */
export function relaxHeapGrowthUntilReady(execArgv: readonly string[] = process.execArgv): () => void {
  const configured = execArgv.find((arg) => arg.startsWith(HEAP_GROWING));
  if (configured === undefined) return () => undefined;
  setFlagsFromString(`${HEAP_GROWING}0`);
  return () => {
    setFlagsFromString(configured);
    // The limit V8 set while loading is V8's pace, far above 30% over what is live: a full collection
    // now sets the next one by the configured pace, or the heap would fill up to the old limit first.
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  };
}
