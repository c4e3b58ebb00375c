/**
 * Label and field selectors: apimachinery's operators, key/value validation and the Widget's
 * selectable fields.
 */
import { ApiError } from '../../../src/shared/status-errors';
import {
  exactFieldValue,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  WIDGET_SELECTABLE_FIELDS,
  widgetFields,
} from '../../../src/widget-server/api/selectors';
import type { Widget } from '../../../src/widget-server/api/types';

function thrown(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

describe('parseLabelSelector', () => {
  test('parses each operator into requirements', () => {
    expect(
      parseLabelSelector('a=1, b==2,c!=3, d in (x, y), e notin (z),f,!g, example.com/h').requirements,
    ).toEqual([
      { key: 'a', operator: '=', values: ['1'] },
      { key: 'b', operator: '=', values: ['2'] },
      { key: 'c', operator: '!=', values: ['3'] },
      { key: 'd', operator: 'in', values: ['x', 'y'] },
      { key: 'e', operator: 'notin', values: ['z'] },
      { key: 'f', operator: 'exists', values: [] },
      { key: 'g', operator: '!', values: [] },
      { key: 'example.com/h', operator: 'exists', values: [] },
    ]);
  });

  test('an empty selector matches everything', () => {
    const sel = parseLabelSelector('  ');
    expect(sel.empty).toBe(true);
    expect(matchesLabels(sel, undefined)).toBe(true);
    expect(matchesLabels(sel, { a: 'b' })).toBe(true);
  });

  test('an empty value is a valid label value', () => {
    const sel = parseLabelSelector('a=');
    expect(matchesLabels(sel, { a: '' })).toBe(true);
    expect(matchesLabels(sel, { a: 'x' })).toBe(false);
  });

  test.each([
    ['app in (', /unable to parse requirement/],
    ['app in ()', /values set can't be empty/],
    ['bad key=x', /unable to parse requirement/],
    ['-bad=x', /key: Invalid value: "-bad": name part must consist of alphanumeric characters/],
    ['a=b c', /unable to parse requirement/],
    ['a=-x-', /values\[0\]\[a\]: Invalid value: "-x-": a valid label must be an empty string/],
    ['a in (ok,-no-)', /values\[1\]\[a\]: Invalid value: "-no-"/],
    ['a=b,', /found '', expected: identifier/],
    [`${'k'.repeat(64)}=v`, /key: Invalid value/],
    [`a=${'v'.repeat(64)}`, /values\[0\]\[a\]: Invalid value/],
  ])('%s is a 400 BadRequest', (selector, message) => {
    const err = thrown(() => parseLabelSelector(selector));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toMatch(message);
  });
});

describe('matchesLabels', () => {
  const labels = { app: 'web', tier: 'front' };
  test.each([
    ['app=web', labels, true],
    ['app==web', labels, true],
    ['app=db', labels, false],
    ['app!=web', labels, false],
    ['app!=db', labels, true],
    ['missing!=x', labels, true],
    ['app in (web,db)', labels, true],
    ['app in (db)', labels, false],
    ['missing in (x)', labels, false],
    ['app notin (web)', labels, false],
    ['app notin (db)', labels, true],
    ['missing notin (x)', labels, true],
    ['tier', labels, true],
    ['missing', labels, false],
    ['!tier', labels, false],
    ['!missing', labels, true],
    ['app=web,tier in (back)', labels, false],
    ['app=web,tier in (front)', labels, true],
    ['app', undefined, false],
    ['!app', undefined, true],
    ['app!=web', undefined, true],
  ])('%s against %j is %s', (selector, l, expected) => {
    expect(matchesLabels(parseLabelSelector(selector), l)).toBe(expected);
  });
});

describe('field selectors', () => {
  const w = {
    apiVersion: 'custom.example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w1', namespace: 'ns' },
    spec: { image: 'nginx' },
    status: { phase: 'Running' },
  } as Widget;

  test('the Widget exposes name, namespace and phase', () => {
    expect([...WIDGET_SELECTABLE_FIELDS]).toEqual(['metadata.name', 'metadata.namespace', 'status.phase']);
    expect(widgetFields(w)).toEqual({
      'metadata.name': 'w1',
      'metadata.namespace': 'ns',
      'status.phase': 'Running',
    });
    expect(widgetFields({ ...w, status: undefined })['status.phase']).toBe('');
  });

  test('=, == and != joined by commas', () => {
    const fields = widgetFields(w);
    const match = (s: string) => matchesFields(parseFieldSelector(s, WIDGET_SELECTABLE_FIELDS), fields);
    expect(match('metadata.name=w1')).toBe(true);
    expect(match('metadata.name==w1')).toBe(true);
    expect(match('metadata.name!=w1')).toBe(false);
    expect(match('metadata.name=w1,status.phase=Running')).toBe(true);
    expect(match('metadata.name=w1,status.phase!=Running')).toBe(false);
    expect(match('metadata.namespace=other')).toBe(false);
    expect(match('')).toBe(true);
  });

  test('exactFieldValue finds only an equality requirement', () => {
    const sel = parseFieldSelector('metadata.namespace!=x,metadata.name=w1', WIDGET_SELECTABLE_FIELDS);
    expect(exactFieldValue(sel, 'metadata.name')).toBe('w1');
    expect(exactFieldValue(sel, 'metadata.namespace')).toBeUndefined();
    expect(exactFieldValue(sel, 'status.phase')).toBeUndefined();
  });

  test('unsupported fields and bad syntax are 400s', () => {
    const unsupported = thrown(() => parseFieldSelector('spec.color=blue', WIDGET_SELECTABLE_FIELDS));
    expect(unsupported.code).toBe(400);
    expect(unsupported.message).toBe('field label not supported: spec.color');
    const syntax = thrown(() => parseFieldSelector('metadata.name', WIDGET_SELECTABLE_FIELDS));
    expect(syntax.code).toBe(400);
    expect(syntax.message).toBe("invalid selector: 'metadata.name'; can't understand 'metadata.name'");
  });
});
