import { expect } from 'chai';
import { Lru } from '../web/public/operations.js';

describe('public site caches are bounded (issue 18: thousands of organisations must not grow the process without limit)', () => {
  it('evicts the least recently used entries by count', () => {
    const lru = new Lru<number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).to.equal(1); // a is now the most recent
    lru.set('c', 3);
    expect(lru.get('b')).to.equal(undefined);
    expect(lru.get('a')).to.equal(1);
    expect(lru.get('c')).to.equal(3);
  });

  it('evicts by total size when given one, and keeps the total right through replacements and deletions', () => {
    const lru = new Lru<Buffer>(100, { maxSize: 10, sizeOf: (b) => b.length });
    lru.set('a', Buffer.alloc(4));
    lru.set('b', Buffer.alloc(4));
    expect(lru.size).to.equal(8);
    lru.set('a', Buffer.alloc(2)); // replaced, not added
    expect(lru.size).to.equal(6);
    lru.set('c', Buffer.alloc(6)); // 12 > 10: the oldest (b) goes
    expect(lru.get('b')).to.equal(undefined);
    expect(lru.size).to.equal(8);
    lru.delete('c');
    expect(lru.size).to.equal(2);
    lru.set('huge', Buffer.alloc(50)); // larger than the bound alone: kept (the one page being served), the rest evicted
    expect(lru.get('a')).to.equal(undefined);
    expect(lru.size).to.equal(50);
  });

  it('can be raised to hold a larger working set (every published figure set an organisation page reads), never lowered', () => {
    const lru = new Lru<number>(2);
    lru.ensureCapacity(4);
    for (const k of ['a', 'b', 'c', 'd']) lru.set(k, 1);
    expect(['a', 'b', 'c', 'd'].map((k) => lru.get(k))).to.deep.equal([1, 1, 1, 1]);
    lru.ensureCapacity(1);
    lru.set('e', 1);
    expect(lru.get('a')).to.equal(undefined); // still 4
    expect(lru.get('b')).to.equal(1);
  });
});
