/** A binary min-heap ordered by a numeric priority, ties broken by insertion order. */
export class MinHeap<T> {
  #items: { priority: number; seq: number; value: T }[] = [];
  #seq = 0;

  get size(): number {
    return this.#items.length;
  }

  push(priority: number, value: T): void {
    const items = this.#items;
    const entry = { priority, seq: this.#seq++, value };
    let index = items.push(entry) - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#less(entry, items[parent]!)) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = entry;
  }

  peekPriority(): number | undefined {
    return this.#items[0]?.priority;
  }

  peek(): T | undefined {
    return this.#items[0]?.value;
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    if (items.length > 0) {
      let index = 0;
      const length = items.length;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= length) break;
        const right = left + 1;
        const child = right < length && this.#less(items[right]!, items[left]!) ? right : left;
        if (!this.#less(items[child]!, last)) break;
        items[index] = items[child]!;
        index = child;
      }
      items[index] = last;
    }
    return top.value;
  }

  clear(): void {
    this.#items = [];
  }

  #less(
    a: { priority: number; seq: number },
    b: { priority: number; seq: number },
  ): boolean {
    return a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);
  }
}
