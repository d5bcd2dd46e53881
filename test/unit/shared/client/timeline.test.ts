import fc from 'fast-check';
import { backoffDelay, cursorAt, Timeline } from '../../../../shared/client';
import { newId } from '../../../../shared/ids';

describe('Timeline', () => {
  it('holds any arrival order, duplicates included, once each in id order', () => {
    const id = fc.stringMatching(/^[0-9A-Z]{4}$/);
    fc.assert(
      fc.property(fc.array(id, { maxLength: 60 }), (ids) => {
        const timeline = new Timeline<{ id: string }>();
        for (const value of ids) timeline.add({ id: value });

        expect(timeline.items().map((item) => item.id)).toEqual([...new Set(ids)].sort());
      }),
    );
  });

  it('says whether an item was new, lists newest first, and removes by predicate', () => {
    const timeline = new Timeline<{ id: string; author: string }>();

    expect(timeline.add({ id: 'B', author: 'bob' })).toBe(true);
    expect(timeline.add({ id: 'A', author: 'ann' })).toBe(true);
    expect(timeline.add({ id: 'B', author: 'bob' })).toBe(false);
    expect(timeline.newest(1)).toEqual([{ id: 'B', author: 'bob' }]);
    timeline.removeWhere((item) => item.author === 'bob');

    expect(timeline.items()).toEqual([{ id: 'A', author: 'ann' }]);
    expect(timeline.has('B')).toBe(false);
  });
});

describe('backoffDelay', () => {
  it('stays under a ceiling that doubles per attempt up to the maximum', () => {
    const options = { initialMs: 100, maxMs: 1_000 };

    expect(backoffDelay(0, options, () => 0.999)).toBeLessThanOrEqual(100);
    expect(backoffDelay(2, options, () => 0.999)).toBeLessThanOrEqual(400);
    expect(backoffDelay(2, options, () => 0.999)).toBeGreaterThan(390);
    expect(backoffDelay(30, options, () => 0.999)).toBeLessThanOrEqual(1_000);
    expect(backoffDelay(3, options, () => 0)).toBe(0);
  });
});

describe('cursorAt', () => {
  it('sorts before every status id created from that time on, and after older ones', () => {
    const older = newId();
    const at = Date.now() + 2;
    while (Date.now() <= at) {
      // wait for the clock to pass `at`
    }
    const newer = newId();

    expect(cursorAt(at) > older).toBe(true);
    expect(cursorAt(at) < newer).toBe(true);
    expect(cursorAt(at)).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});
