/**
 * CEL for admission policies (src/widget-server/admission/cel/cel.ts): JSON as CEL values, the
 * Kubernetes extension functions implemented, compile errors, runtime errors as values.
 */
import { compile, toCel } from '../../../src/widget-server/admission/cel/cel';

const object = toCel({
  metadata: { name: 'w-1', labels: { env: 'prod' } },
  spec: { color: 'black', replicas: 3, ratio: 0.5, tags: ['b', 'a'], sizes: [1, 2, 3] },
});
const run = (expression: string) => compile(expression)({ object });

test('fields, has(), macros and the standard library over JSON objects', () => {
  expect(run("object.spec.color != 'black'")).toEqual({ value: false });
  expect(run('has(object.spec.color) && !has(object.spec.missing)')).toEqual({ value: true });
  // Whole numbers are ints, others doubles, as a structural schema's integer and number.
  expect(run('object.spec.replicas == 3 && object.spec.ratio == 0.5')).toEqual({ value: true });
  expect(run("object.spec.tags.exists(t, t == 'a') && object.spec.tags.all(t, t.size() == 1)")).toEqual({
    value: true,
  });
  expect(run("object.metadata.name.matches('^w-[0-9]+$')")).toEqual({ value: true });
  expect(run("'env=' + object.metadata.labels['env']")).toEqual({ value: 'env=prod' });
  expect(run('object.spec.sizes.map(x, x * 2)')).toEqual({ value: [2, 4, 6] });
});

test("Kubernetes' strings, lists and regex extensions", () => {
  expect(run("object.spec.color.upperAscii() + '-' + 'a,b'.split(',').join('+')")).toEqual({
    value: 'BLACK-a+b',
  });
  expect(run('object.spec.sizes.isSorted() && !object.spec.tags.isSorted()')).toEqual({ value: true });
  expect(run('object.spec.sizes.sum()')).toEqual({ value: 6 });
  expect(run('[object.spec.sizes.min(), object.spec.sizes.max()]')).toEqual({ value: [1, 3] });
  expect(run("[object.spec.tags.indexOf('a'), [1, 2, 1].lastIndexOf(1), [1].indexOf(5)]")).toEqual({
    value: [1, 2, -1],
  });
  expect(run("object.metadata.name.find('[0-9]+')")).toEqual({ value: '1' });
  expect(run("'a1b22c333'.findAll('[0-9]+')")).toEqual({ value: ['1', '22', '333'] });
  expect(run("'a1b22c333'.findAll('[0-9]+', 2)")).toEqual({ value: ['1', '22'] });
});

test('runtime errors are values; syntax errors and oversized expressions do not compile', () => {
  expect(run('object.spec.missing == 1').error).toMatch(/missing/);
  expect(run('[].min()').error).toMatch(/empty list/);
  expect(() => compile('object.spec.(')).toThrow(/compilation failed/);
  expect(() => compile('true && '.repeat(1000) + 'true')).toThrow(/longer than 5120/);
});
