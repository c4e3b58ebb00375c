/**
 * Read-only object graphs: values shared instead of copied (stored values the embedded store hands out,
 * one watch event's object sent to every watcher) are frozen so a stray mutation throws where it is
 * made instead of corrupting what everyone else reads.
 */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
