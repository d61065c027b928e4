import { describe, expect, it } from 'vitest';
import { findLeaks } from './scan.ts';

describe('findLeaks', () => {
  const secret = '1//0gAbCdEfGhIjKlMnOp-refresh';
  it('finds a secret verbatim and percent-encoded', () => {
    const outputs = new Map([
      ['a', `{"message":"x ${secret}"}`],
      ['b', `location: https://x/?code=${encodeURIComponent('4/0AbCdEfGhIjKlMn')}`],
      ['c', 'clean'],
    ]);
    const leaks = findLeaks(outputs, [secret, '4/0AbCdEfGhIjKlMn']);
    expect(leaks.map((leak) => leak.file).sort()).toEqual(['a', 'b']);
  });
  it('reports nothing for clean output', () => {
    expect(findLeaks(new Map([['a', 'nothing here']]), [secret])).toEqual([]);
  });
});
