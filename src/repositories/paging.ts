/** Offset paging of list reads (`?limit=&offset=`, docs/contract.md §5). */
export interface Page {
  readonly limit: number;
  readonly offset: number;
}

export interface PageResult<T> {
  readonly items: T[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}
