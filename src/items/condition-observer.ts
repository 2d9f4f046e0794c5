/**
 * Injection token of an optional observer of the conditions the items service decides itself, after a
 * read: the observability module counts them beside the store's operations. A port, like
 * ITEMS_REPOSITORY_DECORATOR, so that items depends on no observability code.
 */
export const ITEMS_CONDITION_OBSERVER = Symbol('ItemsConditionObserver');

export interface ItemsConditionObserver {
  /**
   * `not_modified`: a read whose If-None-Match named the item's tag (answered 304). `precondition_failed`:
   * a replace or remove refused because If-Match named another version; the write never ran.
   */
  decided(op: 'find' | 'replace' | 'remove', outcome: 'not_modified' | 'precondition_failed'): void;
}
